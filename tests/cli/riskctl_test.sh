#!/usr/bin/env bash
# riskctl_test.sh - riskctl end to end on real SQLite files: init, check,
# import (+ --activate), versions, activate, rollback, export round trip,
# a broken import leaving the store byte-for-byte unchanged, lists (args
# and stdin), keys (the secret never stored), score, diff, disasm, exit
# codes 0/1/2 and --help on every command. $RISKCTL_WRAPPER (e.g.
# valgrind) is put in front of every riskctl run when set.
set -euo pipefail
cd "$(dirname "$0")/../.."
RISKCTL=${RISKCTL:-$PWD/build/riskctl}
DATA=$PWD/tests/cli/data
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export RISKD_DB=$T/r.db

rc() { set +e; ${RISKCTL_WRAPPER:-} "$RISKCTL" "$@"; local c=$?; set -e; return $c; }
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_exit() { # CODE ARGS...
	local want=$1; shift
	set +e; ${RISKCTL_WRAPPER:-} "$RISKCTL" "$@" >"$T/out" 2>"$T/err"; local got=$?; set -e
	[ "$got" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "riskctl $* exited $got, want $want"; }
}

# Usage errors and help.
expect_exit 2
expect_exit 2 frobnicate
expect_exit 2 --bogus init
expect_exit 0 --help
grep -q "commands:" "$T/out" || fail "--help lists commands"
for c in init check import activate rollback versions export list key score diff disasm; do
	expect_exit 0 $c --help
	grep -q "usage: riskctl" "$T/out" || fail "$c --help"
done
ok "help and usage errors"

# A store is needed, and reported when missing.
expect_exit 1 versions payments
grep -q "riskctl init" "$T/err" || fail "missing store names riskctl init"
expect_exit 0 init
expect_exit 0 init
grep -q "schema version 1" "$T/out" || fail "init prints the schema version"
[ "$(sqlite3 "$RISKD_DB" 'PRAGMA user_version')" = 1 ] || fail "user_version"
[ "$(sqlite3 "$RISKD_DB" 'PRAGMA journal_mode')" = wal ] || fail "WAL mode"
ok "init and migrate (idempotent)"

# check: no store needed; every error located.
RISKD_DB=$T/none.db expect_exit 0 check "$DATA/payments.json"
grep -q "5 rules (4 active, 1 shadow, 0 disabled)" "$T/out" || fail "check summary"
expect_exit 1 check "$DATA/broken.json"
grep -q "broken.json: rule 'bad_syntax' line 1 col 9: unexpected end of expression" "$T/err" || fail "syntax error located"
grep -q "broken.json: rule 'bad_fn' line 2 col 3: unknown function 'foo'" "$T/err" || fail "unknown function located"
grep -q "broken.json: rule 'bad_list' line 1 col 7: unknown list '@nope'" "$T/err" || fail "unknown list located"
grep -q "3 errors, rule set refused" "$T/err" || fail "error count"
printf '{"scenario": "p", "rules": [,]}' >"$T/bad.json"
expect_exit 1 check "$T/bad.json"
grep -q "bad.json: line 1 col 29: invalid JSON at byte 28" "$T/err" || fail "JSON error located"
expect_exit 1 check "$T/missing.json"
ok "check locates every error"

# import, versions, activate, rollback.
expect_exit 0 import "$DATA/payments.json"
[ "$(cat "$T/out")" = 1 ] || fail "first version is 1"
expect_exit 1 score --scenario payments </dev/null
grep -q "no active version" "$T/err" || fail "no active version yet"
expect_exit 0 import "$DATA/payments.json" --activate
[ "$(cat "$T/out")" = 2 ] || fail "second version is 2"
expect_exit 0 versions payments
grep -Eq '^\* 2 ' "$T/out" || fail "version 2 active"
expect_exit 0 activate payments 1
expect_exit 0 versions payments
grep -Eq '^\* 1 ' "$T/out" || fail "version 1 active"
expect_exit 0 rollback payments
[ "$(cat "$T/out")" = 2 ] || fail "rollback returns to 2"
expect_exit 1 activate payments 9
grep -q "no version 9" "$T/err" || fail "unknown version"
expect_exit 2 activate payments x
expect_exit 1 versions nosuch
ok "import, versions, activate, rollback"

# A broken import changes nothing at all.
before=$(sqlite3 "$RISKD_DB" .dump | md5sum)
expect_exit 1 import "$DATA/broken.json" --activate
after=$(sqlite3 "$RISKD_DB" .dump | md5sum)
[ "$before" = "$after" ] || fail "broken import changed the store"
grep -q "rule 'bad_fn' line 2 col 3" "$T/err" || fail "import errors located"
ok "broken import leaves the store unchanged"

# export round trip: the re-imported version has the same checksum.
expect_exit 0 export payments
cp "$T/out" "$T/export.json"
grep -q '"blocked_ips"' "$T/export.json" || fail "export carries the lists the rules use"
expect_exit 0 import "$T/export.json"
v=$(cat "$T/out")
sums=$(sqlite3 "$RISKD_DB" "SELECT count(DISTINCT checksum) FROM versions WHERE scenario='payments'")
[ "$sums" = 1 ] || fail "export/import gives an identical version ($sums checksums)"
expect_exit 0 export payments --version "$v"
cmp -s "$T/out" "$T/export.json" || fail "export of the re-import is identical"
ok "export round trip (version $v identical)"

# Lists: args and stdin, remove, show, unknown.
expect_exit 0 list add blocked_ips 198.51.100.1 198.51.100.2
printf '10.0.0.1\n\n10.0.0.2\n' | rc list add blocked_ips >/dev/null
expect_exit 0 list show blocked_ips
[ "$(wc -l <"$T/out")" = 5 ] || fail "five items"
expect_exit 0 list remove blocked_ips 10.0.0.1
expect_exit 0 list show blocked_ips
grep -q 10.0.0.1 "$T/out" && fail "item removed"
expect_exit 1 list show nosuch
expect_exit 1 list remove nosuch x
expect_exit 2 list frob x
ok "lists"

# Scoring from the store sees list changes.
echo '{"event": {"ip": "198.51.100.2", "amount": 10}}' | rc score --scenario payments >"$T/out"
grep -q '"decided_by":"rule:blocked_ip"' "$T/out" || fail "store list used by score"
ok "score --scenario uses the store's lists"

# Keys: created once, only the hash stored, list, revoke.
expect_exit 0 key create --role admin --name ops
key=$(cat "$T/out")
[[ $key == rk_* ]] || fail "key format"
grep -c "$key" "$RISKD_DB" >/dev/null && fail "the secret is in the database"
[ "$(sqlite3 "$RISKD_DB" "SELECT hash FROM api_keys WHERE name='ops'")" = "$(printf %s "$key" | sha256sum | cut -d' ' -f1)" ] || fail "sha256 stored"
expect_exit 0 key create --role score
expect_exit 2 key create --role root
expect_exit 1 key create --role score --name ops
expect_exit 0 key list
grep -q "ops" "$T/out" && grep -q "active" "$T/out" || fail "key list"
grep -q "$key" "$T/out" && fail "key list shows the secret"
expect_exit 0 key revoke ops
expect_exit 1 key revoke ops
expect_exit 0 key list
grep -q "revoked" "$T/out" || fail "revoked shown"
ok "keys"

# score --rules: results per line, bad lines reported, exit 1.
cat >"$T/ev.ndjson" <<'EOT'
{"event": {"amount": 1500, "ip": "203.0.113.7", "user": {"age_days": 3}}, "velocity": {"card_txn_1h": 9}, "request_id": "r1"}
{"event": {"amount": 5}}

{"event": 5}
{oops
EOT
expect_exit 1 score --rules "$DATA/payments.json" <"$T/ev.ndjson"
[ "$(wc -l <"$T/out")" = 4 ] || fail "one output line per input line"
sed -n 1p "$T/out" | grep -q '"request_id":"r1","scenario":"payments","version":0,"decision":"decline","score":95,"decided_by":"rule:blocked_ip"' || fail "result 1"
sed -n 2p "$T/out" | grep -q '"decision":"approve","score":0,"decided_by":"score"' || fail "result 2"
sed -n 3p "$T/out" | grep -q '"request_id":"line-4","error":{"code":"bad_request"' || fail "bad envelope"
sed -n 4p "$T/out" | grep -q '"code":"bad_json"' || fail "bad json"
grep -q "scored 2 of 4 lines (2 bad)" "$T/err" || fail "summary"
expect_exit 2 score
expect_exit 2 score --rules a --scenario b
ok "score"

# diff between two stored versions.
sed 's/"amount > 1000", "score": 30/"amount > 100", "score": 60/' "$DATA/payments.json" >"$T/v2.json"
expect_exit 0 import "$T/v2.json"
v2=$(cat "$T/out")
expect_exit 0 diff --scenario payments --from 1 --to "$v2" <<'EOT'
{"event": {"amount": 500}}
{"event": {"amount": 5000}}
{"event": {"amount": 50}}
EOT
grep -q "3 events (0 bad lines skipped), 2 decisions changed" "$T/out" || fail "diff summary"
grep -Eq '^approve +1 +2 +0' "$T/out" || fail "transition matrix approve row"
grep -Eq '^high_amount +1 +2 +\+1' "$T/out" || fail "rule hits changed"
expect_exit 0 diff --rules-from "$DATA/payments.json" --rules-to "$T/v2.json" </dev/null
expect_exit 2 diff --scenario payments --from 1
ok "diff"

# disasm shows the program.
expect_exit 0 disasm "$DATA/payments.json"
grep -q "GT_SK" "$T/out" && grep -q "event.amount" "$T/out" || fail "disasm"
expect_exit 1 disasm "$DATA/broken.json"
ok "disasm"
echo "riskctl: all checks passed"
