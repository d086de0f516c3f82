#!/usr/bin/env bash
# lib.sh - shared helpers of the riskd end-to-end tests (sourced by
# tests/service/*_test.sh): a temp dir and store, a free loopback port,
# starting and stopping the real riskd, HTTP via curl, JSON assertions via
# python3, real redis-servers. Every process started here is killed by the
# EXIT trap.
# Needs $RISKD and $RISKCTL (set by tests/run.sh); $RISKCTL_WRAPPER
# (e.g. valgrind) prefixes riskctl, $RISKD_WRAPPER prefixes riskd.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
: "${BUILD:=build}"
: "${RISKD:=$ROOT/$BUILD/riskd}"
: "${RISKCTL:=$ROOT/$BUILD/riskctl}"
TMP=$(mktemp -d /tmp/riskd-test.XXXXXX)
export RISKD_DB=$TMP/riskd.db
PIDS=()
RISKD_PID=
FAILS=0
CHECKS=0

cleanup() {
	local p
	for p in "${PIDS[@]}" $RISKD_PID; do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	FAILS=$((FAILS + 1))
	echo "FAIL: $*"
}

# check NAME EXPECTED ACTUAL
check() {
	CHECKS=$((CHECKS + 1))
	if [ "$2" == "$3" ]; then
		echo "ok   $1"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

finish() {
	echo "$CHECKS checks, $FAILS failed"
	[ "$FAILS" -eq 0 ]
	exit $?
}

riskctl() {
	# shellcheck disable=SC2086
	${RISKCTL_WRAPPER:-} "$RISKCTL" --db "$RISKD_DB" "$@"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_riskd [ENV=VALUE...] : starts riskd on a free port, waits for /livez.
start_riskd() {
	PORT=$(free_port)
	BASE=http://127.0.0.1:$PORT
	# shellcheck disable=SC2086
	env RISKD_LISTEN=127.0.0.1:$PORT RISKD_RELOAD_MS=${RELOAD_MS:-100} \
		"$@" ${RISKD_WRAPPER:-} "$RISKD" >"$TMP/riskd.out" 2>>"$TMP/riskd.err" &
	RISKD_PID=$!
	local i
	for i in $(seq 1 200); do
		if curl -s -o /dev/null "$BASE/livez"; then
			return 0
		fi
		if ! kill -0 "$RISKD_PID" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	fail "riskd did not start"
	cat "$TMP/riskd.err"
	finish
}

# stop_riskd : SIGTERM and wait; sets RISKD_RC.
stop_riskd() {
	kill -TERM "$RISKD_PID" 2>/dev/null
	wait_exit
}

# wait_exit : waits (bounded) for riskd to exit; sets RISKD_RC.
wait_exit() {
	local i
	for i in $(seq 1 300); do
		kill -0 "$RISKD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$RISKD_PID" 2>/dev/null; then
		fail "riskd did not exit"
		kill -9 "$RISKD_PID"
	fi
	wait "$RISKD_PID"
	RISKD_RC=$?
	RISKD_PID=
}

# req METHOD PATH [curl args...] : sets STATUS, BODY, HDRS
req() {
	local m=$1 p=$2
	shift 2
	: >"$TMP/hdrs"
	BODY=$(curl -s -X "$m" -D "$TMP/hdrs" -o - -w '' "$@" "$BASE$p")
	STATUS=$(grep -a '^HTTP/' "$TMP/hdrs" | tail -1 | awk '{print $2}')
	HDRS=$(tr -d '\r' <"$TMP/hdrs")
}

# post PATH JSON [curl args...]
post() {
	local p=$1 data=$2
	shift 2
	req POST "$p" -H 'Content-Type: application/json' --data-binary "$data" "$@"
}

# header NAME : the value of a response header of the last req
header() {
	echo "$HDRS" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
		'tolower($1) == n { print $2 }' | head -1
}

# j EXPR [JSON] : evaluates a Python expression on d = parsed JSON
j() {
	local doc=${2-$BODY}
	python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
v = eval(sys.argv[1])
print(json.dumps(v) if not isinstance(v, str) else v)
' "$1" <<<"$doc" 2>/dev/null || echo "<no json: ${doc:0:200}>"
}

# start_redis VAR [PORT] : a redis-server of the test's own on PORT (a
# restart) or a free port, waited for; sets VAR_PORT and VAR_PID. Killed
# by the EXIT trap.
start_redis() {
	local port=${2:-$(free_port)}
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no >>"$TMP/redis-$1.log" 2>&1 &
	PIDS+=($!)
	eval "$1_PORT=$port; $1_PID=$!"
	local _
	for _ in $(seq 1 100); do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.05
	done
	fail "redis $1 did not start"; finish
}

init_store() {
	riskctl init >/dev/null || { fail "riskctl init"; finish; }
	riskctl import schemas/examples/payments.json --activate >/dev/null ||
		{ fail "riskctl import"; finish; }
}
