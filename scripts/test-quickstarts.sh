#!/usr/bin/env bash
# The README's quick starts, extracted from README.md (each block after a
# `<!-- quickstart: NAME -->` line) and run as a new user would — twice, in a fresh
# directory, each run's output compared with the first: a quick start that fails, or
# that cannot run a second time on the database it left, fails this script.
#   Rust: compiled with rustc against the drift crate built here;
#   C: `cc NAME $(pkg-config --cflags --libs drift)` against the SDK of scripts/install.sh;
#   Go: a module with the README's `replace` line, `go run .`;
#   Java: `java -cp drift-0.1.0.jar Quickstart.java` on a JDK 22+.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
work="$repo/target/quickstarts"
rm -rf "$work"
mkdir -p "$work"
python3 - "$work" <<'EOF'
import re, sys, pathlib
work = pathlib.Path(sys.argv[1])
text = pathlib.Path("README.md").read_text()
found = re.findall(r"<!-- quickstart: (\S+) -->\n```[^\n]*\n(.*?)\n```", text, re.S)
for name, body in found:
    (work / name).write_text(body + "\n")
names = sorted(n for n, _ in found)
if names != sorted(["main.rs", "quickstart.c", "main.go", "Quickstart.java"]):
    sys.exit(f"README.md quick starts found: {names}")
EOF

passed=0
failed=0
# run LABEL DIR COMMAND...: runs COMMAND twice in a fresh DIR; both must succeed and
# print the same thing.
run() {
    local label="$1" dir="$2"
    shift 2
    rm -rf "$dir/quickstart-db"
    local first second
    if first="$(cd "$dir" && "$@" 2>&1)" && second="$(cd "$dir" && "$@" 2>&1)" && [ "$first" = "$second" ]; then
        echo "== quick start ($label), output of each of two runs:"
        echo "$first" | sed 's/^/   /'
        passed=$((passed + 1))
    else
        echo "== quick start ($label) FAILED; first run:" >&2
        echo "$first" | sed 's/^/   /' >&2
        echo "   second run:" >&2
        echo "${second:-}" | sed 's/^/   /' >&2
        failed=$((failed + 1))
    fi
}

# Rust: the crate as built for the tests (same features, so nothing is rebuilt).
cargo build --locked --lib --features cli,unstable --message-format=json-render-diagnostics > "$work/cargo.json"
mapfile -t rustc_args < <(python3 - "$work/cargo.json" <<'EOF'
import json, sys
rlib, native = None, []
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "drift" and "rlib" in m["target"]["kind"]:
        rlib = next(f for f in m["filenames"] if f.endswith(".rlib"))
    if m.get("reason") == "build-script-executed":
        native += m.get("linked_paths", [])
print(f"--extern=drift={rlib}")
for p in dict.fromkeys(native):
    print(f"-L{p}")
EOF
)
mkdir -p "$work/rust"
rustc --edition 2024 -C opt-level=1 "$work/main.rs" -o "$work/rust/quickstart" -L dependency=target/debug/deps "${rustc_args[@]}"
run Rust "$work/rust" ./quickstart

# C, against the installed SDK through pkg-config.
sdk="$(scripts/install.sh target/c-sdk | tail -n1)"
export PKG_CONFIG_PATH="$sdk/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
mkdir -p "$work/c"
# shellcheck disable=SC2046
cc "$work/quickstart.c" $(pkg-config --cflags --libs drift) -o "$work/c/quickstart"
run C "$work/c" ./quickstart

# Go: a module of its own, pointing at the binding with a replace directive.
mkdir -p "$work/go"
mv "$work/main.go" "$work/go/"
cat > "$work/go/go.mod" <<EOF
module quickstart

go 1.21

require github.com/drift-vector/drift/bindings/go v0.0.0

replace github.com/drift-vector/drift/bindings/go => $repo/bindings/go
EOF
run Go "$work/go" env GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=1 go run .

# Java: the binding's jar, the source file launched directly.
jdk="$(scripts/test-java.sh --print-jdk)"
JAVA_HOME="$jdk" mvn -B -q --no-transfer-progress -f bindings/java/pom.xml package -DskipTests
mkdir -p "$work/java"
mv "$work/Quickstart.java" "$work/java/"
run Java "$work/java" "$jdk/bin/java" --enable-native-access=ALL-UNNAMED -Djava.library.path="$sdk/lib" \
    -cp "$repo/bindings/java/target/drift-0.1.0.jar" Quickstart.java

echo "quickstarts: $passed passed, $failed failed"
[ "$failed" = 0 ]
