#!/usr/bin/env bash
# loadtest/ab.sh - before/after latency of two riskd binaries in one run
# (`make loadtest-ab BEFORE=/path/to/old/riskd`). Both serve the same
# generated rule set against the same seeded redis-server; each round
# starts one, warms it up, measures saturation (closed loop) and then an
# open loop at RATE, and stops it; the binaries alternate, so drift of a
# shared, noisy machine hits both alike. Prints one line per run and the
# medians per binary.
#
# BEFORE (required), AFTER (build/riskd), RATE (0 = half the first
# saturation measured), DURATION (10 s), ROUNDS (3), RULES (3000),
# ENTITIES (100000), HISTORY (5000, as run.sh), L1_ENTRIES (6000),
# CONNECTIONS (32), REDIS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
: "${BEFORE:?BEFORE=/path/to/the/other/riskd}"
AFTER=${AFTER:-$BUILD/riskd}
RATE=${RATE:-0} DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3}
RULES=${RULES:-3000} ENTITIES=${ENTITIES:-100000}
L1_ENTRIES=${L1_ENTRIES:-6000} CONNECTIONS=${CONNECTIONS:-32} REDIS=${REDIS:-1}
HISTORY=${HISTORY:-5000}
scripts/deps.sh
make -s BUILD="$BUILD" all
T=$(mktemp -d)
PID= RPID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null
	wait 2>/dev/null; rm -rf "$T"
}
trap cleanup EXIT
. loadtest/setup.sh
setup_store
setup_redis "$T/redis.log" >"$T/seed.out"
LOAD=("$BUILD/riskload" -c "$CONNECTIONS" -t 1)
run() {  # run NAME BINARY
	local port url sat
	port=$(free_port)
	RISKD_DECISION_LOG= RISKD_REGIONS=$REGIONS RISKD_L1_ENTRIES=$L1_ENTRIES \
		RISKD_LOG_LEVEL=warn "$2" --listen "127.0.0.1:$port" 2>>"$T/riskd.log" &
	PID=$!
	for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
	url=http://127.0.0.1:$port/v1/score
	"${LOAD[@]}" -u "$url" -r 0 -d 5 --json "$T/sat.json" >/dev/null || true
	sat=$(python3 -c "import json; print(int(json.load(open('$T/sat.json'))['rate']))")
	[ "$RATE" = 0 ] && RATE=$((sat / 2))
	sleep 2   # the saturation run's backlog (recordings) drains
	"${LOAD[@]}" -u "$url" -r "$RATE" -d 3 >/dev/null || true
	"${LOAD[@]}" -u "$url" -r "$RATE" -d "$DURATION" --json "$T/run.json" >/dev/null || true
	python3 - "$1" "$sat" "$T/run.json" <<'PY' | tee -a "$T/lines"
import json, sys
r = json.load(open(sys.argv[3])); l = r["latency_us"]
print("%-7s saturation %6s req/s | open loop %6d req/s: p50 %6d us  p99 %6d us  p99.9 %6d us  failed %d"
      % (sys.argv[1], sys.argv[2], r["rate"], l["p50"], l["p99"], l["p999"], r.get("errors", 0)))
PY
	kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
}
echo "== $ROUNDS rounds, $RULES rules, REDIS=$REDIS, $DURATION s open loop each; before: $BEFORE, after: $AFTER"
for _ in $(seq 1 "$ROUNDS"); do
	run before "$BEFORE"
	run after "$AFTER"
done
python3 - "$T/lines" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name = line.split()[0]
    nums = [int(x) for x in re.findall(r"(\d+) (?:req/s|us)", line)]
    runs.setdefault(name, []).append(nums)
print("== medians")
for name, rs in runs.items():
    sat, rate, p50, p99, p999 = (statistics.median(c) for c in zip(*rs))
    print("%-7s saturation %6d req/s | at %d req/s: p50 %d us  p99 %d us  p99.9 %d us"
          % (name, sat, rate, p50, p99, p999))
PY
