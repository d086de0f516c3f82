#!/usr/bin/env bash
# failover_test.sh - dual-region failover under load (SPEC §7): riskd
# with regions a (home) and b, a client scoring continuously (riskload,
# open loop; any non-2xx or connection error fails it). Redis a is
# killed (SIGKILL): the switch to b must come within 1 s and no request
# may fail; a is restarted: riskd returns home only after the recover
# threshold and RISKD_FAILBACK_MIN_MS, once (no flapping); then a hangs
# (SIGSTOP): b again, still no failed request.
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { fail "redis-server not installed"; finish; }
: "${RISKLOAD:=$ROOT/$BUILD/riskload}"

active() { curl -s "$BASE/v1/regions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["active"])' 2>/dev/null; }
failovers() { curl -s "$BASE/v1/regions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["failovers"])' 2>/dev/null; }
now_ms() { date +%s%3N; }
# wait_active NAME LIMIT_MS : polls every 20 ms; echoes the ms it took
wait_active() {
	local t0 t
	t0=$(now_ms)
	while :; do
		[ "$(active)" = "$1" ] && { echo $(($(now_ms) - t0)); return 0; }
		t=$(($(now_ms) - t0))
		[ "$t" -gt "$2" ] && { echo "timeout"; return 1; }
		sleep 0.02
	done
}

init_store
start_redis A
start_redis B
PA=$A_PORT PB=$B_PORT
start_riskd RISKD_REGIONS="a=127.0.0.1:$PA,b=127.0.0.1:$PB" RISKD_REGION=a \
	RISKD_FAILBACK_MIN_MS=1500 RISKD_DECISION_LOG= RISKD_DEADLINE_MS=200
check "home region active at start" a "$(active)"

"$RISKLOAD" -u "$BASE/v1/score" -r 300 -d 14 -c 8 -t 1 --json "$TMP/load.json" \
	>"$TMP/load.out" 2>&1 &
LOAD=$!
PIDS+=($LOAD)
sleep 2

kill -9 "$A_PID"
T=$(wait_active b 3000)
echo "switch after SIGKILL: $T ms"
check "switched to b after the kill" 0 "$?"
[ "$T" != timeout ] && [ "$T" -le 1000 ] && ok=1 || ok=0
check "switch within 1 s of the kill ($T ms)" 1 "$ok"

sleep 1
start_redis A "$PA"
T=$(wait_active a 6000)
echo "return home after restart: $T ms"
check "returned home" 0 "$?"
[ "$T" != timeout ] && [ "$T" -ge 1400 ] && ok=1 || ok=0
check "not before RISKD_FAILBACK_MIN_MS ($T ms)" 1 "$ok"
check "two switches so far (no flapping)" 2 "$(failovers)"

sleep 0.5
kill -STOP "$A_PID"
T=$(wait_active b 3000)
echo "switch after SIGSTOP: $T ms"
check "switched to b while a hangs" 0 "$?"
sleep 1
kill -CONT "$A_PID"

wait "$LOAD"
RC=$?
cat "$TMP/load.out"
check "riskload: every request answered 2xx" 0 "$RC"
check "no errors in the report" 0 "$(j 'd["errors"]' "$(cat "$TMP/load.json")")"
check "no non-200 status" '["200"]' "$(j 'sorted(d["status"].keys())' "$(cat "$TMP/load.json")")"
grep -q '"msg":"redis region"' "$TMP/riskd.err"
check "transitions logged" 0 "$?"
stop_riskd
check "exit 0" 0 "$RISKD_RC"
finish
