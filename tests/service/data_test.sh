#!/usr/bin/env bash
# data_test.sh - the data tier end to end against real redis-server
# processes and two riskd instances sharing them (SPEC §2, §6, §7):
# feature miss, PUT on one instance seen by the other (L1 invalidation
# over pub/sub), an external writer using the documented key layout,
# GET with source tier, L1 hits, exact velocity counts across instances,
# simulate records nothing, /v1/regions, /readyz, /metrics; then the
# embedded default with no Redis (L1 only, velocity in process).
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { fail "redis-server not installed"; finish; }

# shared_redis VAR : .ci/run's server RISKD_TEST_REDIS_VAR, flushed, when
# set (VAR_PORT); else one of the test's own (lib.sh start_redis).
shared_redis() {
	local shared
	eval "shared=\${RISKD_TEST_REDIS_$1:-}"
	if [ -z "$shared" ]; then
		start_redis "$1"
		return
	fi
	eval "$1_PORT=${shared##*:}; $1_PID="
	redis-cli -p "${shared##*:}" flushall >/dev/null
}

init_store
shared_redis A
shared_redis B
REGIONS="a=127.0.0.1:$A_PORT,b=127.0.0.1:$B_PORT"
start_riskd RISKD_REGIONS="$REGIONS" RISKD_REGION=a RISKD_DECISION_LOG=
B1=$BASE; P1=$RISKD_PID; PIDS+=($P1)
start_riskd RISKD_REGIONS="$REGIONS" RISKD_REGION=a RISKD_DECISION_LOG=
B2=$BASE; P2=$RISKD_PID; PIDS+=($P2)

ev() {  # ev CARD AMOUNT [IP] : a payment envelope
	echo "{\"scenario\":\"payments\",\"event\":{\"amount\":$2,\"card\":{\"id\":\"$1\",\"country\":\"US\"},\"user\":{\"id\":\"u_$1\",\"age_days\":400},\"ip\":\"${3:-198.51.100.9}\",\"ip_country\":\"US\"}}"
}
score() {  # score BASE CARD AMOUNT [IP] (explain)
	BASE=$1 post "/v1/score?explain=true" "$(ev "$2" "$3" "${4:-}")"
}
rules_hit() { j '",".join(sorted(x["rule"] for x in d["reasons"]))'; }
input_of() {  # input_of RULE PATH FIELD
	j "[i[\"$3\"] for t in d[\"explain\"] if t[\"rule\"]==\"$1\" for i in t.get(\"inputs\",[]) if i[\"path\"]==\"$2\"][0]"
}

# --- regions, readiness
BASE=$B1 req GET /v1/regions
check "regions 200" 200 "$STATUS"
check "regions active a" a "$(j 'd["active"]')"
check "regions both up" "up,up" "$(j '",".join(r["state"] for r in d["regions"])')"
check "regions roles" "home,standby" "$(j '",".join(r["role"] for r in d["regions"])')"
BASE=$B1 req GET /readyz
check "readyz with Redis" 200 "$STATUS"
check "readyz names the region" a "$(j 'd["region"]')"

# --- a feature miss, then PUT on instance 1 seen by instance 2
score "$B2" c1 50
check "miss: 200" 200 "$STATUS"
check "miss: no chargeback rule" "" "$(rules_hit | tr ',' '\n' | grep chargeback_history)"
check "miss: value null" null "$(input_of chargeback_history features.card.chargebacks_90d value)"
check "miss: region in answer" a "$(j 'd["region"]')"
check "miss: not degraded" false "$(j 'd["degraded"]')"
BASE=$B1 req PUT /v1/features/card/c1 -H 'Content-Type: application/json' \
	--data-binary '{"chargebacks_90d": 3, "country": "US", "vip": false}'
check "PUT features 200" 200 "$STATUS"
check "PUT wrote redis" redis "$(j 'd["tier"]')"
check "redis holds JSON values" 3 "$(redis-cli -p "$A_PORT" hget riskd:f:card:c1 chargebacks_90d)"
check "redis string value" '"US"' "$(redis-cli -p "$A_PORT" hget riskd:f:card:c1 country)"
ok=0
for i in $(seq 1 40); do   # invalidation travels over pub/sub
	score "$B2" c1 50
	if rules_hit | grep -q chargeback_history; then ok=1; break; fi
	sleep 0.05
done
check "instance 2 sees the PUT (invalidated its negative entry)" 1 "$ok"
check "value 3" 3 "$(input_of chargeback_history features.card.chargebacks_90d value)"
score "$B2" c1 50
check "second read is an L1 hit" l1 "$(input_of chargeback_history features.card.chargebacks_90d source)"
BASE=$B2 req GET /v1/features/card/c1
check "GET 200" 200 "$STATUS"
check "GET values" '{"chargebacks_90d": 3, "country": "US", "vip": false}' "$(j 'd["values"]')"
check "GET source l1" l1 "$(j 'd["source"]')"
BASE=$B1 req GET /v1/features/card/nope
check "GET unknown 404" 404 "$STATUS"
check "GET unknown code" not_found "$(j 'd["error"]["code"]')"
BASE=$B1 req PUT /v1/features/card/c1 -H 'Content-Type: application/json' --data-binary '{"x": {"nested": 1}}'
check "PUT nested value 400" 400 "$STATUS"
BASE=$B1 req PUT /v1/features/card/c1 -H 'Content-Type: application/json' --data-binary '[1]'
check "PUT non-object 400" 400 "$STATUS"

# --- an external writer: the documented layout plus the invalidation
score "$B1" c2 50
check "c2 before: no chargeback" "" "$(rules_hit | tr ',' '\n' | grep chargeback_history)"
redis-cli -p "$A_PORT" hset riskd:f:card:c2 chargebacks_90d 5 >/dev/null
redis-cli -p "$A_PORT" publish riskd:invalidate riskd:f:card:c2 >/dev/null
ok=0
for i in $(seq 1 40); do
	score "$B1" c2 50
	if rules_hit | grep -q chargeback_history; then ok=1; break; fi
	sleep 0.05
done
check "external write + publish is seen" 1 "$ok"
redis-cli -p "$A_PORT" hset riskd:f:card:c2 country US note 12abc >/dev/null
BASE=$B2 req GET /v1/features/card/c2
check "GET from Redis" redis "$(j 'd["source"]')"
check "non-JSON hash values read as strings" '["US", "12abc", 5]' \
	"$(j '[d["values"]["country"], d["values"]["note"], d["values"]["chargebacks_90d"]]')"

# --- velocity: exact counts across the two instances
for i in 0 1 2 3 4 5; do
	if [ $((i % 2)) = 0 ]; then b=$B1; else b=$B2; fi
	score "$b" v1 10
	check "velocity read before event $i" "$i" "$(input_of card_velocity velocity.card_txn_1h value)"
done
check "6th event hits card_velocity" 1 "$(rules_hit | tr ',' '\n' | grep -c '^card_velocity$')"
check "velocity source redis" redis "$(input_of card_velocity velocity.card_txn_1h source)"
BASE=$B1 post /v1/simulate "$(ev v1 10)"
check "simulate 200" 200 "$STATUS"
score "$B2" v1 10
check "simulate recorded nothing" 6 "$(input_of card_velocity velocity.card_txn_1h value)"
check "sum across instances" 60 "$(input_of card_spend_24h velocity.card_amount_24h value)"
for c in k1 k2 k3 k4 k5; do score "$B1" "$c" 5 203.0.113.50; done
check "distinct cards per IP" 4 "$(input_of ip_many_cards velocity.ip_cards_1d value | sed 's/\.0$//')"
check "ip_many_cards fires" 1 "$(rules_hit | tr ',' '\n' | grep -c '^ip_many_cards$')"

# --- queued scores share one Redis round trip (pool.h run_many)
# One worker; Redis A stopped while 48 scores of one card arrive at once:
# the first claims the card's features and sends its round on its HTTP
# loop; the others need the key it is fetching, which a loop may not wait
# for, so they queue for the worker: when Redis is back they go in batches
# of at most 16, each batch one round trip; velocity stays exact.
start_riskd RISKD_REGIONS="$REGIONS" RISKD_REGION=a RISKD_DECISION_LOG= \
	RISKD_THREADS=1 RISKD_REDIS_TIMEOUT_MS=900 RISKD_HEALTH_TIMEOUT_MS=1000
B3=$BASE; P3=$RISKD_PID; PIDS+=($P3)
score "$B3" warm 1
BASE=$B3 req GET /metrics
rounds0=$(awk '/^riskd_redis_duration_seconds_count/ {print $2}' <<<"$BODY")
APID=$(redis-cli -p "$A_PORT" info server | awk -F: '/^process_id/ {print $2+0}')
kill -STOP "$APID"
python3 - "$PORT" "$(ev burst 10)" >"$TMP/burst.out" <<'PY' &
import http.client, json, sys, threading
port, body = int(sys.argv[1]), sys.argv[2]
out, lock = [], threading.Lock()
def one():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/v1/score", body, {"Content-Type": "application/json", "X-Deadline-Ms": "1000"})
    r = c.getresponse(); d = json.loads(r.read())
    with lock: out.append((r.status, d.get("degraded")))
ts = [threading.Thread(target=one) for _ in range(48)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(1 for s, g in out if s == 200 and g is False))
PY
burst=$!
sleep 0.3
kill -CONT "$APID"
wait "$burst"
check "batched: 48 answered 200, not degraded" 48 "$(cat "$TMP/burst.out")"
BASE=$B3 req GET /metrics
rounds1=$(awk '/^riskd_redis_duration_seconds_count/ {print $2}' <<<"$BODY")
rounds=$((rounds1 - rounds0))
check "batched: 48 scores in at most 8 round trips" 1 "$([ "$rounds" -ge 4 ] && [ "$rounds" -le 8 ] && echo 1)"
check "batched: the scores counted per round trip" 49 \
	"$(awk '/^riskd_redis_fetch_requests_total/ {print $2}' <<<"$BODY")"
sleep 0.3   # the recorder's batch
score "$B3" burst 10
check "batched: velocity exact" 48 "$(input_of card_velocity velocity.card_txn_1h value)"

# --- scores of distinct cards wait for Redis on their HTTP loops
# (cache/rpipe.h): Redis A stopped while 40 scores of 40 cards arrive at
# once: none goes to the worker, each is a round on its loop's pipe, all
# are answered when Redis is back, and each card's velocity is recorded
# through the pipe exactly once.
metric() { awk -v k="$1" 'index($0, k " ") == 1 {print $2}' <<<"$BODY"; }
BASE=$B3 req GET /metrics
onloop0=$(metric 'riskd_inline_requests_total{outcome="redis"}')
deferred0=$(metric 'riskd_inline_requests_total{outcome="deferred"}')
kill -STOP "$APID"
python3 - "$PORT" >"$TMP/loops.out" <<'PY' &
import http.client, json, sys, threading
port = int(sys.argv[1])
out, lock = [], threading.Lock()
def one(i):
    body = json.dumps({"scenario": "payments", "event": {"amount": 10,
        "card": {"id": "loop%d" % i, "country": "US"},
        "user": {"id": "u_loop%d" % i, "age_days": 400},
        "ip": "198.51.100.9", "ip_country": "US"}})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/v1/score", body, {"Content-Type": "application/json", "X-Deadline-Ms": "1000"})
    r = c.getresponse(); d = json.loads(r.read())
    with lock: out.append((r.status, d.get("degraded")))
ts = [threading.Thread(target=one, args=(i,)) for i in range(40)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(1 for s, g in out if s == 200 and g is False))
PY
loops=$!
sleep 0.3
kill -CONT "$APID"
wait "$loops"
check "loops: 40 answered 200, not degraded" 40 "$(cat "$TMP/loops.out")"
BASE=$B3 req GET /metrics
check "loops: all 40 on the HTTP loops" 40 \
	"$(( $(metric 'riskd_inline_requests_total{outcome="redis"}') - onloop0 ))"
check "loops: none deferred to the worker" 0 \
	"$(( $(metric 'riskd_inline_requests_total{outcome="deferred"}') - deferred0 ))"
score "$B3" loop7 10
check "loops: velocity recorded once" 1 "$(input_of card_velocity velocity.card_txn_1h value)"

# --- metrics
BASE=$B1 req GET /metrics
check "metrics: L1 hits" 1 "$(echo "$BODY" | grep -c '^riskd_cache_lookups_total{tier="l1",result="hit"}')"
check "metrics: region up" 1 "$(echo "$BODY" | grep -c '^riskd_region_up{region="a",active="true"} 1')"
check "metrics: redis latency" 1 "$(echo "$BODY" | grep -c '^riskd_redis_duration_seconds_count')"
# velocity lives in Redis: a score started on its HTTP loop does its
# round trip on the loop's pipe and is answered there
onloop=$(awk '/^riskd_inline_requests_total\{outcome="redis"\}/ {print $2}' <<<"$BODY")
check "metrics: Redis reads on the HTTP loops" 1 "$([ "${onloop:-0}" -gt 0 ] && echo 1)"

kill -TERM "$P1" "$P2" "$P3"
wait "$P1"; check "instance 1 exit 0" 0 "$?"
wait "$P2"; check "instance 2 exit 0" 0 "$?"
wait "$P3"; check "instance 3 (batches) exit 0" 0 "$?"

# --- no region reachable: answers are degraded, never errors
DEAD=$(free_port)
start_riskd RISKD_REGIONS="a=127.0.0.1:$DEAD" RISKD_DECISION_LOG=
req GET /readyz
check "dead Redis: readyz 503" 503 "$STATUS"
check "dead Redis: readyz says why" 1 "$(echo "$BODY" | grep -c 'no Redis region reachable')"
score "$BASE" c1 50
check "dead Redis: score 200" 200 "$STATUS"
check "dead Redis: degraded" true "$(j 'd["degraded"]')"
check "dead Redis: reasons" '["features_unavailable", "velocity_unavailable"]' "$(j 'sorted(d["degraded_reasons"])')"
check "dead Redis: feature null" null "$(input_of chargeback_history features.card.chargebacks_90d value)"
req PUT /v1/features/card/c1 -H 'Content-Type: application/json' --data-binary '{"n": 1}'
check "dead Redis: PUT 503" 503 "$STATUS"
BASE=$BASE req GET /metrics
check "dead Redis: degraded counted" 1 "$(echo "$BODY" | grep -c '^riskd_degraded_total [1-9]')"
stop_riskd
check "dead Redis: exit 0" 0 "$RISKD_RC"

# --- the embedded default: no Redis
start_riskd RISKD_DECISION_LOG=
BASE=$BASE req GET /v1/regions
check "no Redis: regions empty" "[]" "$(j 'd["regions"]')"
check "no Redis: redis false" false "$(j 'd["redis"]')"
req PUT /v1/features/card/c9 -H 'Content-Type: application/json' --data-binary '{"chargebacks_90d": 1}'
check "no Redis: PUT into L1" l1 "$(j 'd["tier"]')"
score "$BASE" c9 50
check "no Redis: feature read from L1" 1 "$(rules_hit | tr ',' '\n' | grep -c '^chargeback_history$')"
for i in 0 1 2; do score "$BASE" v9 10; done
check "no Redis: velocity in process" 2 "$(input_of card_velocity velocity.card_txn_1h value)"
check "no Redis: velocity source" process "$(input_of card_velocity velocity.card_txn_1h source)"
check "no Redis: region null" null "$(j 'd["region"]')"
stop_riskd
check "exit 0" 0 "$RISKD_RC"
finish
