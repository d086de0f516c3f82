#!/usr/bin/env bash
# server_test.sh - riskd end to end over HTTP: every endpoint and error
# code of SPEC §6 against the real daemon on a free loopback port with a
# temp SQLite store (the sample payments scenario). Neighbours: lib.sh
# (helpers), load_test.sh (concurrency, reloads, overload, SIGTERM),
# config_test.sh (start-up configuration).
. "$(dirname "$0")/lib.sh"

init_store
start_riskd RISKD_THREADS=2

EV='{"scenario":"payments","event":{"amount":1500,"ip":"203.0.113.7","user":{"age_days":3,"email":"ab12345@mailinator.com"},"card":{"id":"c1","country":"US"},"ip_country":"FR"}}'

# ---- probes ----
req GET /livez
check "livez 200" 200 "$STATUS"
check "livez status" alive "$(j "d['status']")"
req GET /readyz
check "readyz 200" 200 "$STATUS"
check "readyz body" '{"status": "ready", "reasons": []}' \
	"$(j "{'status': d['status'], 'reasons': d['reasons']}")"
req GET /healthz
check "healthz 200" 200 "$STATUS"
req GET /metrics
check "metrics 200" 200 "$STATUS"
check "metrics content type" "text/plain; version=0.0.4; charset=utf-8" \
	"$(header Content-Type)"
check "request id generated" 1 "$([ -n "$(header X-Request-Id)" ] && echo 1)"

# ---- score ----
post /v1/score "$EV"
check "score 200" 200 "$STATUS"
check "score decision" decline "$(j "d['decision']")"
check "score decided_by" rule:blocked_ip "$(j "d['decided_by']")"
check "score value" 95 "$(j "d['score']")"
check "score reasons" '["blocked_ip", "high_amount", "new_account", "disposable_email", "email_digits", "geo_mismatch"]' \
	"$(j "[x['rule'] for x in d['reasons']]")"
check "score shadow" '["round_amount_shadow"]' "$(j "[x['rule'] for x in d['shadow']]")"
check "score fields" '["decided_by", "decision", "degraded", "elapsed_us", "reasons", "region", "request_id", "scenario", "score", "shadow", "version"]' \
	"$(j "sorted(d.keys())")"
check "score version" 1 "$(j "d['version']")"
check "score region null" null "$(j "d['region']")"
check "score degraded false" false "$(j "d['degraded']")"
check "score body id = header id" "$(header X-Request-Id)" "$(j "d['request_id']")"

post /v1/score '{"scenario":"payments","event":{"amount":20}}' -H 'X-Request-Id: abc-123'
check "caller's X-Request-Id echoed" abc-123 "$(header X-Request-Id)"
check "caller's X-Request-Id in body" abc-123 "$(j "d['request_id']")"
check "small payment approved" approve "$(j "d['decision']")"
check "small payment decided by score" score "$(j "d['decided_by']")"

post /v1/score '{"scenario":"payments","request_id":"body-7","event":{"amount":2000,"user":{"id":"u_vip_1"}}}'
check "body request_id wins" body-7 "$(header X-Request-Id)"
check "allow-list approves" approve "$(j "d['decision']")"
check "allow-list decided_by" rule:trusted_user "$(j "d['decided_by']")"

post /v1/score '{"scenario":"payments","event":{"amount":1200,"user":{"age_days":0.5}}}'
check "review band" review "$(j "d['decision']")"
check "review score" 70 "$(j "d['score']")"

post '/v1/score?explain=true' '{"scenario":"payments","event":{"amount":1500}}'
check "explain 200" 200 "$STATUS"
check "explain lists evaluated rules (disabled excluded)" 22 "$(j "len(d['explain'])")"
check "explain matched" '["high_amount", "round_amount_shadow"]' \
	"$(j "[x['rule'] for x in d['explain'] if x['matched']]")"
check "explain velocity input" '[{"path": "velocity.card_txn_1h", "value": null, "source": "none", "age_ms": null}]' \
	"$(j "[x for x in d['explain'] if x['rule'] == 'card_velocity'][0]['inputs']")"
post '/v1/score?explain=true' '{"scenario":"payments","event":{"amount":"lots"}}'
check "explain runtime error" '"runtime type error (the rule does not match)"' \
	"$(j "json.dumps([x for x in d['explain'] if x['rule'] == 'high_amount'][0]['error'])")"
post '/v1/score' '{"scenario":"payments","event":{"amount":1500}}'
check "no explain without the flag" false "$(j "'explain' in d")"

# ---- score errors ----
post /v1/score '{"scenario":"nope","event":{}}'
check "unknown scenario 404" 404 "$STATUS"
check "unknown scenario code" unknown_scenario "$(j "d['error']['code']")"
post /v1/score '{"scenario":"payments"}'
check "missing event 400" 400 "$STATUS"
check "missing event code" bad_request "$(j "d['error']['code']")"
post /v1/score '{"scenario":"payments","event":[1]}'
check "event not an object" bad_request "$(j "d['error']['code']")"
post /v1/score '{"event":{}}'
check "missing scenario" bad_request "$(j "d['error']['code']")"
post /v1/score '{"scenario":5,"event":{}}'
check "scenario wrong type" bad_request "$(j "d['error']['code']")"
post /v1/score '[1,2]'
check "body not an object" bad_request "$(j "d['error']['code']")"
post /v1/score '{"scenario": "payments", "event": {'
check "bad json 400" 400 "$STATUS"
check "bad json code" bad_json "$(j "d['error']['code']")"
check "bad json offset" "invalid JSON at byte offset 34" "$(j "d['error']['message']")"
post /v1/score '{"a": tru}'
check "bad json offset in literal" "invalid JSON at byte offset 6" "$(j "d['error']['message']")"
post /v1/score '{"scenario":"payments","event":{}} x'
check "trailing garbage" "trailing data at byte offset 35" "$(j "d['error']['message']")"
post /v1/score ''
check "empty body" bad_json "$(j "d['error']['code']")"
post /v1/score '{"scenario":"payments","event":{},"deadline_ms":"soon"}'
check "bad deadline_ms" bad_request "$(j "d['error']['code']")"
post /v1/score '{"scenario":"payments","event":{}}' -H 'X-Deadline-Ms: 0'
check "bad X-Deadline-Ms" bad_request "$(j "d['error']['code']")"
post /v1/score '{"scenario":"payments","event":{},"request_id":""}'
check "bad request_id" bad_request "$(j "d['error']['code']")"
req POST /v1/score -H 'Content-Type: text/plain' --data-binary '{"scenario":"payments","event":{}}'
check "wrong content type 415" 415 "$STATUS"
check "wrong content type code" unsupported_media_type "$(j "d['error']['code']")"
req POST /v1/score --data-binary '{"scenario":"payments","event":{}}'
check "form content type (curl default) 415" 415 "$STATUS"
post /v1/score '{"scenario":"payments","event":{}}' -H 'Content-Type: application/json; charset=utf-8'
check "json with charset accepted" 200 "$STATUS"

# Deeply nested JSON: over cJSON's nesting limit is bad_json; within it
# the event is scored.
deep=$(python3 -c 'print("{\"scenario\":\"payments\",\"event\":{\"a\":" + "["*5000 + "]"*5000 + "}}")')
post /v1/score "$deep"
check "deep nesting refused" bad_json "$(j "d['error']['code']")"
deep=$(python3 -c 'print("{\"scenario\":\"payments\",\"event\":{\"amount\":5,\"a\":" + "{\"b\":"*500 + "1" + "}"*500 + "}}")')
post /v1/score "$deep"
check "nesting within the limit scored" 200 "$STATUS"

# Bodies over RISKD_MAX_BODY (64 KiB): announced, and chunked.
python3 -c 'print("{\"scenario\":\"payments\",\"event\":{\"pad\":\"" + "x"*70000 + "\"}}")' >"$TMP/big.json"
req POST /v1/score -H 'Content-Type: application/json' --data-binary @"$TMP/big.json"
check "huge body 413" 413 "$STATUS"
check "huge body code" too_large "$(j "d['error']['code']")"
req POST /v1/score -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big.json"
check "huge chunked body 413" 413 "$STATUS"
check "huge chunked body code" too_large "$(j "d['error']['code']")"
python3 -c 'print("{\"scenario\":\"payments\",\"event\":{\"amount\":3,\"pad\":\"" + "x"*60000 + "\"}}")' >"$TMP/near.json"
req POST /v1/score -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/near.json"
check "60 KB chunked body scored" 200 "$STATUS"

# A slow client: the body arrives in pieces (curl -T - streams stdin).
slow() { printf '%s' "$1"; sleep 0.3; printf '%s' "$2"; sleep 0.3; printf '%s' "$3"; }
req POST /v1/score -H 'Content-Type: application/json' -H 'X-Deadline-Ms: 1000' -T - \
	< <(slow '{"scenario":"payments",' '"event":{"amount":' '1500}}')
check "slow client scored" 200 "$STATUS"
check "slow client result" 30 "$(j "d['score']")"
# ... and when its pieces take longer than its deadline, 504.
req POST /v1/score -H 'Content-Type: application/json' -H 'X-Deadline-Ms: 100' -T - \
	< <(slow '{"scenario":"payments",' '"event":' '{}}')
check "deadline passed while reading 504" 504 "$STATUS"
check "deadline code" deadline_exceeded "$(j "d['error']['code']")"
req POST /v1/score -H 'Content-Type: application/json' -H 'X-Deadline-Ms: 5000' -T - \
	< <(slow '{"scenario":"payments","deadline_ms":100,' '"event":' '{}}')
check "smaller (body) deadline wins" 504 "$STATUS"
req POST /v1/score -H 'Content-Type: application/json' -T - \
	< <(slow '{"scenario":"payments","deadline_ms":100000,' '"event":' '{}}')
check "large deadline capped by RISKD_MAX_DEADLINE_MS, still fine" 200 "$STATUS"

# ---- batch ----
post /v1/score/batch '{"scenario":"payments","events":[{"amount":20},{"amount":1500,"ip":"203.0.113.7"},5,{"amount":1200,"user":{"age_days":0.5}}]}'
check "batch 200" 200 "$STATUS"
check "batch decisions in order" '["approve", "decline", null, "review"]' \
	"$(j "[x.get('decision') for x in d['results']]")"
check "batch error object" bad_request "$(j "d['results'][2]['error']['code']")"
check "batch version" 1 "$(j "d['version']")"
post /v1/score/batch '{"scenario":"payments","events":[]}'
check "empty batch" '[]' "$(j "d['results']")"
post /v1/score/batch "$(python3 -c 'import json; print(json.dumps({"scenario":"payments","events":[{}]*1001}))')"
check "batch over 1000" 400 "$STATUS"
check "batch over 1000 code" bad_request "$(j "d['error']['code']")"
post /v1/score/batch "$(python3 -c 'import json; print(json.dumps({"scenario":"payments","events":[{"amount":i} for i in range(1000)]}))')"
check "batch of 1000" 1000 "$(j "len(d['results'])")"
post /v1/score/batch '{"scenario":"payments","events":{}}'
check "batch events not an array" bad_request "$(j "d['error']['code']")"
post /v1/score/batch '{"scenario":"nope","events":[{}]}'
check "batch unknown scenario" unknown_scenario "$(j "d['error']['code']")"

# ---- simulate ----
post /v1/simulate '{"scenario":"payments","version":1,"event":{"amount":50,"card":{"id":"c9"}},"features":{"card":{"chargebacks_90d":2}},"velocity":{"card_txn_1h":7}}'
check "simulate 200" 200 "$STATUS"
check "simulate uses envelope features and velocity" '["card_velocity", "chargeback_history"]' \
	"$(j "[x['rule'] for x in d['reasons']]")"
check "simulate decision" decline "$(j "d['decision']")"
check "simulate version" 1 "$(j "d['version']")"
post /v1/simulate '{"scenario":"payments","event":{"amount":50}}'
check "simulate active version" approve "$(j "d['decision']")"
post /v1/simulate '{"scenario":"payments","version":99,"event":{}}'
check "simulate unknown version" unknown_scenario "$(j "d['error']['code']")"
post /v1/simulate '{"scenario":"payments","version":"1","event":{}}'
check "simulate version type" bad_request "$(j "d['error']['code']")"
post /v1/simulate '{"rules":{"scenario":"t","rules":[{"id":"big","when":"amount > 10","score":90}]},"event":{"amount":11}}'
check "simulate inline rules (loopback, no keys)" 200 "$STATUS"
check "simulate inline decision" decline "$(j "d['decision']")"
check "simulate inline scenario" t "$(j "d['scenario']")"
check "simulate inline version null" null "$(j "d['version']")"
post /v1/simulate '{"rules":{"scenario":"t","rules":[{"id":"bad","when":"amount >"}]},"event":{}}'
check "simulate broken rules 400" 400 "$STATUS"
check "simulate broken rules located" 1 "$(j "1 if 'bad' in d['error']['details'][0] else d")"
post /v1/simulate '{"rules":{"scenario":"t","rules":[]},"version":1,"event":{}}'
check "simulate version and rules" bad_request "$(j "d['error']['code']")"

# ---- scenarios, reload ----
req GET /v1/scenarios
check "scenarios 200" 200 "$STATUS"
check "scenarios list" '[["payments", 1]]' "$(j "[[s['name'], s['version']] for s in d['scenarios']]")"
check "scenario counts" '{"rules": 23, "active": 20, "shadow": 2, "disabled": 1, "features": 2, "velocity": 3}' \
	"$(j "d['scenarios'][0]['counts']")"
req GET /v1/scenarios/payments
check "scenario 200" 200 "$STATUS"
check "scenario thresholds" '{"review": 50, "decline": 80}' "$(j "d['thresholds']")"
check "scenario rules" 23 "$(j "len(d['rules'])")"
check "scenario rule hits counted" 1 "$(j "1 if [r for r in d['rules'] if r['id'] == 'blocked_ip'][0]['hits'] >= 2 else 0")"
req GET /v1/scenarios/nope
check "scenario unknown" unknown_scenario "$(j "d['error']['code']")"
req POST /v1/admin/reload
check "reload 200" 200 "$STATUS"
check "reload report" '[["payments", "unchanged"]]' "$(j "[[s['name'], s['status']] for s in d['scenarios']]")"
sed 's/"review": 50/"review": 40/' schemas/examples/payments.json >"$TMP/p2.json"
riskctl import "$TMP/p2.json" --activate >/dev/null
req POST /v1/admin/reload
# (the poll may have loaded it first: then the reload finds it unchanged)
check "reload loads the new version" '[["payments", 2, true]]' \
	"$(j "[[s['name'], s['version'], s['status'] in ('loaded', 'unchanged')] for s in d['scenarios']]")"
post /v1/score '{"scenario":"payments","event":{"amount":1500,"user":{"age_days":20}}}'
check "new version serves" 2 "$(j "d['version']")"
riskctl import schemas/examples/payments.json --activate >/dev/null
sleep 0.5   # RISKD_RELOAD_MS=100: the poll picks it up
post /v1/score '{"scenario":"payments","event":{}}'
check "poll reload" 3 "$(j "d['version']")"
kill -HUP "$RISKD_PID"
sleep 0.2
req GET /readyz
check "ready after SIGHUP" 200 "$STATUS"

# ---- metrics ----
post /v1/score "$EV"
post /v1/score '{"scenario":"payments","event":{"amount":"lots"}}'
req GET /metrics
metric() { echo "$BODY" | awk -v n="$1" '$1 == n { print $2 }'; }
check "metrics: rule hits" 1 "$([ "$(metric 'riskd_rule_hits_total{scenario="payments",rule="blocked_ip"}')" -ge 1 ] && echo 1)"
check "metrics: rule errors" 1 "$([ "$(metric 'riskd_rule_errors_total{scenario="payments",rule="high_amount"}')" -ge 1 ] && echo 1)"
check "metrics: served version" 3 "$(metric 'riskd_ruleset_version{scenario="payments"}')"
check "metrics: queue capacity" 1024 "$(metric riskd_queue_capacity)"
check "metrics: not draining" 0 "$(metric riskd_draining)"
check "metrics: every sample has a TYPE" 0 "$(echo "$BODY" | awk '/^# TYPE/ { t[$3] = $4; next } /^#/ { next } { n = $1; sub(/\{.*/, "", n); h = n; sub(/_(bucket|sum|count)$/, "", h); if (!t[n] && t[h] != "histogram") bad++ } END { print bad + 0 }')"

# ---- routing ----
req GET /v1/features/card/c1
check "features unknown key: 404" 404 "$STATUS"
check "features code" not_found "$(j "d['error']['code']")"
req GET /v1/features/card
check "features without key: 404" not_found "$(j "d['error']['code']")"
req GET /v1/features/card/a/b
check "features with two keys: 404" not_found "$(j "d['error']['code']")"
req POST /v1/features/card/c1 -H 'Content-Type: application/json' -d '{}'
check "features POST 405" 405 "$STATUS"
check "features Allow" "GET, HEAD, PUT" "$(header Allow)"
req PUT /v1/features/card/c1 -H 'Content-Type: application/json' -d '{"n": 1}'
check "features PUT (no Redis: L1)" 200 "$STATUS"
req GET /v1/features/card/c1
check "features GET after PUT" '{"n": 1}' "$(j "d['values']")"
req GET /v1/regions
check "regions without Redis" '[]' "$(j "d['regions']")"
req GET /nope
check "unknown path 404" 404 "$STATUS"
req GET /v1/score
check "GET score 405" 405 "$STATUS"
check "405 code" method_not_allowed "$(j "d['error']['code']")"
check "405 Allow" POST "$(header Allow)"
req DELETE /v1/scenarios
check "DELETE scenarios 405" 405 "$STATUS"
req GET /v1/admin/reload
check "GET reload 405" 405 "$STATUS"
req HEAD /livez
check "HEAD livez" 200 "$STATUS"
check "error responses carry X-Request-Id" 1 "$([ -n "$(header X-Request-Id)" ] && echo 1)"

# ---- keep-alive: several requests on one connection ----
out=$(curl -s -w '%{http_code} %{num_connects}\n' \
	-H 'Content-Type: application/json' -d '{"scenario":"payments","event":{}}' \
	-o /dev/null "$BASE/v1/score" -o /dev/null "$BASE/v1/score" -o /dev/null "$BASE/v1/score")
check "keep-alive reuses the connection" "200 1|200 0|200 0" "$(echo "$out" | paste -sd'|')"
out=$(curl -s -w '%{http_code} %{num_connects}\n' \
	-H 'Content-Type: application/json' -d '{"scenario":"payments"' \
	-o /dev/null "$BASE/v1/score" -o /dev/null "$BASE/v1/score")
check "keep-alive survives a 400" "400 1|400 0" "$(echo "$out" | paste -sd'|')"

stop_riskd
check "SIGTERM exit code" 0 "$RISKD_RC"
if grep -q '"level":"error"' "$TMP/riskd.err"; then
	fail "errors in riskd log"
	grep '"level":"error"' "$TMP/riskd.err" | head
fi

# riskd's own listening socket (service/listener.c) on IPv6 loopback,
# where the machine has it
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	P6=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])')
	RISKD_LISTEN="[::1]:$P6" ${RISKD_WRAPPER:-} "$RISKD" 2>>"$TMP/riskd6.err" &
	RISKD_PID=$!
	for _ in $(seq 1 100); do curl -s -g -o /dev/null "http://[::1]:$P6/livez" && break; sleep 0.05; done
	check "IPv6 listen: score" 200 "$(curl -s -g -o /dev/null -w '%{http_code}' \
		-H 'Content-Type: application/json' -d "$EV" "http://[::1]:$P6/v1/score")"
	check "IPv6 listen: the port is not taken on IPv4" 000 \
		"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P6/livez")"
	stop_riskd
	check "IPv6 listen: exit 0" 0 "$RISKD_RC"
fi
finish
