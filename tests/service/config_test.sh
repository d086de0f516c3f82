#!/usr/bin/env bash
# config_test.sh - riskd's start-up configuration: --help lists every
# RISKD_* setting with its default, invalid values stop riskd with exit 2
# and a message naming the setting, flags win over the environment, a
# missing store is exit 1, HTTP loops are pinned to CPUs as
# RISKD_PIN_LOOPS says. Neighbours: lib.sh, server_test.sh.
. "$(dirname "$0")/lib.sh"

out=$("$RISKD" --help)
check "--help exit 0" 0 $?
for v in RISKD_LISTEN RISKD_DB RISKD_THREADS RISKD_REGIONS RISKD_REGION \
	RISKD_DEADLINE_MS RISKD_MAX_DEADLINE_MS RISKD_MAX_BODY RISKD_QUEUE \
	RISKD_L1_ENTRIES RISKD_L1_BYTES RISKD_L1_TTL_MS RISKD_RELOAD_MS \
	RISKD_DECISION_LOG RISKD_LOG_LEVEL RISKD_HEALTH_INTERVAL_MS \
	RISKD_HEALTH_TIMEOUT_MS RISKD_FAIL_THRESHOLD RISKD_RECOVER_THRESHOLD \
	RISKD_FAILBACK_MIN_MS RISKD_PIN_LOOPS; do
	flag=--$(echo "${v#RISKD_}" | tr 'A-Z_' 'a-z-')
	check "--help lists $v as $flag" 1 \
		"$(echo "$out" | grep -E -- "^  $flag +$v " >/dev/null && echo 1)"
done
check "--help shows defaults" 1 "$(echo "$out" | grep -q "default '127.0.0.1:8080'" && echo 1)"

bad() {  # bad NAME EXPECTED-IN-MESSAGE riskd-args...
	local name=$1 want=$2
	shift 2
	local msg
	msg=$("$@" 2>&1 >/dev/null)
	local rc=$?
	check "$name: exit 2" 2 "$rc"
	check "$name: message" 1 "$(echo "$msg" | grep -q -- "$want" && echo 1)"
}
bad "threads not a number" "RISKD_THREADS" env RISKD_THREADS=abc "$RISKD"
bad "flag threads" "--threads" "$RISKD" --threads=-1
bad "max body too small" "--max-body" "$RISKD" --max-body 10
bad "max body suffix" "--max-body" "$RISKD" --max-body 5q
bad "listen" "RISKD_LISTEN" "$RISKD" --listen nothere
bad "listen port" "RISKD_LISTEN" "$RISKD" --listen 127.0.0.1:70000
bad "log level" "--log-level" "$RISKD" --log-level loud
bad "deadline over max" "RISKD_MAX_DEADLINE_MS" "$RISKD" --deadline-ms 500 --max-deadline-ms 100
bad "regions" "RISKD_REGIONS" "$RISKD" --regions a=host
bad "region not in regions" "RISKD_REGION" "$RISKD" --regions a=h:1,b=h:2 --region c
bad "unknown flag" "unknown argument" "$RISKD" --frobnicate 1
bad "missing value" "missing value" "$RISKD" --queue
bad "queue zero" "RISKD_QUEUE" env RISKD_QUEUE=0 "$RISKD"

msg=$("$RISKD" --db "$TMP/none.db" 2>&1)
check "missing store: exit 1" 1 $?
check "missing store: says riskctl init" 1 "$(echo "$msg" | grep -q "riskctl init" && echo 1)"

# Flags win over the environment; sizes take suffixes.
init_store
PORT=$(free_port)
env RISKD_LISTEN=127.0.0.1:1 RISKD_MAX_BODY=1k "$RISKD" --listen 127.0.0.1:$PORT --max-body 2k \
	2>"$TMP/riskd.err" &
RISKD_PID=$!
BASE=http://127.0.0.1:$PORT
for i in $(seq 1 100); do curl -s -o /dev/null "$BASE/livez" && break; sleep 0.05; done
req GET /livez
check "flag --listen wins over RISKD_LISTEN" 200 "$STATUS"
python3 -c 'print("{\"scenario\":\"payments\",\"event\":{\"p\":\"" + "x"*1500 + "\"}}")' >"$TMP/b.json"
req POST /v1/score -H 'Content-Type: application/json' --data-binary @"$TMP/b.json"
check "--max-body 2k admits 1.5 KB" 200 "$STATUS"
python3 -c 'print("{\"scenario\":\"payments\",\"event\":{\"p\":\"" + "x"*2100 + "\"}}")' >"$TMP/b.json"
req POST /v1/score -H 'Content-Type: application/json' --data-binary @"$TMP/b.json"
check "--max-body 2k refuses 2.1 KB" 413 "$STATUS"
stop_riskd
check "exit 0" 0 "$RISKD_RC"

# RISKD_PIN_LOOPS: each HTTP loop keeps to its own CPU of the process's
# CPU set when there are no more loops than CPUs; otherwise, or with 0,
# the loops may run on every CPU of the set.
loop_cpus() {  # the riskd-loop threads' CPU lists, one per line, sorted
	local t
	for t in /proc/"$RISKD_PID"/task/*; do
		[[ $(cat "$t/comm") == riskd-loop* ]] &&
			taskset -pc "${t##*/}" | awk '{print $NF}'
	done | sort
}
all=$(taskset -pc $$ | awk '{print $NF}')
ncpu=$(nproc)
start_riskd
want=$(python3 -c "import os; print(*sorted(os.sched_getaffinity(0)), sep='\\n')")
check "pinned: one loop per CPU, each on its own" "$want" "$(loop_cpus)"
check "pinned: logged" 1 "$(grep -q '"msg":"HTTP loops pinned"' "$TMP/riskd.err" && echo 1)"
stop_riskd
start_riskd RISKD_PIN_LOOPS=0
check "RISKD_PIN_LOOPS=0: loops on every CPU" \
	"$(for _ in $(seq 1 "$ncpu"); do echo "$all"; done)" "$(loop_cpus)"
stop_riskd
start_riskd RISKD_HTTP_THREADS=$((ncpu + 1))
check "more loops than CPUs: not pinned" \
	"$(for _ in $(seq 1 $((ncpu + 1))); do echo "$all"; done)" "$(loop_cpus)"
stop_riskd
last=$(echo "$want" | tail -1)
RISKD_WRAPPER="taskset -c $last ${RISKD_WRAPPER:-}" start_riskd
check "taskset -c $last: one loop, on CPU $last" "$last" "$(loop_cpus)"
post /v1/score '{"scenario":"payments","event":{"amount":20}}'
check "taskset: scores" 200 "$STATUS"
stop_riskd
check "taskset: exit 0" 0 "$RISKD_RC"
finish
