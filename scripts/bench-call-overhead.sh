#!/usr/bin/env bash
# Per-call overhead of one search through Rust, C, Go and Java on the same collection
# (1,000 vectors of dimension 16, k = 10), run one after another on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
searches="${1:-50000}"
db="$(pwd)/target/call-overhead-db"
rm -rf "$db"
sdk="$(scripts/install.sh target/c-sdk | tail -n1)"
export LD_LIBRARY_PATH="$sdk/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PKG_CONFIG_PATH="$sdk/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
cargo build --release --locked --example call_overhead -q
target/release/examples/call_overhead create "$db"
target/release/examples/call_overhead bench "$db" "$searches"
gcc -O2 -I"$sdk/include" ffi/bench/call_overhead.c -L"$sdk/lib" -ldrift -o target/call_overhead_c
target/call_overhead_c "$db" "$searches"
(cd bindings/go && GOTOOLCHAIN=local DRIFT_BENCH_DB="$db" go test -run '^$' -bench SearchCallOverhead -benchtime "${searches}x" . | grep -E "^Benchmark")
jdk="$(scripts/test-java.sh --print-jdk)"
JAVA_HOME="$jdk" mvn -B -q --no-transfer-progress -f bindings/java/pom.xml test-compile
"$jdk/bin/java" --enable-native-access=ALL-UNNAMED -Ddrift.library="$sdk/lib/libdrift.so" \
    -cp bindings/java/target/classes:bindings/java/target/test-classes dev.drift.CallOverhead "$db" "$searches"
