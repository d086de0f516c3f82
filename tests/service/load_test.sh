#!/usr/bin/env bash
# load_test.sh - riskd under concurrent clients: 8 parallel curl loops,
# continuous import+activate while requests flow (no request may fail),
# admission control (503 overloaded with Retry-After, never a hang), and
# SIGTERM with requests in flight (each gets exactly one response, exit
# 0). Every loop is bounded. Neighbours: lib.sh, server_test.sh.
. "$(dirname "$0")/lib.sh"

init_store
EV='{"scenario":"payments","event":{"amount":1500,"ip":"203.0.113.7","card":{"id":"c1"}}}'
echo "$EV" >"$TMP/ev.json"

# loop N OUTFILE : N sequential scores on one keep-alive connection per
# curl call (10 URLs each); one status per line.
loop() {
	local n=$1 out=$2 i args=()
	for i in $(seq 1 10); do
		args+=(-o /dev/null "$BASE/v1/score")
	done
	for i in $(seq 1 $((n / 10))); do
		curl -s -w '%{http_code}\n' -H 'Content-Type: application/json' \
			-H 'X-Deadline-Ms: 1000' --data-binary @"$TMP/ev.json" \
			"${args[@]}" >>"$out"
		echo "curl-exit $?" >>"$out.rc"
	done
}

# ---- 8 concurrent clients ----
start_riskd RISKD_THREADS=4
for c in $(seq 1 8); do
	loop 200 "$TMP/c$c" &
	PIDS+=($!)
done
wait "${PIDS[@]}"
PIDS=()
check "8 clients x 200: all 200" 1600 "$(cat "$TMP"/c? | grep -c '^200$')"

# ---- continuous reloads while requests flow ----
rm -f "$TMP"/c?
for c in $(seq 1 4); do
	loop 300 "$TMP/c$c" &
	PIDS+=($!)
done
for v in $(seq 1 15); do
	sed "s/\"review\": 50/\"review\": $((30 + v))/" schemas/examples/payments.json >"$TMP/v.json"
	riskctl import "$TMP/v.json" --activate >/dev/null || fail "import $v"
	[ $((v % 5)) -eq 0 ] && curl -s -o /dev/null -X POST "$BASE/v1/admin/reload"
	sleep 0.05
done
wait "${PIDS[@]}"
PIDS=()
check "reloads under load: all 200" 1200 "$(cat "$TMP"/c? | grep -c '^200$')"
sleep 0.4
post /v1/score "$EV"
check "the last version serves" 16 "$(j "d['version']")"
# A set that no longer compiles (a list it uses was deleted) is refused;
# the old one keeps serving.
sqlite3 "$RISKD_DB" "PRAGMA foreign_keys = ON; DELETE FROM lists WHERE name = 'blocked_cards'"
req POST /v1/admin/reload
check "broken set refused" refused "$(j "d['scenarios'][0]['status']")"
check "refusal names the list" 1 "$(j "1 if 'blocked_cards' in d['scenarios'][0]['errors'][0] else d")"
post /v1/score "$EV"
check "old set keeps serving" decline "$(j "d['decision']")"
req GET /readyz
check "still ready" 200 "$STATUS"
riskctl list add blocked_cards tok_card_stolen_001 >/dev/null
# The reload thread's poll may pick the fix up before the admin reload
# does: then the admin reload finds nothing left to change.
req POST /v1/admin/reload
st=$(j "d['scenarios'][0]['status']")
check "fixed list: loaded again" 1 "$([ "$st" = loaded ] || [ "$st" = unchanged ]; echo $((1 - $?)))"
req GET /v1/scenarios/payments
check "fixed list: the scenario serves" 200 "$STATUS"
stop_riskd
check "exit 0 after load" 0 "$RISKD_RC"

# ---- admission control: a queue of 1 and one worker ----
start_riskd RISKD_THREADS=1 RISKD_QUEUE=1 RISKD_MAX_BODY=1m
python3 -c 'import json; print(json.dumps({"scenario":"payments","events":[{"amount":i,"ip":"203.0.113.7","user":{"email":"a1234567@x.io"}} for i in range(1000)]}))' >"$TMP/batch.json"
for c in $(seq 1 16); do
	curl -s -o /dev/null -D "$TMP/h$c" -H 'Content-Type: application/json' \
		-H 'X-Deadline-Ms: 1000' --data-binary @"$TMP/batch.json" \
		"$BASE/v1/score/batch" &
	PIDS+=($!)
done
wait "${PIDS[@]}"
PIDS=()
laststatus() { grep -a '^HTTP/' "$1" | tail -1 | awk '{print $2}'; }
n200=0 n503=0
for c in $(seq 1 16); do
	case $(laststatus "$TMP/h$c") in
	200) n200=$((n200 + 1)) ;;
	503) n503=$((n503 + 1)) ;;
	esac
done
nra=$(grep -il '^Retry-After: 1' "$TMP"/h* | wc -l)
check "overload: every request answered 200 or 503" 16 "$((n200 + n503))"
check "overload: some shed" 1 "$([ "$n503" -ge 1 ] && echo 1)"
check "overload: some served" 1 "$([ "$n200" -ge 1 ] && echo 1)"
check "overload: 503s carry Retry-After" "$n503" "$nra"
stop_riskd

# ---- inline overload: one HTTP thread scoring for 400 connections ----
# Scores run on the HTTP thread (RISKD_INLINE); with far more clients
# than it can serve within RISKD_QUEUE_TARGET_MS, requests wait in the
# kernel, and the thread must shed (503 queue_delay) rather than let the
# wait grow - while every request still gets an answer.
start_riskd RISKD_HTTP_THREADS=1 RISKD_QUEUE_TARGET_MS=1
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$EV'
LUA
wrk -t1 -c400 -d3s --timeout 5s -s "$TMP/post.lua" "$BASE/v1/score" >"$TMP/wrk.out" 2>&1
nreq=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$TMP/wrk.out")
check "inline overload: requests were served" 1 "$([ "${nreq:-0}" -gt "${non2xx:-0}" ] && echo 1)"
check "inline overload: some shed" 1 "$([ "${non2xx:-0}" -gt 0 ] && echo 1)"
check "inline overload: no socket errors or timeouts" 0 "$(grep -c 'Socket errors' "$TMP/wrk.out")"
req GET /metrics
shed=$(awk '/^riskd_requests_shed_total\{reason="queue_delay"\}/ {print $2}' <<<"$BODY")
# wrk stops with up to 400 requests in flight whose answers it does not
# count; riskd counted them
check "inline overload: shed counted as queue_delay" 1 \
	"$([ "${shed:-0}" -ge "${non2xx:-0}" ] && [ "${shed:-0}" -le $((${non2xx:-0} + 400)) ] && echo 1)"
inl=$(awk '/^riskd_inline_requests_total\{outcome="answered"\}/ {print $2}' <<<"$BODY")
check "inline overload: answered on the HTTP thread" 1 "$([ "${inl:-0}" -gt 0 ] && echo 1)"
check "inline overload: kernel wait gauge exported" 1 \
	"$(grep -c '^riskd_http_kernel_wait_seconds [0-9.e+-]*$' <<<"$BODY")"
stop_riskd
check "inline overload: exit 0" 0 "$RISKD_RC"

# ---- SIGTERM with requests in flight ----
start_riskd RISKD_THREADS=2
rm -f "$TMP"/c? "$TMP"/c?.rc
for c in $(seq 1 6); do
	loop 3000 "$TMP/c$c" &
	PIDS+=($!)
done
# One slow request whose body is still arriving when SIGTERM comes.
slow() { printf '{"scenario":"payments",'; sleep 0.6; printf '"event":{"amount":5}}'; }
curl -s -o "$TMP/slow.body" -w '%{http_code}' -H 'Content-Type: application/json' \
	-H 'X-Deadline-Ms: 1000' -T - -X POST "$BASE/v1/score" < <(slow) >"$TMP/slow.code" &
slowpid=$!
sleep 0.3
kill -TERM "$RISKD_PID"
sleep 0.1
req GET /readyz
check "readyz 503 while draining" 503 "$STATUS"
check "readyz reason" '["draining"]' "$(j "d['reasons']")"
wait_exit
check "SIGTERM in flight: exit 0" 0 "$RISKD_RC"
wait "${PIDS[@]}" "$slowpid"
PIDS=()
check "slow request finished during drain" 200 "$(cat "$TMP/slow.code")"
# Each curl call either completed all its requests (200, or 503 while
# draining), or could not connect (exit 7) once riskd was gone; a
# request cut off without an answer would be exit 52/56.
bad=$(cat "$TMP"/c?.rc | grep -v -c -E 'curl-exit (0|7)$')
check "no request lost (curl exit 0 or 7 only)" 0 "$bad"
[ "$bad" = 0 ] || grep -v -E "curl-exit (0|7)$" "$TMP"/c?.rc >&2
other=$(cat "$TMP"/c? | grep -v -c -E '^(200|503|000)$')
check "only 200/503 answers" 0 "$other"
check "requests were served before the drain" 1 \
	"$([ "$(cat "$TMP"/c? | grep -c '^200$')" -gt 0 ] && echo 1)"
finish
