#!/usr/bin/env bash
# declog_test.sh - riskd's decision log end to end (SPEC §7): one line
# per decision with the request ids in order, configured event paths
# redacted, batch events logged one by one, simulate and refusals not
# logged, every line flushed by SIGTERM; "-" writes to stdout; a bad
# RISKD_REDACT stops riskd at start; request metrics on /metrics and
# debug request logs. Neighbours: lib.sh, server_test.sh.
. "$(dirname "$0")/lib.sh"

init_store
LOG=$TMP/decisions.log
start_riskd RISKD_THREADS=2 RISKD_DECISION_LOG="$LOG" \
	RISKD_REDACT=card.number,user.email

EV='{"amount":1500,"ip":"203.0.113.7","user":{"age_days":3,"email":"ab12345@mailinator.com"},"card":{"id":"c1","number":"4111111111111111","country":"US"},"ip_country":"FR"}'
for i in 1 2 3 4 5; do
	post /v1/score "{\"scenario\":\"payments\",\"request_id\":\"dl-$i\",\"event\":$EV}"
	[ "$STATUS" = 200 ] || fail "score dl-$i: $STATUS"
done
post /v1/score/batch '{"scenario":"payments","request_id":"dl-b","events":[{"amount":20},{"amount":30}]}'
check "batch 200" 200 "$STATUS"
post /v1/simulate '{"scenario":"payments","version":1,"request_id":"dl-sim","event":{"amount":50}}'
check "simulate 200" 200 "$STATUS"
post /v1/score '{"scenario":"nope","request_id":"dl-unknown","event":{}}'
check "unknown scenario 404" 404 "$STATUS"
post /v1/score '{"scenario":"payments","request_id":"dl-last","event":{"amount":20}}'
check "last score 200" 200 "$STATUS"

req GET /metrics
metric() { echo "$BODY" | awk -v n="$1" '$1 == n { print $2 }'; }
check "metrics: score 200 count" 6 "$(metric 'riskd_http_requests_total{endpoint="/v1/score",status="200"}')"
check "metrics: score 404 count" 1 "$(metric 'riskd_http_requests_total{endpoint="/v1/score",status="404"}')"
check "metrics: latency histogram count" 6 "$(metric 'riskd_http_request_duration_seconds_count{endpoint="/v1/score",status="200"}')"
check "metrics: +Inf bucket = count" 6 "$(metric 'riskd_http_request_duration_seconds_bucket{endpoint="/v1/score",status="200",le="+Inf"}')"
check "metrics: decisions per scenario" 5 "$(metric 'riskd_decisions_total{scenario="payments",decision="decline"}')"
check "metrics: approvals (batch + last)" 3 "$(metric 'riskd_decisions_total{scenario="payments",decision="approve"}')"
check "metrics: decision log queue present" 1 "$(echo "$BODY" | grep -c '^riskd_decision_log_queued_lines ')"
stop_riskd
check "riskd exit 0" 0 "$RISKD_RC"
DOC=$(python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1])]))' "$LOG" 2>/dev/null || echo null)
check "one line per decision" 8 "$(j "len(d)" "$DOC")"
check "request ids in order" '["dl-1", "dl-2", "dl-3", "dl-4", "dl-5", "dl-b.0", "dl-b.1", "dl-last"]' \
	"$(j "[x['request_id'] for x in d]" "$DOC")"
check "fields" '["decided_by", "decision", "degraded", "event", "reasons", "request_id", "scenario", "score", "time", "version"]' \
	"$(j "sorted(d[0].keys())" "$DOC")"
check "decision logged" '["decline", 95, "payments", 1, false]' \
	"$(j "[d[0]['decision'], d[0]['score'], d[0]['scenario'], d[0]['version'], d[0]['degraded']]" "$DOC")"
check "reasons logged" blocked_ip "$(j "d[0]['reasons'][0]['rule']" "$DOC")"
check "card.number redacted" "[redacted]" "$(j "d[0]['event']['card']['number']" "$DOC")"
check "user.email redacted" "[redacted]" "$(j "d[0]['event']['user']['email']" "$DOC")"
check "other fields kept" '["c1", 3, 1500]' \
	"$(j "[d[0]['event']['card']['id'], d[0]['event']['user']['age_days'], d[0]['event']['amount']]" "$DOC")"
check "batch events logged apart" '[20, 30]' "$(j "[d[5]['event']['amount'], d[6]['event']['amount']]" "$DOC")"
check "time format" 1 "$(j "int(__import__('re').fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', d[0]['time']) is not None)" "$DOC")"
check "nothing unredacted in the file" 0 "$(grep -c 4111111111111111 "$LOG")"

# ---- stdout; debug request logs on stderr ----
: >"$TMP/riskd.err"
start_riskd RISKD_DECISION_LOG=- RISKD_LOG_LEVEL=debug
post /v1/score '{"scenario":"payments","request_id":"to-stdout","event":{"amount":20}}'
check "score 200 (stdout log)" 200 "$STATUS"
stop_riskd
check "line on stdout" to-stdout "$(j "d['request_id']" "$(grep to-stdout "$TMP/riskd.out" | head -1)")"
LINE=$(grep '"msg":"request"' "$TMP/riskd.err" | grep to-stdout | head -1)
check "debug request log line" '["/v1/score", 200, "info"]' \
	"$(j "[d['endpoint'], d['status'], 'info' if d['level'] == 'debug' and d['ts'].endswith('Z') else d]" "$LINE")"
check "stderr lines are JSON" 0 "$(python3 -c 'import json,sys
bad = 0
for l in open(sys.argv[1]):
    try:
        json.loads(l)
    except ValueError:
        bad += 1
print(bad)' "$TMP/riskd.err")"

# ---- log rotation: rename the file, SIGHUP, the next line goes to a new one
ROT=$TMP/rotate.log
start_riskd RISKD_DECISION_LOG="$ROT"
post /v1/score '{"scenario":"payments","request_id":"before-rotate","event":{"amount":20}}'
for i in $(seq 1 100); do grep -q before-rotate "$ROT" 2>/dev/null && break; sleep 0.05; done
mv "$ROT" "$ROT.1"
kill -HUP "$RISKD_PID"
sleep 0.3
post /v1/score '{"scenario":"payments","request_id":"after-rotate","event":{"amount":20}}'
check "score 200 after SIGHUP" 200 "$STATUS"
for i in $(seq 1 100); do grep -q after-rotate "$ROT" 2>/dev/null && break; sleep 0.05; done
check "new file after SIGHUP has the new line" 1 "$(grep -c after-rotate "$ROT" 2>/dev/null)"
check "rotated file kept the old line" 1 "$(grep -c before-rotate "$ROT.1")"
check "rotated file has no new line" 0 "$(grep -c after-rotate "$ROT.1")"
grep -q '"ts":' <(grep listening "$TMP/riskd.err" | tail -1)
check "start-up lines carry ts" 0 "$?"
stop_riskd
check "exit 0 after rotation" 0 "$RISKD_RC"

# ---- a bad redact list stops riskd at start ----
RISKD_LISTEN=127.0.0.1:0 RISKD_DECISION_LOG="$LOG" RISKD_REDACT=a..b \
	${RISKD_WRAPPER:-} "$RISKD" >/dev/null 2>"$TMP/bad.err"
check "bad RISKD_REDACT exit 1" 1 "$?"
check "bad RISKD_REDACT message" 1 "$(grep -c RISKD_REDACT "$TMP/bad.err")"
finish
