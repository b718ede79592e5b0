#!/usr/bin/env bash
# Signers and status changes serialise on the seal row: a signature asked
# for while a revocation is in flight waits for it, and is refused (SE001)
# once it commits; a revocation asked for while a signature is in flight
# waits for the signature to commit.  No window either way.
set -euo pipefail
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
DB=sealpg_it_race
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealpg-race.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

$PSQL -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
PSQL="$PSQL -d $DB"
$PSQL >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sealpg;
SELECT sealpg.authority_init('Race Authority');
SELECT sealpg.create_organisation('Race Org') AS org \gset
SELECT sealpg.create_seal('RACE-' || i, 'race seal', 'contract', :'org', now() + interval '1 year')
  FROM generate_series(1, 2) i;
SELECT sealpg.enroll('RACE-' || i) FROM generate_series(1, 2) i;
SELECT sealpg.grant_seal('RACE-' || i, current_user) FROM generate_series(1, 2) i;
SQL

# 1. revocation in flight, then a signature: it waits, then is refused
$PSQL >/dev/null <<'SQL' &
BEGIN;
SELECT sealpg.set_status('RACE-1', 'revoked', 'reported lost');
SELECT pg_sleep(1.5);
COMMIT;
SQL
revoker=$!
sleep 0.5
start=$(date +%s%N)
out=$($PSQL -c '\set VERBOSITY sqlstate' -c "SELECT sealpg.sign('RACE-1', 'signed during the revocation')" 2>&1 || true)
waited=$(( ($(date +%s%N) - start) / 1000000 ))
wait $revoker
grep -q SE001 <<<"$out" || fail "a signature during a revocation was not refused with SE001: $out"
[ "$waited" -ge 700 ] || fail "the signature did not wait for the revocation (${waited} ms)"
n=$($PSQL -tA -c "SELECT count(*) FROM sealpg.signatures g JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'RACE-1'")
[ "$n" = 0 ] || fail "a signature was recorded for a revoked seal"
echo "ok - a signature asked for during a revocation waits ${waited} ms, then is refused with SE001"

# 2. signature in flight, then a revocation: the revocation waits for it
$PSQL >/dev/null <<'SQL' &
BEGIN;
SELECT sealpg.sign('RACE-2', 'signed before the revocation');
SELECT pg_sleep(1.5);
COMMIT;
SQL
signer=$!
sleep 0.5
start=$(date +%s%N)
$PSQL -c "SELECT sealpg.set_status('RACE-2', 'revoked', 'reported lost')" >/dev/null
waited=$(( ($(date +%s%N) - start) / 1000000 ))
wait $signer
[ "$waited" -ge 700 ] || fail "the revocation did not wait for the signature (${waited} ms)"
r=$($PSQL -tA -c "SELECT v.valid || ',' || v.status_now FROM sealpg.signatures g JOIN sealpg.seals s USING (seal_id),
	sealpg.verify(g.signature, 'signed before the revocation') v WHERE s.es_id = 'RACE-2'")
[ "$r" = "true,revoked" ] || fail "the signature made before the revocation: $r"
echo "ok - a revocation asked for during a signature waits ${waited} ms for it; the signature stays valid"

$PSQL -d postgres -c "DROP DATABASE $DB WITH (FORCE)" >/dev/null
