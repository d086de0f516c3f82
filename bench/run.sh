#!/usr/bin/env bash
# run.sh - `make bench`: builds the benchmarks (make benches) and runs
# bench_rules, the rule-engine micro-benchmarks on gen/ workloads
# (compile, footprint, eval per event at 100 to 10,000 rules, request
# parse, response build), printing Markdown tables with the targets.
# Arguments go to bench_rules (--quick, --sizes, --check, --help); then
# bench_cache, the L1 cache (gets per core, S3-FIFO vs LRU hit ratio,
# overhead per entry), with --quick/--check passed on.
# Record figures in docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" benches
echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
"$BUILD/bench/bench_rules" "$@"
cache_args=()
for a in "$@"; do case $a in --quick|--check) cache_args+=("$a") ;; esac; done
echo
"$BUILD/bench/bench_cache" "${cache_args[@]}"
