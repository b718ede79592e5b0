#!/bin/sh
# run_backend_tests.sh -- tests of the backend-side agent client
# (extension/agent_client.c) inside a real PostgreSQL 15 backend.
#
#   sh tests/backend/run_backend_tests.sh ./sealpg-agent
#
# Builds a throwaway module (client_harness.c + the extension's agent files),
# starts a private cluster and a private agent as the postgres user, and
# checks results and SQLSTATEs through psql: keygen, sign, key report,
# token absent, key not found, agent down, reconnect after an agent
# restart, timeout (SE102), query cancel while waiting, peer refused.
# Needs root, a postgres user and the PostgreSQL 15 server; otherwise the
# checks say SKIPPED.  Last line: "N passed, N failed".

AGENT=$(readlink -f "${1:-./sealpg-agent}")
HERE=$(dirname "$(readlink -f "$0")")
EXT=$(readlink -f "$HERE/../../../extension")
PGBIN=${PGBIN:-$(pg_config --bindir 2>/dev/null)}
PORT=${SEALPG_TEST_PORT:-55439}
PYTHON=${PYTHON:-/usr/bin/python3}
MODULE=${SEALPG_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
notok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }

finish() {
	if [ -n "${B:-}" ] && [ -d "$B" ]; then
		[ -f "$B/data/postmaster.pid" ] && $AS_PG "$PGBIN/pg_ctl" -D "$B/data" -m immediate stop >/dev/null 2>&1
		for p in $(cat "$B/sock/pids" 2>/dev/null); do kill "$p" 2>/dev/null; done
		rm -rf "$B"
	fi
	echo "$PASS passed, $FAIL failed"
	[ $FAIL -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ] || ! id postgres >/dev/null 2>&1 || [ ! -x "$PGBIN/postgres" ] ||
	! command -v softhsm2-util >/dev/null 2>&1; then
	echo "SKIPPED - backend client tests need root, a postgres user, PostgreSQL 15 and SoftHSM2"
	echo "0 passed, 0 failed"
	exit 0
fi

B=$(mktemp -d /tmp/sealpg-backend-test.XXXXXX)
AS_PG="setpriv --reuid=postgres --regid=$(id -g postgres) --init-groups --"
trap finish EXIT
trap 'exit 1' INT TERM
chmod 711 "$B"
mkdir -p "$B/build" "$B/hsm/tokens" "$B/sock"
touch "$B/sock/pids" "$B/sock/agent.log"
chown postgres "$B/sock" "$B/sock/pids" "$B/sock/agent.log"

# ---- the module ----
make -s -C "$B/build" -f "$HERE/Makefile" EXT="$EXT" HARNESS="$HERE" >"$B/build.log" 2>&1
check "test module builds with -Wall -Wextra -Werror" [ -f "$B/build/sealpg_agent_test.so" ]
[ -f "$B/build/sealpg_agent_test.so" ] || { cat "$B/build.log"; exit 1; }
SO="$B/build/sealpg_agent_test.so"

# ---- token, agent, cluster (all as postgres) ----
cat >"$B/hsm/softhsm2.conf" <<CONF
directories.tokendir = $B/hsm/tokens
objectstore.backend = file
log.level = ERROR
CONF
printf 'sealtest:123456\n' >"$B/hsm/pins"
chmod 600 "$B/hsm/pins"
chown -R postgres "$B/hsm" "$B/build"
export SOFTHSM2_CONF="$B/hsm/softhsm2.conf"
$AS_PG softhsm2-util --init-token --free --label sealtest --so-pin 87654321 --pin 123456 >/dev/null
SOCK="$B/hsm/run/agent.sock"

start_agent() {
	$AS_PG "$AGENT" --foreground --socket "$SOCK" --module "$MODULE" --pin-file "$B/hsm/pins" \
		"$@" 2>>"$B/sock/agent.log" &
	APID=$!
	echo $APID >>"$B/sock/pids"
	i=0
	while [ ! -S "$SOCK" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}
start_agent

mkdir "$B/data"
chown postgres "$B/data"
$AS_PG "$PGBIN/initdb" -D "$B/data" -A trust -U postgres >"$B/initdb.log" 2>&1
$AS_PG "$PGBIN/pg_ctl" -D "$B/data" -l "$B/sock/pg.log" -w \
	-o "-c listen_addresses='' -k $B/sock -p $PORT -c sealpg.agent_socket=$SOCK" start >/dev/null
check "cluster started" [ -f "$B/data/postmaster.pid" ]

# Run SQL (stdin) in one session; stdout+stderr to $B/out, verbose errors.
sql() {
	$AS_PG "$PGBIN/psql" -X -q -At -h "$B/sock" -p $PORT -U postgres -d postgres \
		-v VERBOSITY=verbose >"$B/out" 2>&1
}
has() { grep -q -- "$1" "$B/out"; }

sql <<SQL
CREATE SCHEMA sealpg;
CREATE FUNCTION sealpg.agent_ping() RETURNS text AS '$SO', 'sealpg_agent_ping' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION sealpg.agent_tokens(OUT label text, OUT serial text, OUT manufacturer text, OUT model text, OUT present boolean, OUT initialized boolean) RETURNS SETOF record AS '$SO', 'sealpg_agent_tokens' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION sealpg.agent_key(token text, key_id bytea, OUT algorithm text, OUT spki bytea, OUT sensitive boolean, OUT extractable boolean, OUT never_extractable boolean, OUT always_sensitive boolean, OUT local boolean) RETURNS record AS '$SO', 'sealpg_agent_key' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION test_agent_keygen(text, text, text, OUT key_id bytea, OUT spki bytea, OUT attrs int) RETURNS record AS '$SO', 'test_agent_keygen' LANGUAGE C STRICT;
CREATE FUNCTION test_agent_sign(text, bytea, text, bytea) RETURNS bytea AS '$SO', 'test_agent_sign' LANGUAGE C STRICT;
CREATE TABLE k AS SELECT * FROM test_agent_keygen('sealtest', 'ecdsa-p256', 'backend test key');
SQL
check "functions created, key generated through the backend" [ -z "$(cat "$B/out")" ]

sql <<'SQL'
SELECT sealpg.agent_ping();
SELECT 'tok:' || label || ':' || present || ':' || initialized FROM sealpg.agent_tokens() WHERE label = 'sealtest';
SELECT 'idlen:' || length(key_id) || ' attrs:' || attrs FROM k;
SELECT 'siglen:' || length(test_agent_sign('sealtest', key_id, 'ecdsa', sha256('document'))) FROM k;
SELECT 'same-spki:' || (a.spki = k.spki) || ' sens:' || a.sensitive || ' extr:' || a.extractable
       || ' never:' || a.never_extractable || ' local:' || a.local || ' alg:' || a.algorithm
  FROM k, sealpg.agent_key('sealtest', k.key_id) a;
SQL
check "agent_ping returns the agent's version" has "^sealpg-agent 1.0 (protocol 1)$"
check "agent_tokens lists the token, present and initialised" has "^tok:sealtest:true:true$"
check "keygen: 16-byte key id, attributes 0x1d from the token" has "^idlen:16 attrs:29$"
check "sign: 64-byte raw ECDSA signature" has "^siglen:64$"
check "agent_key: same SPKI as keygen, sensitive, never extractable, local" \
	has "^same-spki:true sens:true extr:false never:true local:true alg:ecdsa-p256$"

sql <<'SQL'
SELECT test_agent_sign('absent', key_id, 'ecdsa', sha256('x')) FROM k;
SELECT test_agent_sign('sealtest', '\x00112233'::bytea, 'ecdsa', sha256('x'));
SELECT test_agent_keygen('sealtest', 'rsa', 'x');
SELECT test_agent_sign('sealtest', key_id, 'ecdsa', '\x0102'::bytea) FROM k;
SELECT 'still:' || sealpg.agent_ping();
SQL
check "absent token -> SE103" has "ERROR:  SE103"
check "unknown key -> SE107" has "ERROR:  SE107"
check "unknown algorithm -> 22023" has "ERROR:  22023: unsupported key algorithm"
check "digest refused by the agent -> 22023" has "ERROR:  22023: sealpg agent refused the arguments"
check "the connection serves requests after those errors" has "^still:sealpg-agent"

# agent stopped, then restarted, within one session
sql <<SQL
SELECT 'before:' || sealpg.agent_ping();
\\! kill -TERM $APID; sleep 1
SELECT sealpg.agent_ping();
SQL
check "agent down -> SE101" has "ERROR:  SE101: sealpg agent is unavailable"
check "... with a hint naming the socket" has "socket \"$SOCK\""
start_agent
sql <<SQL
SELECT 'one:' || sealpg.agent_ping();
\\! kill -TERM $APID; sleep 0.5; "$AGENT" --foreground --socket "$SOCK" --module "$MODULE" --pin-file "$B/hsm/pins" 2>>"$B/sock/agent.log" & echo \$! >>"$B/sock/pids"; sleep 1
SELECT 'two:' || sealpg.agent_ping();
SELECT 'sig2:' || length(test_agent_sign('sealtest', key_id, 'ecdsa', sha256('y'))) FROM k;
SQL
check "agent restarted under an open connection: the backend reconnects once" has "^two:sealpg-agent"
check "... and signs on the new connection" has "^sig2:64$"
# a stand-in agent that answers HELLO and nothing else, on another socket
FAKE="$B/sock/fake.sock"
$AS_PG "$PYTHON" "$HERE/fake_agent.py" "$FAKE" &
echo $! >>"$B/sock/pids"
sleep 0.5
sql <<SQL
SELECT 'real:' || sealpg.agent_ping();
SET sealpg.agent_socket = '$FAKE';
SELECT 'fake:' || sealpg.agent_ping();
SET sealpg.agent_timeout = 500;
\\timing on
SELECT test_agent_sign('sealtest', key_id, 'ecdsa', sha256('z')) FROM k;
\\timing off
SET sealpg.agent_timeout = 20000;
SET statement_timeout = 300;
\\timing on
SELECT test_agent_sign('sealtest', key_id, 'ecdsa', sha256('z')) FROM k;
\\timing off
RESET statement_timeout;
SELECT 'after-cancel:' || sealpg.agent_ping();
SQL
check "open connection to the real agent" has "^real:sealpg-agent"
check "sealpg.agent_socket changed: the next request uses the new socket" has "^fake:fake (protocol 1)$"
check "no answer within sealpg.agent_timeout -> SE102" has "ERROR:  SE102"
check "a cancelled query does not wait for the agent" has "ERROR:  57014"
T2=$(grep "^Time:" "$B/out" | tail -n 1 | sed 's/Time: \([0-9.]*\) ms.*/\1/')
check "... it ends within 2 s (took ${T2:-?} ms)" [ "${T2%.*}" -lt 2000 ]
check "after the cancel a fresh connection is used" has "^after-cancel:fake (protocol 1)$"
for p in $(cat "$B/sock/pids"); do kill "$p" 2>/dev/null; done
sleep 0.5

# the agent does not allow the server's uid
start_agent --allow-uid 0
sql <<'SQL'
SELECT sealpg.agent_ping();
SQL
check "agent refusing the server's uid -> SE101" has "ERROR:  SE101"
check "... with a hint about --allow-uid" has "allow-uid"
