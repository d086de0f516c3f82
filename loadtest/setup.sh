# loadtest/setup.sh - sourced by run.sh (make loadtest) and ab.sh (make
# loadtest-ab): the generated rule store and the seeded redis-server
# both measure against. Expects BUILD, T (a scratch directory), RULES,
# ENTITIES and REDIS; sets RISKD_DB, REGIONS and (with Redis) RPORT and
# RPID, which the caller's cleanup kills.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# setup_store: a store at $T/riskd.db serving $RULES generated rules.
setup_store() {
	export RISKD_DB=$T/riskd.db
	"$BUILD/riskctl" init >/dev/null
	"$BUILD/riskload" --print-rules "$RULES" >"$T/rules.json"
	"$BUILD/riskctl" import "$T/rules.json" --activate >/dev/null
}

# setup_redis LOG: with REDIS=1, a redis-server on a free port (output to
# LOG) seeded with the features of $ENTITIES cards and users, and with
# HISTORY > 0 a full window of velocity buckets for the first $HISTORY
# cards and users (the steady state of a long-running Redis); REGIONS
# names it for RISKD_REGIONS (empty with REDIS=0). Prints redis-cli's
# summary of the seeding.
setup_redis() {
	REGIONS=
	[ "$REDIS" = 1 ] || return 0
	RPORT=$(free_port)
	redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no >"$1" 2>&1 &
	RPID=$!
	for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
	"$BUILD/riskload" --print-features "$ENTITIES" | redis-cli -p "$RPORT" --pipe | tail -1
	if [ "${HISTORY:-0}" -gt 0 ]; then
		echo "velocity history: a full window for the first $HISTORY cards and users"
		"$BUILD/riskload" --print-velocity "$HISTORY" | redis-cli -p "$RPORT" --pipe | tail -1
	fi
	REGIONS="a=127.0.0.1:$RPORT"
}
