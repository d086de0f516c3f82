#!/usr/bin/env bash
# rules_redis_test.sh - rule sets through Redis (SPEC §7): instance 1 on
# the SQLite store publishes what it serves to a real redis-server;
# instance 2, with no SQLite file, loads it from there, scores alike,
# follows a new version (PUBLISH notices: its periodic re-read is slowed
# to a minute), refuses a broken value written straight into Redis, takes
# the API key hashes, drops a scenario gone from the index; instance 3
# shows the periodic re-read alone; after a Redis restart instance 1
# publishes again and instance 4, started during the outage, loads.
# Key layout: docs/internals/cache.md.
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { fail "redis-server not installed"; finish; }

# wait_for DESC EXPECTED CMD [ARGS...] : polls CMD (at most WAIT_S
# seconds, default 5) until it prints EXPECTED, then checks.
wait_for() {
	local desc=$1 want=$2 got _
	shift 2
	for _ in $(seq 1 $((${WAIT_S:-5} * 20))); do
		got=$("$@")
		[ "$got" == "$want" ] && break
		sleep 0.05
	done
	check "$desc" "$want" "$got"
}

rcli() { redis-cli -p "$A_PORT" "$@"; }
version_at() {  # version_at BASE [curl args] : served payments version
	local b=$1
	shift
	BASE=$b req GET /v1/scenarios/payments "$@"
	j 'd["version"]'
}
decision_at() {  # decision_at BASE EVENT [curl args]
	local b=$1 ev=$2
	shift 2
	BASE=$b post /v1/score "{\"scenario\":\"payments\",\"event\":$ev}" \
		-H 'X-Deadline-Ms: 1000' "$@"
	echo "$(j 'd["decision"]') $(j 'd["score"]') $(j 'd["version"]')"
}
EV1='{"amount":1500,"ip":"203.0.113.7","user":{"age_days":3,"email":"ab12345@mailinator.com"},"card":{"id":"c1","country":"US"},"ip_country":"FR"}'
EV2='{"amount":1200,"user":{"age_days":0.5}}'

init_store
start_redis A
REGIONS="a=127.0.0.1:$A_PORT"

# --- instance 1: the SQLite store, publishing
start_riskd RISKD_REGIONS="$REGIONS" RISKD_DECISION_LOG=
B1=$BASE; P1=$RISKD_PID; PIDS+=("$P1")
index_names() { rcli smembers riskd:rules:index | sort | tr '\n' ' '; }
wait_for "index lists payments and the sentinel" '* payments ' index_names
VAL=$(rcli get riskd:rules:payments)
check "wrapper version 1" 1 "$(j 'd["version"]' "$VAL")"
check "wrapper file scenario" payments "$(j 'd["file"]["scenario"]' "$VAL")"
check "file carries the lists its rules use" \
	'["blocked_cards", "blocked_ips", "disposable_email_domains", "high_risk_countries", "tor_exit_ranges", "trusted_users"]' \
	"$(j 'sorted(d["file"]["lists"])' "$VAL")"
check "list items sorted" '["CU", "IR", "KP", "SY"]' \
	"$(j 'd["file"]["lists"]["high_risk_countries"]' "$VAL")"
check "key table published (no keys)" '{"keys": []}' "$(j 'd' "$(rcli get riskd:keys)")"
# The file imports back: into a scratch store, as the same definition.
j 'd["file"]' "$VAL" >"$TMP/from-redis.json"
RISKD_DB=$TMP/scratch.db riskctl init >/dev/null
check "the Redis file imports" 0 "$(RISKD_DB=$TMP/scratch.db riskctl import "$TMP/from-redis.json" --activate >/dev/null 2>&1; echo $?)"
check "export of the import = export of the store" \
	"$(riskctl export payments)" "$(RISKD_DB=$TMP/scratch.db riskctl export payments)"

# --- instance 2: no SQLite file, same Redis; re-reads only on notices
start_riskd RISKD_REGIONS="$REGIONS" RISKD_DECISION_LOG= \
	RISKD_DB="$TMP/none.db" RISKD_RELOAD_MS=60000
B2=$BASE; P2=$RISKD_PID; PIDS+=("$P2")
BASE=$B2 req GET /readyz
check "instance 2 ready" 200 "$STATUS"
check "instance 2 has one scenario" 1 "$(j 'd["scenarios"]')"
check "no SQLite file was created" no "$([ -e "$TMP/none.db" ] && echo yes || echo no)"
check "instance 2 serves version 1" 1 "$(version_at "$B2")"
D1=$(decision_at "$B1" "$EV1")
check "instance 1 decision" "decline 95 1" "$D1"
check "instance 2 decides alike" "$D1" "$(decision_at "$B2" "$EV1")"
check "instance 2 review band alike" "$(decision_at "$B1" "$EV2")" \
	"$(decision_at "$B2" "$EV2")"

# --- a new version on the store: instance 1 reloads and publishes,
# instance 2 follows the notice
python3 - "$TMP/v2.json" <<'EOF'
import json, sys
d = json.load(open("schemas/examples/payments.json"))
for r in d["rules"]:
    if r["id"] == "high_amount":
        r["score"] = 40
json.dump(d, open(sys.argv[1], "w"))
EOF
riskctl import "$TMP/v2.json" --activate >/dev/null || fail "import v2"
wait_for "instance 1 serves version 2" 2 version_at "$B1"
wait_for "instance 2 serves version 2 (notice)" 2 version_at "$B2"
check "instance 2 scores with version 2" "decline 80 2" "$(decision_at "$B2" "$EV2")"
check "instance 1 alike" "decline 80 2" "$(decision_at "$B1" "$EV2")"

# --- a broken value written straight into Redis is refused
BASE=$B2 req GET /metrics
REF0=$(echo "$BODY" | awk '/^riskd_ruleset_refused_total/ {print $2}')
rcli set riskd:rules:payments \
	'{"version":99,"file":{"scenario":"payments","rules":[{"id":"x","when":"amount >"}]}}' >/dev/null
check "PUBLISH reaches both instances" 2 "$(rcli publish riskd:rules payments)"
ok=0
for _ in $(seq 1 100); do
	BASE=$B2 req GET /metrics
	REF=$(echo "$BODY" | awk '/^riskd_ruleset_refused_total/ {print $2}')
	[ "$REF" == "$((REF0 + 1))" ] && { ok=1; break; }
	sleep 0.05
done
check "the broken version is counted as refused" 1 "$ok"
check "instance 2 keeps version 2" 2 "$(version_at "$B2")"
check "instance 2 still scores" "decline 80 2" "$(decision_at "$B2" "$EV2")"
grep -q '"rule set refused".*"version":99' "$TMP/riskd.err"
check "refusal logged" 0 $?
BASE=$B2 post /v1/admin/reload '{}'
check "admin reload re-reads Redis" 200 "$STATUS"
check "reload report: refused, still version 2" "refused 2" \
	"$(j '" ".join([d["scenarios"][0]["status"], str(d["scenarios"][0]["version"])])')"
check "wrong-scenario value refused too" 1 "$(
	rcli set riskd:rules:payments "$(rcli get riskd:rules:payments | sed 's/"payments"/"logins"/')" >/dev/null
	rcli publish riskd:rules payments >/dev/null
	sleep 0.3; version_at "$B2" | grep -c '^2$')"

# --- API keys travel as hashes
KEY=$(riskctl key create --role admin --name rr 2>/dev/null)
check "key created" rk_ "${KEY:0:3}"
wait_for "instance 2 requires a key" 401 bash -c \
	"curl -s -o /dev/null -w '%{http_code}' $B2/v1/scenarios"
check "instance 2 takes the key" 2 "$(version_at "$B2" -H "Authorization: Bearer $KEY")"
check "no key text in Redis" 0 "$(rcli get riskd:keys | grep -c -- "$KEY")"
check "instance 1 republished version 2 over the broken value" 2 \
	"$(j 'd["version"]' "$(rcli get riskd:rules:payments)")"

# --- instance 3: periodic re-read alone (a SET without PUBLISH)
start_riskd RISKD_REGIONS="$REGIONS" RISKD_DECISION_LOG= \
	RISKD_DB="$TMP/none.db" RISKD_RELOAD_MS=200
B3=$BASE; P3=$RISKD_PID; PIDS+=("$P3")
check "instance 3 serves version 2" 2 "$(version_at "$B3" -H "Authorization: Bearer $KEY")"
python3 - "$(rcli get riskd:rules:payments)" >"$TMP/v7.json" <<'EOF'
import json, sys
d = json.loads(sys.argv[1])
d["version"] = 7
print(json.dumps(d))
EOF
rcli set riskd:rules:payments "$(cat "$TMP/v7.json")" >/dev/null
wait_for "instance 3 picks up an unannounced value" 7 version_at "$B3" \
	-H "Authorization: Bearer $KEY"
check "instance 2 did not (no notice, 60 s period)" 2 \
	"$(version_at "$B2" -H "Authorization: Bearer $KEY")"

# --- Redis restarted empty: instance 1 publishes again; instance 4,
# started while Redis was down, loads once it is back
{ kill -9 "$A_PID"; wait "$A_PID"; } 2>/dev/null
start_riskd RISKD_REGIONS="$REGIONS" RISKD_DECISION_LOG= \
	RISKD_DB="$TMP/none.db" RISKD_RELOAD_MS=200
B4=$BASE; P4=$RISKD_PID; PIDS+=("$P4")
BASE=$B4 req GET /readyz
check "instance 4 not ready without Redis" 503 "$STATUS"
check "instance 2 serves through the outage" 2 \
	"$(version_at "$B2" -H "Authorization: Bearer $KEY")"
start_redis A "$A_PORT"
ready4() { BASE=$B4 req GET /readyz; echo "$STATUS"; }
WAIT_S=15 wait_for "instance 4 ready once Redis is back" 200 ready4
check "instance 4 serves version 2" 2 \
	"$(version_at "$B4" -H "Authorization: Bearer $KEY")"
check "instance 4 took the key table" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$B4/v1/scenarios")"

# --- a scenario gone from the index is removed, the last one too: the
# publisher's sentinel member "*" keeps the index in existence. Instance
# 1 (the publisher) stops first: its periodic republication would put
# payments back into the index and race the check.
RISKD_PID=$P1 stop_riskd
check "instance 1 (publisher) exits 0" 0 "$RISKD_RC"
check "the index holds the sentinel" 1 "$(rcli sismember riskd:rules:index '*')"
rcli srem riskd:rules:index payments >/dev/null
check "payments was the last scenario" '*' "$(rcli smembers riskd:rules:index)"
rcli publish riskd:rules payments >/dev/null
wait_for "instance 2 drops payments" 404 bash -c \
	"curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $KEY' $B2/v1/scenarios/payments"

# --- SIGTERM: every instance exits 0
for p in $P4 $P3 $P2; do
	RISKD_PID=$p stop_riskd
	check "instance $p exits 0" 0 "$RISKD_RC"
done
finish
