#!/usr/bin/env bash
# Runs every test of drift on a fresh machine: lint, unit, integration (crash,
# corruption, fault injection, concurrency, format document) and doc tests.
#
# Needs only what the machine ships: a stable Rust toolchain (>= 1.89) with clippy.
# Switches:
#   DRIFT_CRASH_CYCLES=N   kill -9 cycles of the crash test (default 50)
#
# Languages not yet covered here: the C/C++, Go and Java suites arrive with the C ABI.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Install a stable Rust toolchain (rustup.rs) and rerun." >&2
    exit 1
fi
echo "== toolchain: $(rustc --version)"

echo "== Rust: clippy (warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

echo "== Rust: unit, integration and doc tests"
cargo test --locked
