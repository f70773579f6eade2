#!/usr/bin/env bash
# Runs the benchmark suites (not part of the test pass) and prints a summary.
# Extra arguments go to pytest, e.g. scripts/bench.sh benches/bench_wal.py
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
args=("$@")
((${#args[@]})) || args=(benches)
exec python3 -m pytest -p no:cacheprovider --benchmark-columns=median,ops,rounds \
  --benchmark-sort=name "${args[@]}"
