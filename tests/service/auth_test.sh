#!/usr/bin/env bash
# auth_test.sh - riskd API keys and rate limits end to end (SPEC §6
# Auth): no keys = open (admin for loopback only), keys created with
# riskctl picked up by the reload poll, 401 missing/unknown/malformed,
# 403 for a score key on admin endpoints, 429 with Retry-After, and a
# revoked key refused after the poll; keys stored before start, no
# limit. Neighbours: lib.sh, server_test.sh.
. "$(dirname "$0")/lib.sh"

init_store
start_riskd RISKD_THREADS=2 RISKD_RATE_LIMIT=1 RISKD_RATE_BURST=6

EV='{"scenario":"payments","event":{"amount":20}}'
RULES=$(cat schemas/examples/payments.json)

# wait_status CODE METHOD PATH [curl args...] : retries until STATUS = CODE
wait_status() {
	local want=$1 i
	shift
	for i in $(seq 1 60); do
		req "$@"
		[ "$STATUS" = "$want" ] && return 0
		sleep 0.05
	done
}

# ---- no keys: open ----
post /v1/score "$EV"
check "no keys: score without a key" 200 "$STATUS"
req POST /v1/admin/reload
check "no keys: admin from loopback" 200 "$STATUS"

# ---- keys appear with the reload poll ----
ADMIN=$(riskctl key create --role admin --name ops 2>/dev/null)
SCORE=$(riskctl key create --role score --name shop 2>/dev/null)
SCORE2=$(riskctl key create --role score --name shop2 2>/dev/null)
check "keys created" 1 "$([ -n "$ADMIN" ] && [ -n "$SCORE" ] && echo 1)"
wait_status 401 POST /v1/score -H 'Content-Type: application/json' --data-binary "$EV"
check "missing key 401" 401 "$STATUS"
check "missing key code" unauthorized "$(j "d['error']['code']")"
check "401 carries a request id" 1 "$([ -n "$(header X-Request-Id)" ] && echo 1)"
post /v1/score "$EV" -H "Authorization: Bearer nope"
check "unknown key 401" 401 "$STATUS"
check "unknown key message" "unknown API key" "$(j "d['error']['message']")"
post /v1/score "$EV" -H "Authorization: $SCORE"
check "malformed header 401" 401 "$STATUS"
req GET /v1/scenarios
check "GET /v1/* needs a key too" 401 "$STATUS"
req GET /livez
check "probes need no key" 200 "$STATUS"
req GET /metrics
check "metrics needs no key" 200 "$STATUS"

# ---- roles ----
post /v1/score "$EV" -H "Authorization: Bearer $SCORE"
check "score key scores" 200 "$STATUS"
check "score key decision" approve "$(j "d['decision']")"
req POST /v1/admin/reload -H "Authorization: Bearer $SCORE"
check "score key on admin 403" 403 "$STATUS"
check "403 code" forbidden "$(j "d['error']['code']")"
post /v1/simulate "{\"scenario\":\"payments\",\"rules\":$RULES,\"event\":{\"amount\":20}}" \
	-H "Authorization: Bearer $SCORE"
check "score key simulate with inline rules 403" 403 "$STATUS"
post /v1/simulate '{"scenario":"payments","version":1,"event":{"amount":20}}' \
	-H "Authorization: Bearer $SCORE"
check "score key simulate a stored version 200" 200 "$STATUS"
req POST /v1/admin/reload -H "Authorization: Bearer $ADMIN"
check "admin key reload 200" 200 "$STATUS"
post /v1/simulate "{\"scenario\":\"payments\",\"rules\":$RULES,\"event\":{\"amount\":20}}" \
	-H "Authorization: Bearer $ADMIN"
check "admin key simulate inline rules 200" 200 "$STATUS"

# ---- rate limit: 1/s, burst 6, per key ----
codes=
for i in $(seq 1 9); do
	post /v1/score "$EV" -H "Authorization: Bearer $SCORE2"
	codes="$codes $STATUS"
	[ "$STATUS" = 429 ] && break
done
check "burst then 429" 429 "$STATUS"
check "429 code" rate_limited "$(j "d['error']['code']")"
check "429 Retry-After" 1 "$(header Retry-After)"
check "at most the burst passed" 1 "$(echo "$codes" | grep -o 200 | wc -l | awk '{print ($1 <= 6)}')"
post /v1/score "$EV" -H "Authorization: Bearer $SCORE"
check "another key has its own bucket" 200 "$STATUS"
sleep 1.1
post /v1/score "$EV" -H "Authorization: Bearer $SCORE2"
check "bucket refills" 200 "$STATUS"

# ---- revocation follows the store ----
riskctl key revoke shop >/dev/null 2>&1
wait_status 401 POST /v1/score -H 'Content-Type: application/json' \
	--data-binary "$EV" -H "Authorization: Bearer $SCORE"
check "revoked key 401 after the poll" 401 "$STATUS"
check "revoked key message" "revoked API key" "$(j "d['error']['message']")"
sleep 1.1
post /v1/score "$EV" -H "Authorization: Bearer $SCORE2"
check "other keys still work" 200 "$STATUS"

# ---- all keys revoked: open again, admin loopback only ----
riskctl key revoke ops >/dev/null 2>&1
riskctl key revoke shop2 >/dev/null 2>&1
wait_status 200 POST /v1/score -H 'Content-Type: application/json' --data-binary "$EV"
check "no active keys: open again" 200 "$STATUS"

req GET /metrics
check "metrics: 401 counted" 1 "$(echo "$BODY" | awk '$1 ~ /^riskd_http_requests_total\{endpoint="\/v1\/score",status="401"\}$/ { print ($2 >= 3) }')"
check "metrics: 429 counted" 1 "$(echo "$BODY" | awk '$1 ~ /^riskd_http_requests_total\{endpoint="\/v1\/score",status="429"\}$/ { print ($2 >= 1) }')"
stop_riskd
check "riskd exit 0" 0 "$RISKD_RC"

# ---- keys already stored at start; no rate limit ----
BOOT=$(riskctl key create --role score --name boot 2>/dev/null)
start_riskd RISKD_THREADS=2 RISKD_RELOAD_MS=0
post /v1/score "$EV"
check "keys at start: no key 401" 401 "$STATUS"
codes=
for i in $(seq 1 20); do
	post /v1/score "$EV" -H "Authorization: Bearer $BOOT"
	codes="$codes$STATUS "
done
check "RISKD_RATE_LIMIT=0: never 429" 20 "$(echo "$codes" | grep -o 200 | wc -l | tr -d ' ')"
req POST /v1/admin/reload -H "Authorization: Bearer $BOOT"
check "keys at start: score key not admin, even on loopback" 403 "$STATUS"
stop_riskd
check "riskd exit 0 (second run)" 0 "$RISKD_RC"
finish
