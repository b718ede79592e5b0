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
stop_standby() {
	[ -f "$SB/postmaster.pid" ] && runuser -u postgres -- "$SEALPG_PGBIN/pg_ctl" -D "$SB" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$SB" "$SBSOCK"
	$PSQL -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
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
mkdir -p "$SB" "$SBSOCK"
chown postgres "$SB" "$SBSOCK"
chmod 700 "$SB"
runuser -u postgres -- "$SEALPG_PGBIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -D "$SB" -R -c fast \
	|| fail "pg_basebackup failed"
printf "port = %d\nunix_socket_directories = '%s'\n" "$SBPORT" "$SBSOCK" >> "$SB/postgresql.auto.conf"
runuser -u postgres -- "$SEALPG_PGBIN/pg_ctl" -D "$SB" -l "$SEALPG_TEST_DIR/standby-verify.log" -w -t 60 start >/dev/null \
	|| { tail -20 "$SEALPG_TEST_DIR/standby-verify.log"; fail "the standby did not start"; }
SPSQL="$SEALPG_PGBIN/psql -X -q -h $SBSOCK -p $SBPORT -d $DB"
for i in $(seq 1 100); do
	[ "$($SPSQL -tA -c "SELECT count(*) FROM sealpg.signatures" 2>/dev/null || true)" = 1 ] && break
	sleep 0.1
done
[ "$($SPSQL -tA -c "SELECT pg_is_in_recovery()")" = t ] || fail "not a standby"

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
