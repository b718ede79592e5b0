#!/usr/bin/env bash
# sealpg-demo.sh (make demo): make up, then the story of a seal, told in
# chapters (scripts/demo/NN-*.sh, sourced in order).  Every artifact a
# relying party would want is written under demo-out/.  The demo runs in a
# database of its own (sealpg_demo), made afresh each time, on the dev
# instance, so running it twice is harmless.
. "$(dirname "$0")/lib.sh"

"$TOP/scripts/sealpg-up.sh"
instance_vars dev "${SEALPG_DEV_PORT:-54329}"
DB=sealpg_demo
DEMO_OUT=$TOP/demo-out
rm -rf "$DEMO_OUT" && mkdir -p "$DEMO_OUT"
export PGHOST=$SOCK PGPORT=$PORT PGUSER=$PG_USER PGDATABASE=$DB

# demo_sql SQL: run SQL in the demo database, show the result as a table.
demo_sql() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -P footer=off -c "$1"; }
# demo_value SQL: run SQL, print the bare value.
demo_value() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -tAq -c "$1"; }
# demo_refused SQL: run SQL that must fail; show the error and its SQLSTATE.
demo_refused() {
	if "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -q -c '\set VERBOSITY verbose' -c "$1" 2>"$DEMO_OUT/.err" >/dev/null; then
		die "expected a refusal, but it succeeded: $1"
	fi
	grep -E '^(ERROR|DETAIL|HINT)' "$DEMO_OUT/.err" | sed 's/^/    /'
	rm -f "$DEMO_OUT/.err"
}

PGOPTIONS="-c client_min_messages=warning" pgsql -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
pgsql -d "$DB" -c "CREATE EXTENSION sealpg" >/dev/null

for chapter in "$TOP"/scripts/demo/[0-9]*.sh; do
	. "$chapter"
done

say "the end: artifacts in demo-out/"
ls -l "$DEMO_OUT"
