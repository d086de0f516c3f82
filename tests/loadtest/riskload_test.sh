#!/usr/bin/env bash
# riskload_test.sh - the load tester against the real riskd on loopback:
# open and closed loop, the JSON report's fields, per-second CSV, SLO
# pass and miss, usage errors, connection failures counted as errors,
# and coordinated omission: riskd stopped (SIGSTOP) for 100 ms every
# second must show as a P99 of tens of milliseconds, not microseconds;
# --print-velocity's history is well formed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RISKD=${RISKD:-$PWD/$BUILD/riskd}
RISKCTL=${RISKCTL:-$PWD/$BUILD/riskctl}
RISKLOAD=${RISKLOAD:-$PWD/$BUILD/riskload}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -CONT "$PID" 2>/dev/null; [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
field() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

export RISKD_DB=$T/r.db
"$RISKCTL" init >/dev/null
"$RISKCTL" import schemas/examples/payments.json --activate >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$RISKD" --listen "127.0.0.1:$PORT" --max-deadline-ms 1000 >"$T/riskd.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.05; done
URL=http://127.0.0.1:$PORT/v1/score

# --print-velocity: a full window (60 buckets) per count/sum velocity of
# the generated set on card.id / user.id, aligned, newest the current
# bucket, each key with its expiry (the steady state `make loadtest`
# seeds with HISTORY).
"$RISKLOAD" --print-velocity 2 >"$T/vel.resp"
python3 - "$T/vel.resp" <<'PY' || fail "--print-velocity output"
import sys, time
data = open(sys.argv[1], "rb").read()
cmds, i = [], 0
while i < len(data):
    assert data[i:i+1] == b"*"
    j = data.index(b"\r\n", i); n = int(data[i+1:j]); i = j + 2; args = []
    for _ in range(n):
        assert data[i:i+1] == b"$"
        j = data.index(b"\r\n", i); l = int(data[i+1:j]); i = j + 2
        args.append(data[i:i+l].decode()); i += l + 2
    cmds.append(args)
want = {("card_txn_1h", 3600000, "c"), ("card_amount_24h", 86400000, "s"),
        ("user_txn_10m", 600000, "c")}
seen = set(); now = time.time() * 1000
for c in cmds:
    if c[0] == "PEXPIRE":
        continue
    assert c[0] == "HSET" and len(c) == 2 + 120, c[:2]
    _, _, name, ent, agg = c[1].split(":")
    w = [x for x in want if x[0] == name][0][1]; b = w // 60
    starts = sorted(int(x) for x in c[2::2])
    assert all(s % b == 0 for s in starts) and len(set(starts)) == 60
    assert starts[-1] - starts[0] == 59 * b and now - b <= starts[-1] <= now
    seen.add((name, w, agg, ent))
assert {(n, w, a) for n, w, a, _ in seen} == want, seen
assert sorted({e for *_, e in seen}) == ["card_0", "card_1", "user_0", "user_1"]
pex = [c for c in cmds if c[0] == "PEXPIRE"]
assert len(pex) == 6 and all(int(c[2]) > 0 for c in pex)
PY
ok "--print-velocity: 60 aligned buckets per count/sum velocity, with expiries"

set +e
"$RISKLOAD" >/dev/null 2>&1; [ $? = 2 ] || fail "no URL is a usage error"
"$RISKLOAD" -u ftp://x >/dev/null 2>&1; [ $? = 2 ] || fail "bad URL is a usage error"
"$RISKLOAD" -u "$URL" --slo p99=fast >/dev/null 2>&1; [ $? = 2 ] || fail "bad SLO is a usage error"
"$RISKLOAD" --help | grep -q "open loop" || fail "--help"
set -e
ok "usage"

# Open loop, generated events: every request answered, fields present.
"$RISKLOAD" -u "$URL" -r 500 -d 2 -c 4 -t 1 --json "$T/o.json" --csv "$T/o.csv" --slo p99=500ms >"$T/o.txt"
[ "$(field "$T/o.json" "d['requests']")" = 1000 ] || fail "1000 requests at 500/s for 2 s"
[ "$(field "$T/o.json" "d['errors']")" = 0 ] || fail "no errors"
[ "$(field "$T/o.json" "d['status']['200']")" = 1000 ] || fail "status counts"
[ "$(field "$T/o.json" "sum(d['decisions'].values())")" = 1000 ] || fail "decisions counted"
field "$T/o.json" "[d[k] for k in ('duration_s','rate','target_rate')] and [d['latency_us'][k] for k in ('p50','p90','p99','p999','p9999','max')]" >/dev/null
[ "$(field "$T/o.json" "1 if d['latency_us']['p50'] <= d['latency_us']['p99'] <= d['latency_us']['max'] else 0")" = 1 ] || fail "ordered percentiles"
grep -q "slo        p99 <= 500000 us" "$T/o.txt" || fail "SLO line"
[ "$(sed -n 2p "$T/o.csv" | cut -d, -f2)" = 500 ] || fail "CSV second 0 has 500 requests"
ok "open loop: counts, JSON report, CSV, SLO met"

# An SLO that cannot be met exits 1.
set +e
"$RISKLOAD" -u "$URL" -r 200 -d 1 -c 2 -t 1 --slo p50=1us >/dev/null; rc=$?
set -e
[ $rc = 1 ] || fail "missed SLO exits 1 (got $rc)"
ok "missed SLO exits 1"

# Closed loop from an NDJSON file of bare events.
printf '{"amount": 5}\n{"amount": 5000, "ip": "203.0.113.7"}\n' >"$T/ev.ndjson"
"$RISKLOAD" -u "$URL" -r 0 -d 1 -c 4 -t 2 -f "$T/ev.ndjson" --scenario payments --json "$T/c.json" >/dev/null
[ "$(field "$T/c.json" "1 if d['requests'] > 200 and d['errors'] == 0 else 0")" = 1 ] || fail "closed loop"
[ "$(field "$T/c.json" "1 if d['decisions']['decline'] > 0 and d['decisions']['approve'] > 0 else 0")" = 1 ] || fail "file events scored"
ok "closed loop from a file"

# Coordinated omission: stall riskd 100 ms every second at 1,000 req/s.
"$RISKLOAD" -u "$URL" -r 1000 -d 4 -c 8 -t 1 --json "$T/s.json" >/dev/null &
LP=$!
sleep 0.3
for _ in 1 2 3 4; do kill -STOP "$PID"; sleep 0.1; kill -CONT "$PID"; sleep 0.9; done
wait $LP || true
p99=$(field "$T/s.json" "d['latency_us']['p99']")
[ "$p99" -ge 20000 ] || fail "stalls hidden: p99 $p99 us"
ok "stalls show: p99 $p99 us with 100 ms stalls every second"

# A server that is gone: every request is an error, exit 1.
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
set +e
"$RISKLOAD" -u "$URL" -r 100 -d 1 -c 2 -t 1 --json "$T/e.json" >/dev/null; rc=$?
set -e
[ $rc = 1 ] || fail "connection failures exit 1"
[ "$(field "$T/e.json" "1 if d['errors'] == d['requests'] and d['requests'] > 50 else 0")" = 1 ] || fail "connection failures counted"
ok "connection failures counted"
echo "riskload: all checks passed"
