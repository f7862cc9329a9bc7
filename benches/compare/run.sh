#!/usr/bin/env bash
# Side-by-side comparison: drift vs FAISS (HNSW32, IVF1000,SQ8), hnswlib (M=16) and
# usearch on one dataset, in one run on this machine, single thread.
#
#   benches/compare/run.sh [dataset-dir]     (default ../shared/datasets/minilm-debian-59k)
#
# Installs the peers from PyPI into target/compare-venv (once), builds drift's harness
# (examples/recall_qps.rs) in release, then prints one table and the target ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
dataset="${1:-../shared/datasets/minilm-debian-59k}"
if [ ! -f "$dataset/base.fvecs" ]; then
    echo "dataset not found at $dataset: pass the directory holding base.fvecs, query.fvecs and gt_l2_top100.ivecs" >&2
    exit 2
fi
python="$(benches/compare/venv.sh)"
cargo build --release --quiet --example recall_qps
export OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1   # one thread for every system, drift included
"$python" benches/compare/compare.py --dataset "$dataset" --drift target/release/examples/recall_qps "${@:2}"
