#!/usr/bin/env bash
# http.sh - `make bench-http`: riskd's requests/s beside a trivial
# libmicrohttpd responder (bench/trivial_responder.c: reads the body,
# answers fixed JSON; same compiler flags), all measured with wrk in one
# run, closed loop, interleaved rounds, median per server. riskd serves
# the sample scenario (schemas/examples/payments.json) and a generated
# RULES-rule set (riskload --print-rules); the bodies are the generated
# payment workload (riskload --print-events). Any non-2xx answer fails.
# Parameters: ROUNDS (3), DURATION (5 s), CONNS (32), RULES (3000),
# TRIVIAL_THREADS (the responder's MHD threads, 2 = one per core here),
# BEFORE (another riskd binary, measured on the generated rules too: a
# before/after comparison in one run).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} CONNS=${CONNS:-32}
RULES=${RULES:-3000} TRIVIAL_THREADS=${TRIVIAL_THREADS:-2}
scripts/deps.sh
make -s BUILD="$BUILD" all benches
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }

"$BUILD/riskload" --print-events 2000 >"$T/events.ndjson"
cat >"$T/post.lua" <<'LUA'
local bodies, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])
end
LUA

store() {  # store DIR RULESFILE
	mkdir -p "$1"
	RISKD_DB=$1/riskd.db "$BUILD/riskctl" init >/dev/null
	RISKD_DB=$1/riskd.db "$BUILD/riskctl" import "$2" --activate >/dev/null
}
store "$T/sample" schemas/examples/payments.json
"$BUILD/riskload" --print-rules "$RULES" >"$T/rules.json"
store "$T/gen" "$T/rules.json"

P_TRIV=$(port); "$BUILD/bench/trivial_responder" "$P_TRIV" "$TRIVIAL_THREADS" >/dev/null 2>&1 & PIDS+=($!)
P_SAMP=$(port); RISKD_DB=$T/sample/riskd.db RISKD_DECISION_LOG= RISKD_LOG_LEVEL=warn \
	"$BUILD/riskd" --listen "127.0.0.1:$P_SAMP" 2>"$T/sample.log" & PIDS+=($!)
P_GEN=$(port); RISKD_DB=$T/gen/riskd.db RISKD_DECISION_LOG= RISKD_LOG_LEVEL=warn \
	"$BUILD/riskd" --listen "127.0.0.1:$P_GEN" 2>"$T/gen.log" & PIDS+=($!)
if [ -n "${BEFORE:-}" ]; then
	P_BEF=$(port); RISKD_DB=$T/gen/riskd.db RISKD_DECISION_LOG= RISKD_LOG_LEVEL=warn \
		"$BEFORE" --listen "127.0.0.1:$P_BEF" 2>"$T/before.log" & PIDS+=($!)
	wait_up "http://127.0.0.1:$P_BEF/livez"
fi
wait_up "http://127.0.0.1:$P_TRIV/"
wait_up "http://127.0.0.1:$P_SAMP/livez"
wait_up "http://127.0.0.1:$P_GEN/livez"

declare -A URL=([trivial]="http://127.0.0.1:$P_TRIV/v1/score"
		[sample]="http://127.0.0.1:$P_SAMP/v1/score"
		[rules$RULES]="http://127.0.0.1:$P_GEN/v1/score")
NAMES=(trivial sample "rules$RULES")
if [ -n "${BEFORE:-}" ]; then
	URL[before$RULES]="http://127.0.0.1:$P_BEF/v1/score"
	NAMES+=("before$RULES")
fi
declare -A RES
one() {  # one NAME SECONDS -> req/s
	local out
	out=$(wrk -t1 -c"$CONNS" -d"${2}s" -s "$T/post.lua" "${URL[$1]}" -- "$T/events.ndjson")
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
		echo "$1: failed requests:" >&2; echo "$out" >&2; return 1
	fi
	awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out"
}
for n in "${NAMES[@]}"; do one "$n" 1 >/dev/null; done   # warm-up
echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg): wrk -t1 -c$CONNS -d${DURATION}s, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
	for n in "${NAMES[@]}"; do
		v=$(one "$n" "$DURATION")
		RES[$n]="${RES[$n]:-} $v"
		echo "round $r  $n  $v req/s"
	done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
TRIV=$(median "${RES[trivial]}")
echo
echo "| server | req/s (median of $ROUNDS) | vs trivial |"
echo "|---|---|---|"
for n in "${NAMES[@]}"; do
	m=$(median "${RES[$n]}")
	echo "| $n | $m | $(awk -v a="$m" -v b="$TRIV" 'BEGIN {printf "%.0f %%", 100 * a / b}') |"
done
