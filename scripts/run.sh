#!/usr/bin/env bash
# run.sh - `make run`: installs missing packages (scripts/deps.sh), builds,
# creates ./riskd.db with the sample payments scenario if it is missing
# (riskctl init + import --activate schemas/examples/payments.json),
# prints a curl command that scores an example event, then execs riskd
# (Ctrl-C drains and stops it). Settings: any RISKD_* variable, and
# RISKD_LISTEN (default 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
scripts/deps.sh
make -s BUILD="$BUILD" all
export RISKD_DB=${RISKD_DB:-./riskd.db}
if [ ! -e "$RISKD_DB" ]; then
	"$BUILD/riskctl" --db "$RISKD_DB" init
	v=$("$BUILD/riskctl" --db "$RISKD_DB" import schemas/examples/payments.json --activate)
	echo "run: created $RISKD_DB with scenario payments version $v" >&2
fi
listen=${RISKD_LISTEN:-127.0.0.1:8080}
host=${listen%:*}
[ -z "$host" ] || [ "$host" = 0.0.0.0 ] && host=127.0.0.1
url="http://$host:${listen##*:}"
cat >&2 <<MSG

riskd is starting on $url. Score an example event:

  curl -s -H 'Content-Type: application/json' $url/v1/score -d '{"scenario": "payments", "event": {"amount": 1500, "ip": "203.0.113.7", "card": {"id": "c1", "country": "US"}, "ip_country": "FR", "user": {"id": "u1", "age_days": 3, "email": "ab12345@mailinator.com"}}}'

Add ?explain=true for per-rule detail; see also $url/v1/scenarios/payments,
$url/readyz and $url/metrics. Ctrl-C stops riskd.

MSG
exec "$BUILD/riskd" --listen "$listen"
