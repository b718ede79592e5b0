#!/usr/bin/env bash
# sealpg-listen prints an alert raised by the rules as one JSON line on
# sealpg_alert (and the freeze on sealpg_status), honours --count and
# --timeout, and stops cleanly on SIGTERM.
set -euo pipefail
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
LISTEN=$SEALPG_PGBIN/sealpg-listen
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$LISTEN" ] || { echo "sealpg-listen is not installed in $SEALPG_PGBIN"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seal=IT-LISTEN-$(date +%s%N)

$PSQL -v seal="$seal" <<'SQL' >/dev/null
SET client_min_messages = warning;
SELECT coalesce((SELECT organisation_id FROM sealpg.organisations WHERE name = 'IT Listen Org'),
				sealpg.create_organisation('IT Listen Org')) AS org \gset
SELECT sealpg.create_seal(:'seal', 'listened seal', 'contract', :'org', now() + interval '1 day',
	device_id => 'it-dev-1');
SQL

# wait_ready FILE: wait (at most 10 s) until the listener says it listens
wait_ready() {
	for _ in $(seq 1 100); do
		grep -q 'listening' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$1"; fail "sealpg-listen did not start"
}

"$LISTEN" --count 2 --timeout 20 --channel sealpg_alert --channel sealpg_status "dbname=$PGDATABASE" \
	>"$work/out" 2>"$work/err" &
pid=$!
wait_ready "$work/err"
$PSQL -c "SELECT sealpg.record_use('$seal', now(), device_id => 'it-dev-stranger')" >/dev/null
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$work/err"; fail "sealpg-listen exited $rc"; }
cat "$work/out"
[ "$(wc -l <"$work/out")" -eq 2 ] || fail "expected 2 lines"
alert=$(grep '"channel":"sealpg_alert"' "$work/out") || fail "no sealpg_alert line"
status=$(grep '"channel":"sealpg_status"' "$work/out") || fail "no sealpg_status line"
check=$($PSQL -tA -v a="$alert" -v s="$status" -v seal="$seal" <<'SQL'
SELECT (a->>'v') = '1' AND a->>'es_id' = :'seal' AND a->>'rule' = 'unknown_device'
   AND a->>'severity' = 'critical' AND (a->>'frozen')::boolean
   AND a->'details'->>'device_id' = 'it-dev-stranger'
   AND EXISTS (SELECT 1 FROM sealpg.alerts x WHERE x.alert_id = (a->>'alert_id')::uuid)
   AND s->>'new' = 'frozen' AND length(:'a') < 8000
  FROM (SELECT :'a'::jsonb AS a, :'s'::jsonb AS s) x;
SQL
)
[ "$check" = "t" ] || fail "alert line wrong: $alert"

# --timeout without enough notifications: exit 1 after about a second
rc=0
"$LISTEN" --count 1 --timeout 1 "dbname=$PGDATABASE" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "--timeout should exit 1, got $rc"

# SIGTERM: a clean stop with status 0
"$LISTEN" "dbname=$PGDATABASE" >/dev/null 2>"$work/err2" &
pid=$!
wait_ready "$work/err2"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "SIGTERM should exit 0, got $rc"
echo "ok: alert and freeze received as JSON lines; --count, --timeout and SIGTERM behave"
