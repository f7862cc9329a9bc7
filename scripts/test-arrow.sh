#!/usr/bin/env bash
# Arrow interop checked from pyarrow: the C Data / C Stream interface of libdrift.so
# (record batches and streams in, search results read back as a stream), then the
# drift CLI importing Parquet / Arrow IPC / .npy files that pyarrow and NumPy wrote.
# pyarrow and numpy are installed from PyPI into target/arrow-venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
sdk="$(scripts/install.sh target/c-sdk | tail -n1)"
venv=target/arrow-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pyarrow, numpy" 2>/dev/null; then
    echo "== installing pyarrow and numpy into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet pyarrow==26.0.1 numpy==2.4.6
fi
"$venv/bin/python" ffi/tests/test_arrow_pyarrow.py "$sdk/lib/libdrift.so"
# The tool as the tests built it (dev profile; no release build just for this).
cargo build --locked --features cli,unstable --bin drift
"$venv/bin/python" ffi/tests/test_cli_pyarrow_files.py target/debug/drift
