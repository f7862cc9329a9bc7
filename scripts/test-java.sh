#!/usr/bin/env bash
# The Java binding's JUnit 5 tests (Maven), on a JDK >= 22 (the FFM API is final there).
set -euo pipefail
cd "$(dirname "$0")/.."

jdk_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'; }
find_jdk() {
    local candidate
    for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/* /opt/java/* /opt/*jdk*; do
        [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
        if [ "$(jdk_major "$candidate")" -ge 22 ] 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}
if ! jdk="$(find_jdk)"; then
    echo "error: the Java binding needs a JDK 22 or newer (FFM API); none found in JAVA_HOME or /usr/lib/jvm" >&2
    exit 1
fi
if [ "${1:-}" = "--print-jdk" ]; then
    echo "$jdk"
    exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
    echo "error: mvn not found; install Maven to run the Java binding's tests" >&2
    exit 1
fi
sdk="$(scripts/install.sh target/c-sdk | tail -n1)"
echo "== Java: JDK $(jdk_major "$jdk") at $jdk"
# The tests find libdrift.so.0 the way a user's program does: on java.library.path.
JAVA_HOME="$jdk" mvn -B --no-transfer-progress -f bindings/java/pom.xml -Ddrift.library.path="$sdk/lib" test
