#!/usr/bin/env bash
# store_test.sh - riskctl's store, list and key commands end to end on
# real SQLite files (SPEC §2, §5): init/migrate, import (+ --activate,
# stdin), versions, activate, rollback, the export round trip, a broken
# import leaving the store byte-for-byte unchanged, lists (arguments and
# stdin), keys (the secret never stored), the --db forms, exit codes
# 0/1/2 and --help on every command. Uses "$RISKCTL" (tests/run.sh sets
# it) behind $RISKCTL_WRAPPER (e.g. valgrind) when set. Neighbour:
# riskctl_test.sh (check, score, diff, disasm).
set -euo pipefail
cd "$(dirname "$0")/../.."
RISKCTL=${RISKCTL:-$PWD/build/riskctl}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir "$T/db"
DB=$T/db/r.db
export RISKD_DB=$DB

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
check() { echo "check: $*"; }
# run CODE ARGS... [< input]: riskctl's stdout in $T/out, stderr in $T/err.
run() {
	local want=$1; shift
	local got=0
	${RISKCTL_WRAPPER:-} "$RISKCTL" "$@" >"$T/out" 2>"$T/err" || got=$?
	if [ "$got" != "$want" ]; then
		sed 's/^/  stdout: /' "$T/out" >&2
		sed 's/^/  stderr: /' "$T/err" >&2
		fail "riskctl $* exited $got, want $want"
	fi
}
out_is() { [ "$(cat "$T/out")" = "$1" ] || fail "stdout is '$(cat "$T/out")', want '$1' ($2)"; }
out_has() { grep -Eq -- "$1" "$T/out" || { cat "$T/out" >&2; fail "stdout lacks /$1/ ($2)"; }; }
err_has() { grep -Fq -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr lacks '$1' ($2)"; }; }
sql() { sqlite3 "$DB" "$1"; }
dump() { sqlite3 "$DB" .dump | sha256sum; }

cat >"$T/pay.json" <<'EOF'
{
  "scenario": "pay",
  "description": "Card payments",
  "thresholds": {"review": 50, "decline": 80},
  "lists": {"blocked_ips": ["203.0.113.7"], "vip": ["u1"], "risky": ["KP"]},
  "rules": [
    {"id": "blocked_ip", "when": "ip in @blocked_ips", "action": "decline", "reason": "IP on block list"},
    {"id": "high_amount", "when": "amount > 1000", "score": 30, "tags": ["amount"]},
    {"id": "odd_country", "when": "country in @risky", "score": 20, "mode": "shadow"}
  ]
}
EOF
sed 's/"amount > 1000", "score": 30/"amount > 500", "score": 40/' "$T/pay.json" >"$T/pay2.json"
cat >"$T/broken.json" <<'EOF'
{
  "scenario": "pay",
  "lists": {"blocked_ips": ["198.51.100.9"]},
  "rules": [
    {"id": "fine", "when": "amount > 10", "score": 10},
    {"id": "bad_fn", "when": "amount > 1 and\n  nosuch(ip)", "score": 10},
    {"id": "bad_list", "when": "ip in @missing"}
  ]
}
EOF

check "usage errors exit 2, --help exits 0 on every command"
run 2
err_has "usage: riskctl" "usage on stderr"
run 2 frobnicate
err_has "unknown command 'frobnicate'" "unknown command named"
run 2 --bogus init
run 2 init --db
err_has "--db needs a PATH" "--db without PATH"
run 0 --help
out_has "^  init " "riskctl --help lists the commands"
for c in init check import activate rollback versions export list key \
	 score diff disasm; do
	run 0 "$c" --help
	out_has "^usage: riskctl" "$c --help"
	[ ! -s "$T/err" ] || fail "$c --help wrote to stderr"
done
[ ! -e "$DB" ] || fail "--help created a store"
ok "usage and help"

check "a missing store is reported, not created"
for args in "versions pay" "import $T/pay.json" "list show vip" "key list" \
	    "export pay" "rollback pay" "activate pay 1"; do
	# shellcheck disable=SC2086
	run 1 $args
	err_has "riskctl init" "$args names riskctl init"
done
[ ! -e "$DB" ] || fail "a failing command created the store"
echo "not a database, just text" >"$T/db/junk.db"
run 1 --db "$T/db/junk.db" init
err_has "junk.db" "a bad file is named"
ok "missing store"

check "init creates, then migrates idempotently"
run 0 init
out_has "schema version 1" "init prints the schema version"
run 0 init
out_has "schema version 1" "second init"
run 2 init extra
[ "$(sql 'PRAGMA user_version')" = 1 ] || fail "user_version is 1"
[ "$(sql 'PRAGMA journal_mode')" = wal ] || fail "WAL mode"
for t in scenarios versions rules activations lists list_items api_keys; do
	[ "$(sql "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='$t'")" = 1 ] ||
		fail "table $t"
done
ok "init"

check "import stores the next version and prints its number alone"
run 0 import "$T/pay.json"
out_is 1 "first version"
run 1 export pay
err_has "no active version" "nothing active yet"
run 0 import "$T/pay2.json" --activate
out_is 2 "second version"
run 0 import --activate - <"$T/pay.json"
out_is 3 "import from stdin"
[ "$(sql "SELECT active_version FROM scenarios WHERE name='pay'")" = 3 ] || fail "3 active"
[ "$(sql "SELECT count(*) FROM rules WHERE scenario='pay' AND version=2")" = 3 ] || fail "rules rows"
[ "$(sql "SELECT tags FROM rules WHERE scenario='pay' AND version=2 AND id='high_amount'")" = '["amount"]' ] ||
	fail "tags as JSON"
[ "$(sql "SELECT when_expr FROM rules WHERE version=2 AND idx=1")" = "amount > 500" ] || fail "when stored"
[ "$(sql "SELECT checksum FROM versions WHERE version=1")" = "$(sql "SELECT checksum FROM versions WHERE version=3")" ] ||
	fail "same definition, same checksum"
[ "$(sql "SELECT checksum FROM versions WHERE version=1")" != "$(sql "SELECT checksum FROM versions WHERE version=2")" ] ||
	fail "different definitions, different checksums"
sql "SELECT definition FROM versions WHERE version=1" | grep -q '"lists"' &&
	fail "stored definitions carry no lists"
run 2 import
run 2 import a.json b.json
run 2 import "$T/pay.json" --frob
run 1 import "$T/nonexistent.json"
err_has "nonexistent.json" "missing file named"
ok "import"

check "versions prints a table with the active marker"
run 0 versions pay
out_has "^  VERSION +CREATED \(UTC\) +RULES +CHECKSUM +DESCRIPTION" "header"
sum1=$(sql "SELECT substr(checksum, 1, 12) FROM versions WHERE version=1")
out_has "^  1 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +3 +$sum1 Card payments$" "row of version 1"
out_has "^\* 3 " "version 3 active"
[ "$(grep -c '^\*' "$T/out")" = 1 ] || fail "exactly one active"
run 1 versions nosuch
err_has "no scenario 'nosuch'" "unknown scenario"
run 2 versions
run 2 versions a b
ok "versions"

check "activate and rollback walk the activation history"
run 0 activate pay 1
run 0 versions pay
out_has "^\* 1 " "1 active"
run 0 rollback pay
out_is 3 "rollback returns to the version active before"
run 0 rollback pay
out_is 1 "a second rollback undoes the first"
run 0 activate pay 2
run 0 rollback pay
out_is 1 "rollback from 2 goes back to 1"
[ "$(sql "SELECT active_version FROM scenarios WHERE name='pay'")" = 1 ] || fail "store agrees"
run 1 activate pay 9
err_has "scenario 'pay' has no version 9" "unknown version"
run 1 activate nosuch 1
run 1 rollback nosuch
err_has "no scenario 'nosuch'" "rollback of an unknown scenario"
for bad in "activate pay" "activate pay x" "activate pay 0" "activate pay -1" \
	   "activate pay 1 2" "rollback" "rollback a b"; do
	# shellcheck disable=SC2086
	run 2 $bad
done
sed 's/"pay"/"solo"/' "$T/pay.json" >"$T/solo.json"
run 0 import "$T/solo.json" --activate
out_is 1 "a new scenario starts at version 1"
run 1 rollback solo
err_has "no earlier active version" "nothing to roll back to"
ok "activate and rollback"

check "a broken import stores nothing and locates every error"
before=$(dump)
run 1 import "$T/broken.json" --activate
err_has "broken.json: rule 'bad_fn' line 2 col 3: unknown function 'nosuch'" "unknown function located"
err_has "broken.json: rule 'bad_list' line 1 col 7: unknown list '@missing'" "unknown list located"
[ ! -s "$T/out" ] || fail "no version number printed"
[ "$before" = "$(dump)" ] || fail "broken import changed the store"
printf '{"scenario": "pay", "rules": [,]}' >"$T/badjson.json"
run 1 import "$T/badjson.json"
err_has "badjson.json: line 1 col" "JSON error located"
printf '{"scenario": "pay", "rules": [{"id": "x", "when": "a > 1", "score": "high"}]}' >"$T/badfield.json"
run 1 import "$T/badfield.json"
err_has "rules[0].score" "field error located"
[ "$before" = "$(dump)" ] || fail "refused imports changed the store"
ok "broken import"

check "export writes a file that imports back to an identical version"
run 0 activate pay 2
run 0 export pay
cp "$T/out" "$T/export.json"
out_has '"blocked_ips"' "the lists the rules use are exported"
grep -q '"vip"' "$T/export.json" && fail "a list no rule uses is not exported"
run 0 import "$T/export.json"
v=$(cat "$T/out")
[ "$(sql "SELECT checksum FROM versions WHERE version=$v")" = "$(sql "SELECT checksum FROM versions WHERE version=2")" ] ||
	fail "re-imported export has the checksum of version 2"
run 0 export pay --version "$v"
cmp -s "$T/out" "$T/export.json" || fail "export of the re-import is identical"
run 0 export pay --version 1
cmp -s "$T/out" "$T/export.json" && fail "--version picks the version"
run 0 export --version 1 pay
run 1 export pay --version 99
err_has "no version 99" "unknown version"
run 1 export nosuch
run 2 export
run 2 export pay --version
run 2 export pay --version x
ok "export round trip (version $v)"

check "lists: the file's lists replace, add/remove/show by arguments and stdin"
run 0 list show blocked_ips
out_is "203.0.113.7" "imported list"
run 0 list add blocked_ips 198.51.100.2 198.51.100.1 198.51.100.2
run 0 list show blocked_ips
out_is "$(printf '198.51.100.1\n198.51.100.2\n203.0.113.7')" "sorted, no duplicates"
printf '10.0.0.2\n\n 10.0.0.1\r\n   \n' | run 0 list add blocked_ips
run 0 list show blocked_ips
[ "$(wc -l <"$T/out")" = 5 ] || fail "stdin items added, blank lines ignored ($(wc -l <"$T/out"))"
grep -qx "10.0.0.1" "$T/out" || fail "CR stripped"
grep -q "^ *$" "$T/out" && fail "a blank item"
run 0 list remove blocked_ips 10.0.0.1
printf '10.0.0.2\n' | run 0 list remove blocked_ips
run 0 list show blocked_ips
grep -q "^10\." "$T/out" && fail "items removed"
run 0 list add risky IR KP
run 0 list show risky
out_is "$(printf 'IR\nKP')" "added to an imported list"
run 0 list add extra a
run 0 list show extra
out_is a "a new list"
printf '' | run 0 list add empty_list
run 0 list show empty_list
out_is "" "an empty list exists"
run 0 import "$T/pay.json"
run 0 list show blocked_ips
out_is "203.0.113.7" "an import replaces the lists its file carries"
run 0 list show risky
out_is KP "every list the file carries is replaced"
run 0 list show extra
out_is a "lists the file does not carry are kept"
run 0 list show empty_list
out_is "" "empty lists are kept"
run 1 list show nosuch
err_has "no list 'nosuch'" "unknown list"
run 1 list remove nosuch x
run 1 list add "bad name" x
err_has "is not a list name" "list names are identifiers"
for bad in "list" "list add" "list frob x" "list show" "list show vip extra"; do
	# shellcheck disable=SC2086
	run 2 $bad
done
ok "lists"

check "keys: printed once, only a SHA-256 stored, list, revoke"
run 0 key create --role admin --name ops
key=$(cat "$T/out")
[[ $key =~ ^rk_[A-Za-z0-9_-]{43}$ ]] || fail "key format: $key"
[ "$(wc -l <"$T/out")" = 1 ] || fail "only the key on stdout"
grep -rqF -- "$key" "$T/db" && fail "the secret is in the database files"
grep -rqF -- "${key#rk_}" "$T/db" && fail "the secret's body is in the database files"
[ "$(sql "SELECT hash FROM api_keys WHERE name='ops'")" = "$(printf %s "$key" | sha256sum | cut -d' ' -f1)" ] ||
	fail "sha256 hex stored"
[ "$(sql "SELECT prefix FROM api_keys WHERE name='ops'")" = "${key:0:10}" ] || fail "prefix"
run 0 key create --name shop --role score
key2=$(cat "$T/out")
[ "$key" != "$key2" ] || fail "keys differ"
run 0 key create --role score
run 1 key create --role score --name ops
err_has "exists already" "duplicate name"
run 1 key create --role score --name 123
for bad in "key" "key frob" "key create" "key create --role root" \
	   "key create --role" "key create --role score --name" "key list x" \
	   "key revoke" "key revoke a b"; do
	# shellcheck disable=SC2086
	run 2 $bad
done
run 0 key list
out_has "^ID +NAME +ROLE +PREFIX +CREATED \(UTC\) +STATE" "header"
out_has "^1 +ops +admin +${key:0:10} .* active$" "row of ops"
out_has "^3 +- +score " "an unnamed key"
grep -qF -- "$key" "$T/out" && fail "key list shows the secret"
run 0 key revoke ops
run 1 key revoke ops
err_has "no active key 'ops'" "revoked twice"
run 0 key revoke 3
run 1 key revoke 99
run 0 key list
out_has "^1 +ops .* revoked$" "ops revoked"
out_has "^2 +shop .* active$" "shop untouched"
out_has "^3 .* revoked$" "revoked by id"
[ "$(sql "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL")" = 2 ] || fail "rows kept, revoked_at set"
ok "keys"

check "--db before or after the command, --db=, \$RISKD_DB"
other=$T/db/other.db
run 0 --db "$other" init
run 0 import "$T/pay.json" --db "$other"
out_is 1 "--db after the command"
run 0 --db="$other" versions pay
out_has "^  1 " "--db="
RISKD_DB=$other run 0 list show vip
out_is u1 "\$RISKD_DB"
[ "$(sql "SELECT max(version) FROM versions WHERE scenario='pay'")" -gt 1 ] || fail "default store untouched"
ok "--db"

check "concurrent imports queue on the write lock and get distinct versions"
par=$T/db/par.db
run 0 --db "$par" init
pids=()
for i in 1 2 3 4 5 6; do
	${RISKCTL_WRAPPER:-} "$RISKCTL" --db "$par" import "$T/pay.json" --activate \
		>"$T/par.$i" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent import failed"; done
[ "$(sort -n "$T"/par.* | tr '\n' ' ')" = "1 2 3 4 5 6 " ] ||
	fail "versions 1..6 once each: $(cat "$T"/par.* | tr '\n' ' ')"
[ "$(sqlite3 "$par" "SELECT count(*) FROM activations")" = 6 ] || fail "six activations"
ok "concurrent imports"

echo "store_test: all checks passed"
