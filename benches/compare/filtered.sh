#!/usr/bin/env bash
# Filtered search, side by side (benches/compare/filtered.py): drift at its defaults
# against FAISS (HNSW32 and IVF1000,SQ8 with an IDSelectorBitmap) and hnswlib (Python
# filter callback) on the six filter workloads of the MiniLM dev set, one thread.
#
#   benches/compare/filtered.sh [dataset-dir]   (default ../shared/datasets/minilm-debian-59k)
set -euo pipefail
cd "$(dirname "$0")/../.."
dataset="${1:-../shared/datasets/minilm-debian-59k}"
if [ ! -f "$dataset/filters.tsv" ]; then
    echo "dataset with filter workloads not found at $dataset (needs attributes.tsv, filters.tsv, gt_filter_*.ivecs)" >&2
    exit 2
fi
python="$(benches/compare/venv.sh)"
cargo build --release --quiet --example recall_qps
export OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1
"$python" benches/compare/filtered.py --dataset "$dataset" --drift target/release/examples/recall_qps "${@:2}"
