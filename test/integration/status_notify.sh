#!/usr/bin/env bash
# A committed status change reaches LISTEN sealpg_status as versioned JSON;
# a rolled-back one sends nothing.
set -euo pipefail
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
fail() { echo "FAIL: $*"; exit 1; }

$PSQL <<'SQL' >/dev/null
SET client_min_messages = warning;
DELETE FROM sealpg.seal_status_history WHERE seal_id IN (SELECT seal_id FROM sealpg.seals WHERE es_id = 'IT-NOTIFY-1');
DELETE FROM sealpg.seals WHERE es_id = 'IT-NOTIFY-1';
DELETE FROM sealpg.organisations WHERE name = 'IT Notify Org';
SELECT sealpg.create_organisation('IT Notify Org') AS org \gset
SELECT sealpg.create_seal('IT-NOTIFY-1', 'notify "quoted" seal', 'contract', :'org', now() + interval '1 day');
SQL

out=$($PSQL -c 'LISTEN sealpg_status' \
	-c "BEGIN" -c "SELECT sealpg.set_status('IT-NOTIFY-1', 'frozen', 'rolled back')" -c "ROLLBACK" \
	-c "SELECT 1" \
	-c "SELECT sealpg.set_status('IT-NOTIFY-1', 'frozen', 'line \"one\"')" \
	-c "SELECT 1" 2>&1)
n=$(grep -c 'Asynchronous notification "sealpg_status"' <<<"$out" || true)
[ "$n" -eq 1 ] || fail "expected exactly 1 notification, got $n: $out"
payload=$(grep 'Asynchronous notification "sealpg_status"' <<<"$out" | sed 's/.*with payload "\(.*\)" received from.*/\1/')
echo "payload: $payload"
# the payload must be valid JSON with these fields (checked by PostgreSQL's own parser)
check=$($PSQL -tA -v p="$payload" <<'SQL'
SELECT (j->>'v') = '1' AND j->>'es_id' = 'IT-NOTIFY-1' AND j->>'old' = 'active'
   AND j->>'new' = 'frozen' AND j->>'reason' = 'line "one"' AND j->>'actor' = current_user
   AND (j->>'at')::timestamptz <= now() AND length(:'p') < 8000
  FROM (SELECT :'p'::jsonb AS j) s;
SQL
)
[ "$check" = "t" ] || fail "payload fields wrong: $payload"
echo "ok: one notification, after commit only, with the expected JSON"
