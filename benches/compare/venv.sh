#!/usr/bin/env bash
# The peers' Python environment of the comparison scripts (run.sh, filtered.sh):
# target/compare-venv with numpy, FAISS, hnswlib and usearch from PyPI, made once.
# Prints its python.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/compare-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import faiss, hnswlib, usearch, numpy" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet numpy==2.4.6 faiss-cpu==1.15.1 hnswlib==0.8.0 usearch==2.26.6 >&2
fi
echo "$venv/bin/python"
