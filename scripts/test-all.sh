#!/usr/bin/env bash
# Runs every test of drift on a fresh machine: Rust lint, unit, integration (crash,
# corruption, fault injection, concurrency, format document) and doc tests, then the
# C/C++, Go and Java tests of the C ABI, and the README's quick starts.
#
# Needs what the project's machines ship: a stable Rust toolchain (>= 1.89) with
# clippy, gcc/g++ with AddressSanitizer, cmake and pkg-config, Go >= 1.21, a JDK >= 22
# and Maven (Maven downloads JUnit from Maven Central on first use), and Python 3 with
# pip (moto's S3 server and pyarrow are installed from PyPI into target/s3-venv and
# target/arrow-venv on first use).
# Switches:
#   DRIFT_CRASH_CYCLES=N   kill -9 cycles of the crash test (default 50)
#   DRIFT_POWER_LOSS_IMAGES=N|all  power-loss images opened (default 2000; all: a larger
#                          workload, every crash point, over 10,000 distinct images)
#   DRIFT_POWER_LOSS_SEED=N  the power-loss workload's random operation sequence (default 11)
#   DRIFT_S3_RACE_ROUNDS=N takeover rounds of the S3 fencing race test (default 5;
#                          DRIFT_S3_RACE_SEED=N picks the order)
#   DRIFT_FUZZ_SECONDS=N   seconds of mutation fuzzing per decoder (default 2);
#   DRIFT_FUZZ_EXECS=N     or N mutated inputs per decoder (10000000 for the long run)
#   DRIFT_SOAK_SECONDS=N   soak with kill -9 against a model (default 60; long run 1800)
#   DRIFT_SKIP_BINDINGS=1  run the Rust tests only
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage is announced with the seconds elapsed since the start.
stage() { echo "== [${SECONDS}s] $*"; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Install a stable Rust toolchain (rustup.rs) and rerun." >&2
    exit 1
fi
stage "toolchain: $(rustc --version)"

stage "Rust: clippy (warnings are errors), every target, then the library as users build it"
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --lib --locked -- -D warnings

stage "Rust: API docs build without broken links (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet

stage "S3: starting a local S3-compatible server (moto) for the S3 tier tests"
eval "$(scripts/s3-server.sh start)"
trap 'scripts/s3-server.sh stop' EXIT

stage "Rust: unit, integration and doc tests"
cargo test --locked

# The C, Go, Java and quick-start tests link the SDK laid out by scripts/install.sh
# from the library the Rust tests built (DRIFT_SDK_PROFILE=dev); `scripts/install.sh`
# alone builds the release SDK.
export DRIFT_SDK_PROFILE="${DRIFT_SDK_PROFILE:-dev}"
if [ "${DRIFT_SKIP_BINDINGS:-0}" = 1 ]; then
    echo "== bindings skipped (DRIFT_SKIP_BINDINGS=1)"
    exit 0
fi
stage "C and C++ (ASan/UBSan), CMake example"
scripts/test-c.sh
stage "Arrow C Data / C Stream interface, read from pyarrow"
scripts/test-arrow.sh
stage "Go binding"
scripts/test-go.sh
stage "Java binding"
scripts/test-java.sh
stage "the README's quick starts (Rust, C, Go, Java), each run twice as pasted"
scripts/test-quickstarts.sh
