#!/usr/bin/env bash
# journal_standby.sh: the journal's read-only functions (journal_verify,
# proofs, roots, tree head, entry text) work on a hot standby, and the
# ones that write refuse there with SQLSTATE 25006.  A streaming standby
# of the test instance is made with pg_basebackup and removed at the end.
# Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail
PGBIN=${SEALPG_PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/pg_basebackup" ] || { echo "SKIP: no pg_basebackup"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to run the standby as postgres"; exit 77; }
BASE=${SEALPG_TEST_DIR:-/tmp}
SB=$BASE/standby
SBPORT=$((PGPORT + 100))
psql_() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -tA "$@"; }
cleanup() {
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SB/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$SB"
}
trap cleanup EXIT
rm -rf "$SB" && mkdir -p "$SB/sock" && chown -R postgres "$SB"

# something to replicate: entries, a tree, a recorded head
seal=$(psql_ -c "SELECT gen_random_uuid()")
entry=$(psql_ -c "SELECT sealpg.journal_append('$seal', 'standby-test', '{\"n\": 1}')")
psql_ -c "SELECT count(sealpg.journal_append('$seal', 'standby-test', jsonb_build_object('n', i))) FROM generate_series(2, 9) i" >/dev/null
size=$(psql_ -c "SELECT sealpg.record_tree_head()")

runuser -u postgres -- "$PGBIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -D "$SB/data" -R -X stream -c fast >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SB/data" -l "$SB/log" -w -t 60 \
	-o "-p $SBPORT -k $SB/sock -c hot_standby=on -c cron.database_name=postgres" start >/dev/null
sb() { psql_ -h "$SB/sock" -p "$SBPORT" "$@"; }
for i in $(seq 1 100); do
	[ "$(sb -c "SELECT sealpg.tree_size() >= $size" 2>/dev/null)" = t ] && break
	sleep 0.1
done
failures=0
expect() {	# expect NAME WANT QUERY
	local got
	got=$(sb -c "$3" 2>&1 | tail -1) || true
	if [ "$got" = "$2" ]; then echo "ok: $1"; else echo "NOT OK: $1: got '$got', want '$2'"; failures=$((failures + 1)); fi
}
# sqlstate QUERY: the SQLSTATE the query raises on the standby
state_of() {
	{ sb -c "\\set VERBOSITY verbose" -c "$1" 2>&1 || true; } | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1
}
expect "the standby is in recovery" t "SELECT pg_is_in_recovery()"
expect "journal_verify runs on the standby" t "SELECT ok FROM sealpg.journal_verify()"
expect "an inclusion proof is made and verifies there" t \
	"SELECT sealpg.verify_inclusion(leaf_hash, leaf_index, proof_tree_size, audit_path, root_hash) FROM sealpg.inclusion_proof('$entry', $size)"
expect "a consistency proof is made and verifies there" t \
	"SELECT sealpg.verify_consistency(1, $size, sealpg.tree_root(1), sealpg.tree_root($size), sealpg.consistency_proof(1, $size))"
expect "the tree head is read there" t "SELECT tree_size >= $size FROM sealpg.tree_head()"
expect "the recorded head's JSON is read there" t "SELECT sealpg.tree_head_json($size) LIKE '{\"v\":1,%'"
expect "the standby's root equals the primary's" "$(psql_ -c "SELECT encode(sealpg.tree_root($size), 'hex')")" \
	"SELECT encode(sealpg.tree_root($size), 'hex')"
for q in "SELECT sealpg.journal_sequence()" "SELECT sealpg.record_tree_head()" "SELECT sealpg.sign_tree_head()" \
	"SELECT sealpg.journal_append('$seal', 'x', '{}')"; do
	st=$(state_of "$q")
	if [ "$st" = 25006 ]; then echo "ok: refused with 25006 on the standby: $q"; else
		echo "NOT OK: $q on the standby: SQLSTATE '$st', want 25006"; failures=$((failures + 1)); fi
done
echo
[ $failures -eq 0 ] && echo "journal_standby: all checks passed" || echo "journal_standby: $failures failed"
[ $failures -eq 0 ]
