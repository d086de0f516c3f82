#!/usr/bin/env bash
# config_test.sh - riskd's start-up configuration: --help lists every
# RISKD_* setting with its default, invalid values stop riskd with exit 2
# and a message naming the setting, flags win over the environment, a
# missing store is exit 1, HTTP loops are pinned to CPUs as
# RISKD_PIN_LOOPS says, a cgroup CPU quota sizes the thread counts.
# Neighbours: lib.sh, server_test.sh.
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
# CPU set when there are no more loops than CPUs and no CPU quota;
# otherwise, or with 0, the loops may run on every CPU of the set.
loop_cpus() {  # the riskd-loop threads' CPU lists, one per line, sorted
	local t
	for t in /proc/"$RISKD_PID"/task/*; do
		[[ $(cat "$t/comm") == riskd-loop* ]] &&
			taskset -pc "${t##*/}" | awk '{print $NF}'
	done | sort -n
}
err_since=0
new_log() { tail -n +$((err_since + 1)) "$TMP/riskd.err"; }  # this start's lines
start_fresh() { err_since=$(cat "$TMP/riskd.err" 2>/dev/null | wc -l); start_riskd "$@"; }
all=$(taskset -pc $$ | awk '{print $NF}')
ncpu=$(nproc)
start_fresh
want=$(python3 -c "import os; print(*sorted(os.sched_getaffinity(0)), sep='\\n')")
if new_log | grep -q '"msg":"HTTP loops not pinned: a cgroup CPU quota"'; then
	# this test itself runs under a CPU quota (a container with --cpus)
	echo "SKIP pinned checks: riskd runs under a cgroup CPU quota here"
else
	check "pinned: one loop per CPU, each on its own" "$want" "$(loop_cpus)"
	check "pinned: logged" 1 "$(new_log | grep -q '"msg":"HTTP loops pinned"' && echo 1)"
fi
stop_riskd
start_riskd RISKD_PIN_LOOPS=0
# (every loop on every CPU; their number follows a quota, if any)
check "RISKD_PIN_LOOPS=0: loops on every CPU" "$all" "$(loop_cpus | sort -u)"
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

# A cgroup CPU quota of one CPU (as `docker run --cpus 1` sets) on this
# machine's CPUs: riskd sizes itself by the quota - one loop, one worker -
# and leaves the loop unpinned. Needs a writable cgroup hierarchy (root,
# as on the CI machine: v1 cpu controller or v2 with cpu enabled); else
# the section says SKIP (the parsing is covered by tests/common/test_cpu.c).
CG=
if [ -w /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
	CG=/sys/fs/cgroup/cpu/riskd-test-$$
	mkdir "$CG" && { echo 100000 >"$CG/cpu.cfs_period_us" &&
		echo 100000 >"$CG/cpu.cfs_quota_us" || { rmdir "$CG"; CG=; }; }
elif [ -w /sys/fs/cgroup/cgroup.subtree_control ] &&
	grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control; then
	CG=/sys/fs/cgroup/riskd-test-$$
	mkdir "$CG" && { echo "100000 100000" >"$CG/cpu.max" ||
		{ rmdir "$CG"; CG=; }; }
fi
if [ -n "$CG" ]; then
	trap 'cleanup; rmdir "$CG" 2>/dev/null' EXIT
	# the wrapper enters the cgroup, then becomes riskd
	printf '#!/bin/sh\necho $$ >%s/cgroup.procs && exec "$@"\n' "$CG" >"$TMP/incg"
	chmod +x "$TMP/incg"
	RISKD_WRAPPER="$TMP/incg ${RISKD_WRAPPER:-}" start_fresh
	nloops=$(grep -l '^riskd-loop' /proc/"$RISKD_PID"/task/*/comm | wc -l)
	nwork=$(grep -l '^riskd-work' /proc/"$RISKD_PID"/task/*/comm | wc -l)
	check "quota 1 CPU: one HTTP loop" 1 "$nloops"
	check "quota 1 CPU: one worker" 1 "$nwork"
	check "quota 1 CPU: the loop is not pinned" "$all" "$(loop_cpus)"
	check "quota 1 CPU: logged" 1 \
		"$(new_log | grep -q '"msg":"HTTP loops not pinned: a cgroup CPU quota","quota_cpus":"1"' && echo 1)"
	post /v1/score '{"scenario":"payments","event":{"amount":20}}'
	check "quota 1 CPU: scores" 200 "$STATUS"
	stop_riskd
	check "quota 1 CPU: exit 0" 0 "$RISKD_RC"
else
	echo "SKIP quota checks: no writable cgroup cpu controller here"
fi
finish
