#!/usr/bin/env bash
# sealpg.verify() writes nothing, so it runs on a hot standby; sealpg.sign()
# there is refused with 25006.  The standby is a pg_basebackup of the test
# instance, on a port and socket of its own, stopped at the end.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root to run a second cluster as postgres"; exit 77; }
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
DB=sealpg_it_standby
SB=$SEALPG_TEST_DIR/standby-verify
SBSOCK=$SEALPG_TEST_DIR/standby-sock
SBPORT=$((PGPORT + 100))
. "$(dirname "$0")/standby.bash"
trap stop_standby EXIT
stop_standby

# a signature on the primary
$PSQL -d postgres -c "CREATE DATABASE $DB" >/dev/null
$PSQL -d $DB >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sealpg;
SELECT sealpg.authority_init('Standby Test Authority');
SELECT sealpg.create_organisation('Standby Org') AS org \gset
SELECT sealpg.create_seal('SB-1', 'standby seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.enroll('SB-1');
SELECT sealpg.grant_seal('SB-1', current_user);
SELECT sealpg.sign('SB-1', 'read me on the standby');
SQL

# the standby
start_standby "$SEALPG_TEST_DIR/standby-verify.log"
wait_standby "SELECT count(*) FROM sealpg.signatures" 1

out=$($SPSQL -tA -c "SELECT v.valid || ',' || v.es_id || ',' || v.status_at_signing || ',' || v.status_now
	FROM sealpg.signatures g, sealpg.verify(g.signature, 'read me on the standby') v")
[ "$out" = "true,SB-1,active,active" ] || fail "verify on the standby said: $out"
echo "ok - verify runs on a hot standby"
out=$($SPSQL -tA -c "SELECT v.valid::text FROM sealpg.signatures g, sealpg.verify(g.signature, 'something else') v")
[ "$out" = "false" ] || fail "a wrong document verified on the standby: $out"
echo "ok - and refuses another document there"
out=$($SPSQL -tA -v VERBOSITY=sqlstate -c "\\set VERBOSITY sqlstate" -c "SELECT sealpg.sign('SB-1', 'x')" 2>&1 || true)
grep -q 25006 <<<"$out" || fail "sign on the standby was not refused with 25006: $out"
echo "ok - sign on the standby is refused with 25006"
