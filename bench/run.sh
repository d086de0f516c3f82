#!/usr/bin/env bash
# run.sh - `make bench`: builds and runs the engine micro-benchmarks
# (bench_engine: compile, footprint, evaluation per event at 100 to
# 10,000 generated rules, request parse, response build). Figures are
# medians of several runs; record them in docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/bench/bench_engine"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r)"
"$BUILD/bench/bench_engine" "$@"
