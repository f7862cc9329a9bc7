#!/usr/bin/env bash
# Interleaved A/B runs of `recall_qps search`: on a shared, noisy machine one run of
# each build says little (±10% from run to run); medians over many alternating runs
# of the same database do. Prints, per variant, the recall and the median and best
# queries/s of every configuration, with the median's ratio to the first variant.
#
#   benches/compare/ab.sh [-n runs] [-p configs] [-r rerank] <dataset-dir> <db-dir> name=command ...
#
# Each `name=command` is a shell command prefix that runs a recall_qps binary: a copy
# of `target/release/examples/recall_qps` built from the code under test, optionally
# with environment assignments, e.g.
#
#   cp target/release/examples/recall_qps /tmp/before   # ... change, rebuild ...
#   benches/compare/ab.sh -n 12 ../shared/datasets/minilm-debian-59k target/compare-db \
#       before=/tmp/before after=target/release/examples/recall_qps
#
# A variant whose command prints nothing is listed as "no results" (the others still
# run) and the script exits 1.
#
# Every variant searches the same database, so a variant that changes the file format
# needs its own (compare those with separate `recall_qps build` runs instead).
set -euo pipefail

usage() {
  echo "usage: $0 [-n runs] [-p configs] [-r rerank] <dataset-dir> <db-dir> name=command ..." >&2
  exit 2
}

runs=8
configs="120/42,300/145"
rerank=6
while getopts "n:p:r:" opt; do
  case "$opt" in
    n) runs=$OPTARG ;;
    p) configs=$OPTARG ;;
    r) rerank=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || usage
dataset=$1
db=$2
shift 2

for ((i = 0; i < runs; i++)); do
  for spec in "$@"; do
    name=${spec%%=*}
    command=${spec#*=}
    # One line per configuration: name, nprobe/patience, recall, queries/s.
    RAYON_NUM_THREADS=1 eval "$command search \"$dataset\" \"$db\" $configs $rerank" 2>/dev/null |
      python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("phase") == "search":
        print(sys.argv[1], "%s/%s" % (r["nprobe"], r["patience"]), r["recall"], r["qps"])
' "$name" || true # a failing variant is reported below; the others still run
  done
done | python3 -c '
import statistics, sys
names = [spec.split("=", 1)[0] for spec in sys.argv[1:]]
runs = {}
for line in sys.stdin:
    name, config, recall, qps = line.split()
    runs.setdefault(name, {}).setdefault(config, (float(recall), []))[1].append(float(qps))
# A variant whose command printed nothing (a wrong path, a database it cannot open).
missing = [name for name in names if name not in runs]
for name in missing:
    print(f"{name:12s} no results: run its command by hand to see why")
first = None
for name, by_config in runs.items():
    first = first or by_config
    cells = []
    for config, (recall, qps) in by_config.items():
        median = statistics.median(qps)
        base = statistics.median(first[config][1]) if config in first else median
        cells.append(f"{config}: recall {recall:.4f} median {median:,.0f} q/s (x{median / base:.3f}) best {max(qps):,.0f}")
    runs_done = len(next(iter(by_config.values()))[1])
    print(f"{name:12s} " + "; ".join(cells) + f"  [{runs_done} runs]")
sys.exit(1 if missing else 0)
' "$@"
