#!/usr/bin/env bash
# golden_test.sh - the golden cases end to end through riskctl: every
# tests/golden/cases file is split into a rule-set file and envelopes,
# scored with `riskctl score --rules` (and once from a store with
# --scenario) and each output line compared with the case's expectation;
# `check` must accept every case file and report every expected error of
# tests/golden/errors; `disasm` and `diff` (files and stored versions) are
# checked too. $RISKCTL_WRAPPER (e.g. valgrind) prefixes every riskctl run.
set -uo pipefail
cd "$(dirname "$0")/../.."
RISKCTL=${RISKCTL:-$PWD/build/riskctl}
G=$PWD/tests/golden
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export RISKD_DB=$T/store.db

failures=0
# A failure is reported and counted; the script goes on to the end.
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
mark=0
# Closes a section: "ok" only if it added no failure.
ok() {
	if [ "$failures" = "$mark" ]; then echo "ok: $*"; else echo "FAILED: $*"; fi
	mark=$failures
}
# run CODE ARGS... <stdin: riskctl with stdout in $T/out, stderr in $T/err.
run() {
	local want=$1; shift
	${RISKCTL_WRAPPER:-} "$RISKCTL" "$@" >"$T/out" 2>"$T/err"
	local got=$?
	[ "$got" = "$want" ] || {
		head -c 4000 "$T/out" "$T/err" >&2
		fail "riskctl $* exited $got, want $want"
		return 1
	}
}

# split FILE DIR: DIR/rules.json, DIR/in.ndjson (request_id = case
# index), DIR/want.ndjson (expected fields), DIR/counts (rule modes).
split() {
	mkdir -p "$2"
	python3 - "$1" "$2" <<'EOF'
import json, sys
src, d = sys.argv[1], sys.argv[2]
g = json.load(open(src))
json.dump(g["rules"], open(d + "/rules.json", "w"), ensure_ascii=False)
with open(d + "/in.ndjson", "w") as fi, open(d + "/want.ndjson", "w") as fw:
    for i, c in enumerate(g["cases"]):
        env = dict(c["envelope"], request_id="c%d" % i)
        fi.write(json.dumps(env, ensure_ascii=False) + "\n")
        fw.write(json.dumps(dict(c["expect"], name=c["name"])) + "\n")
modes = [r.get("mode", "active") for r in g["rules"]["rules"]]
open(d + "/counts", "w").write("%d rules (%d active, %d shadow, %d disabled)\n" % (
    len(modes), modes.count("active"), modes.count("shadow"), modes.count("disabled")))
EOF
}

# compare OUT WANT SCENARIO VERSION RULES: every output line against the
# goldens; reasons/shadow entries carry the rule's score and reason (§6).
compare() {
	python3 - "$@" <<'EOF'
import json, sys
out, want, scen, ver = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rules = {r["id"]: r for r in json.load(open(sys.argv[5]))["rules"]}
keys = ["request_id", "scenario", "version", "decision", "score", "decided_by",
        "reasons", "shadow", "degraded"]
got = [json.loads(l) for l in open(out)]
exp = [json.loads(l) for l in open(want)]
bad = 0
if len(got) != len(exp):
    print("%d output lines for %d cases" % (len(got), len(exp))); sys.exit(1)
for i, (g, e) in enumerate(zip(got, exp)):
    have = {"request_id": g.get("request_id"), "scenario": g.get("scenario"),
            "version": g.get("version"), "degraded": g.get("degraded"),
            "decision": g.get("decision"), "score": g.get("score"),
            "decided_by": g.get("decided_by"),
            "reasons": [r.get("rule") for r in g.get("reasons", [])],
            "shadow": [r.get("rule") for r in g.get("shadow", [])]}
    should = {"request_id": "c%d" % i, "scenario": scen, "version": ver,
              "degraded": False, "decision": e["decision"], "score": e["score"],
              "decided_by": e["decided_by"], "reasons": e["reasons"],
              "shadow": e["shadow"]}
    for k in should:
        if have[k] != should[k]:
            print("%s: case \"%s\": %s: got %r, want %r" % (want, e["name"], k, have[k], should[k]))
            bad += 1
    if list(g) != keys:
        print("case \"%s\": members %s, want %s" % (e["name"], list(g), keys)); bad += 1
    for k in ("reasons", "shadow"):
        for x in g.get(k, []):
            r = rules.get(x.get("rule"), {})
            if x.get("score") != r.get("score", 0) or x.get("reason") != r.get("reason"):
                print("case \"%s\": %s entry %s: rule has score %s reason %r"
                      % (e["name"], k, x, r.get("score", 0), r.get("reason"))); bad += 1
sys.exit(1 if bad else 0)
EOF
}

# Help and usage errors of the four offline commands.
for c in check score diff disasm; do
	run 0 "$c" --help
	grep -q "^usage: riskctl $c" "$T/out" || fail "$c --help prints usage on stdout"
done
run 2 check
run 2 check a b
run 2 disasm
run 2 score
run 2 score --rules a --scenario b
run 2 score --rules a --version 2
run 2 score --scenario s --version x
run 2 diff --scenario s --from 1
run 2 diff --rules-from a
run 2 diff --scenario s --from 1 --to 2 --rules-to b
run 1 check "$T/nonexistent.json"
ok "help and usage errors"

# Every case file: check, score --rules, disasm.
n=0
for f in "$G"/cases/*.json; do
	name=$(basename "$f" .json)
	d=$T/$name
	split "$f" "$d" || { fail "cannot split $f"; continue; }
	run 0 check "$d/rules.json" || continue
	grep -qF "$(cat "$d/counts")" "$T/out" || fail "check $name: summary '$(cat "$d/counts")'"
	scen=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scenario"])' "$d/rules.json")
	run 0 score --rules "$d/rules.json" <"$d/in.ndjson"
	compare "$T/out" "$d/want.ndjson" "$scen" 0 "$d/rules.json" ||
		fail "score --rules $name"
	cases=$(wc -l <"$d/in.ndjson")
	grep -q "scored $cases of $cases lines (0 bad)" "$T/err" || fail "score summary for $name"
	run 0 disasm "$d/rules.json"
	[ -s "$T/out" ] || fail "disasm $name printed nothing"
	n=$((n + 1))
done
ok "check, score --rules and disasm agree with $n golden case files"

# The error goldens: check exits 1 and prints every expected error as
# FILE: rule 'ID' line L col C: MESSAGE.
for f in "$G"/errors/*.json; do
	name=$(basename "$f" .json)
	python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["rules"], open(sys.argv[2], "w"), ensure_ascii=False)' "$f" "$T/$name.json"
	run 1 check "$T/$name.json" || continue
	python3 - "$f" "$T/err" "$T/$name.json" <<'EOF' || fail "check $name: errors not reported as expected"
import json, sys
g = json.load(open(sys.argv[1]))
err = open(sys.argv[2], encoding="utf-8", errors="replace").read().splitlines()
bad = 0
for e in g["errors"]:
    head = "%s: rule '%s' line %d col %d: " % (sys.argv[3], e["where"], e["line"], e["col"])
    if not any(l.startswith(head) and e["contains"] in l for l in err):
        print("missing: %s...%s..." % (head, e["contains"])); bad += 1
sys.exit(1 if bad else 0)
EOF
	run 1 disasm "$T/$name.json"
done
ok "check reports every expected compile error"

# score: bad lines, blank lines, line numbers, a long line, CRLF.
D=$T/decisions
{
	echo '{"event": {"amount": 1500}}'
	echo
	echo '{"event": {"amount": 6000, "new_user": true}, "request_id": "r-3"}'
	echo '{"event": [1]}'
	echo '{"features": {}}'
	echo '{"event": {"amount": 1'
	echo '   '
	printf '{"event": {"vip": true}}\r\n'
	python3 -c 'import json; print(json.dumps({"event": {"amount": 1500, "pad": "x" * 2000000}}))'
	echo '{"event": {"s": "abc"}, "request_id": 7}'
	echo '{"event": {"s": "abc"}}'
} >"$T/mixed.ndjson"
run 1 score --rules "$D/rules.json" <"$T/mixed.ndjson"
python3 - "$T/out" <<'EOF' || fail "score with bad, blank and long lines"
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
want = [("line-1", "approve", 30), ("r-3", "decline", 100), ("line-4", "bad_request", None),
        ("line-5", "bad_request", None), ("line-6", "bad_json", None),
        ("line-8", "approve", 0), ("line-9", "approve", 30), ("line-10", "bad_request", None),
        ("line-11", "approve", 0)]
assert len(L) == len(want), "%d lines" % len(L)
for got, (rid, what, score) in zip(L, want):
    assert got["request_id"] == rid, (got, rid)
    if score is None:
        assert set(got) == {"request_id", "error"}, got
        assert got["error"]["code"] == what and got["error"]["message"], got
    else:
        assert got["decision"] == what and got["score"] == score, got
EOF
grep -q "scored 5 of 9 lines (4 bad): approve 4, review 0, decline 1" "$T/err" || fail "mixed summary"
grep -q "rule errors.*: 2; err_rule 1 shadow_error 1" "$T/err" || fail "rule errors in the summary"
ok "score: bad lines reported and skipped, blank lines skipped, long lines"

# score --scenario from a store: same results, the stored version number.
run 0 init
run 0 import "$D/rules.json" --activate
run 0 score --scenario decisions <"$D/in.ndjson"
compare "$T/out" "$D/want.ndjson" decisions 1 "$D/rules.json" ||
	fail "score --scenario"
run 0 score --scenario decisions --version 1 <"$D/in.ndjson"
compare "$T/out" "$D/want.ndjson" decisions 1 "$D/rules.json" ||
	fail "score --scenario --version 1"
run 1 score --scenario decisions --version 9 </dev/null
run 1 score --scenario nosuch </dev/null
ok "score --scenario reads the store"

# diff: a version where the disabled catch-all 'off' (true, +100,
# decline) is active. Every event then declines except where an
# allow-list rule matched; only off's hits change (0 -> every event).
python3 - "$D/rules.json" "$T/v2.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for x in r["rules"]:
    if x["id"] == "off":
        x["mode"] = "active"
json.dump(r, open(sys.argv[2], "w"))
EOF
[ -s "$T/v2.json" ] || fail "no v2.json"
python3 - "$D/want.ndjson" >"$T/diff.want" <<'EOF'
import json, sys
m = {}; ch = 0; n = 0
for l in open(sys.argv[1]):
    e = json.loads(l)
    to = "approve" if {"allow", "allow2"} & set(e["reasons"]) else "decline"
    m[(e["decision"], to)] = m.get((e["decision"], to), 0) + 1
    ch += e["decision"] != to; n += 1
print("%d events (0 bad lines skipped), %d decisions changed" % (n, ch))
for f in ("approve", "review", "decline"):
    print(f, *[m.get((f, t), 0) for t in ("approve", "review", "decline")])
print("off 0 %d +%d" % (n, n))
EOF
check_diff() {
	head -1 "$T/out" | grep -qxF "$(sed -n 1p "$T/diff.want")" || fail "diff $1: summary line"
	for k in approve review decline; do
		got=$(grep -E "^$k " "$T/out" | awk '{print $1, $2, $3, $4}')
		[ "$got" = "$(grep -E "^$k " "$T/diff.want")" ] || fail "diff $1: row $k: $got"
	done
	[ "$(awk '$1 == "off" {print $1, $2, $3, $4}' "$T/out")" = "$(tail -1 "$T/diff.want")" ] ||
		fail "diff $1: off's hits"
	[ "$(sed -n '/^rule /,$p' "$T/out" | wc -l)" = 2 ] || fail "diff $1: only off changed"
}
run 0 diff --rules-from "$D/rules.json" --rules-to "$T/v2.json" <"$D/in.ndjson"
check_diff files
run 0 import "$T/v2.json"
run 0 diff --scenario decisions --from 1 --to 2 <"$D/in.ndjson"
check_diff versions
run 0 diff --rules-from "$D/rules.json" --rules-to "$D/rules.json" <"$D/in.ndjson"
grep -q ", 0 decisions changed" "$T/out" && grep -q "no rule's hits changed" "$T/out" ||
	fail "diff of a file with itself"
# Rules in only one version are listed with '-'.
python3 - "$D/rules.json" "$T/v3.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r["rules"] = [x for x in r["rules"] if x["id"] != "s30"] + [{"id": "new_big", "when": "amount > 1000", "score": 30}]
json.dump(r, open(sys.argv[2], "w"))
EOF
run 0 diff --rules-from "$D/rules.json" --rules-to "$T/v3.json" <"$D/in.ndjson"
hits=$(grep -c '"s30"' "$D/want.ndjson" || true)
grep -Eq "^s30 +$hits +- +-$hits\$" "$T/out" || fail "diff: rule only in from"
grep -Eq "^new_big +- +$hits +\+$hits\$" "$T/out" || fail "diff: rule only in to"
grep -q ", 0 decisions changed" "$T/out" || fail "diff: same decisions"
printf '{"event": {}}\nnot json\n' >"$T/two.ndjson"
run 1 diff --rules-from "$D/rules.json" --rules-to "$T/v2.json" <"$T/two.ndjson"
grep -q "1 events (1 bad lines skipped)" "$T/out" || fail "diff counts bad lines"
ok "diff: transition matrix and rule hits, by files and by stored versions"
[ "$failures" = 0 ] || { echo "golden: $failures failures" >&2; exit 1; }
echo "golden: all checks passed"
