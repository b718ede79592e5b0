#!/usr/bin/env bash
# test/bench/journal/run.sh: what the journal costs.
#
#   1. journaling overhead on a journaled operation, in the same run with
#      the journal trigger off and on (alternating rounds, best of each;
#      synchronous_commit off, so the figure is the CPU cost, not hidden
#      behind the commit's flush):
#      sealpg.sign() when the signing part is installed, and always a
#      status change (sealpg.set_status, journaled through
#      seal_status_history);
#   2. appends and sequencing of N entries (default 1,000,000);
#   3. journal_verify() over all of them;
#   4. inclusion and consistency proof sizes and times against log2(n).
#
# Runs against the instance in PGHOST/PGPORT/PGUSER/PGDATABASE when set
# (eval "$(make -s env)" after make up); otherwise it starts a private
# instance of its own ("bench", port 54338) like make test does, and
# stops it at the end.  The bench writes a lot into the journal, which is
# append-only: use a scratch instance.
#   N=100000 test/bench/journal/run.sh     a quicker round
set -euo pipefail
. "$(dirname "$0")/../../../scripts/lib.sh"

N=${N:-1000000}
ROUNDS=${ROUNDS:-4}
TX=${TX:-2000}

if [ -z "${PGHOST:-}" ]; then
	instance_vars bench "${SEALPG_BENCH_PORT:-54338}"
	INSTALL=$DIR/install
	PGBIN=$INSTALL/usr/lib/postgresql/15/bin
	say "building and installing into $INSTALL"
	make -C "$TOP" -s >/dev/null
	stop_cluster 2>/dev/null || true
	rm -rf "$INSTALL" "$PGDATA"
	mkdir -p "$INSTALL/usr/lib/postgresql" "$INSTALL/usr/share/postgresql"
	cp -a /usr/lib/postgresql/15 "$INSTALL/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/15 "$INSTALL/usr/share/postgresql/"
	make -C "$TOP" -s install DESTDIR="$INSTALL" >/dev/null
	AGENT_BIN=$TOP/agent/sealpg-agent
	ensure_cluster
	ensure_tokens
	[ -x "$AGENT_BIN" ] && start_agent
	start_cluster
	trap 'stop_cluster' EXIT
	ensure_database
	export PGHOST=$SOCK PGPORT=$PORT PGUSER=$PG_USER PGDATABASE=$DB
fi
PGBIN=${PGBIN:-$PG_SYS_BIN}
q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -tA "$@"; }
tps() {	# tps SCRIPT: transactions per second of one client running SCRIPT
	PGOPTIONS="-c synchronous_commit=off" "$PGBIN/pgbench" -n -c 1 -t "$TX" -f "$1" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
best() { sort -g | tail -1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; [ -n "${DIR:-}" ] && { stop_cluster 2>/dev/null; stop_agent 2>/dev/null; } || true' EXIT

say "1. journaling overhead (one client, $TX transactions a round, $ROUNDS rounds, best of each)"
q -c "DO \$\$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM sealpg.seals WHERE es_id = 'ES-BENCH-0001') THEN
		PERFORM sealpg.create_seal('ES-BENCH-0001', 'bench seal', 'organisation',
			sealpg.create_organisation('Bench Co ' || gen_random_uuid()), now() + interval '1 year');
	END IF;
END \$\$"
cat > "$WORK/status.sql" <<'SQL'
SELECT sealpg.set_status('ES-BENCH-0001', 'frozen', 'bench');
SELECT sealpg.set_status('ES-BENCH-0001', 'active', 'bench');
SQL
overhead() {	# overhead NAME TABLE SCRIPT
	local on=() off=() i
	for i in $(seq 1 "$ROUNDS"); do
		q -c "ALTER TABLE sealpg.$2 DISABLE TRIGGER journal_record"
		off+=("$(tps "$3")")
		q -c "ALTER TABLE sealpg.$2 ENABLE TRIGGER journal_record"
		on+=("$(tps "$3")")
	done
	local b_off b_on
	b_off=$(printf '%s\n' "${off[@]}" | best)
	b_on=$(printf '%s\n' "${on[@]}" | best)
	awk -v n="$1" -v off="$b_off" -v on="$b_on" 'BEGIN {
		printf "  %-32s journal off %8.0f tx/s   on %8.0f tx/s   overhead %5.1f%%   (%.1f us a tx)\n",
			n, off, on, (off / on - 1) * 100, (1e6 / on - 1e6 / off) }'
}
overhead "set_status (2 events a tx)" seal_status_history "$WORK/status.sql"
# the same inside the server (no client round trips): 1,000 transactions
# of a freeze and an unfreeze, trigger off and on, alternating which goes
# first, best of each; then 2,000 bare appends
q -c "SET synchronous_commit = off" -c "DO \$\$
DECLARE
	t0 timestamptz; t float8; best_off float8 := 1e9; best_on float8 := 1e9; best_append float8 := 1e9;
	s uuid := (SELECT seal_id FROM sealpg.seals WHERE es_id = 'ES-BENCH-0001');
	on_first boolean;
BEGIN
	FOR r IN 1..2 * $ROUNDS LOOP
		on_first := r % 2 = 0;
		FOR phase IN 1..2 LOOP
			IF (phase = 1) = on_first THEN
				ALTER TABLE sealpg.seal_status_history ENABLE TRIGGER journal_record;
			ELSE
				ALTER TABLE sealpg.seal_status_history DISABLE TRIGGER journal_record;
			END IF;
			COMMIT;
			t0 := clock_timestamp();
			FOR i IN 1..1000 LOOP
				PERFORM sealpg.set_status('ES-BENCH-0001', 'frozen', 'bench');
				PERFORM sealpg.set_status('ES-BENCH-0001', 'active', 'bench');
				COMMIT;
			END LOOP;
			t := extract(epoch FROM clock_timestamp() - t0);
			IF (phase = 1) = on_first THEN best_on := least(best_on, t); ELSE best_off := least(best_off, t); END IF;
		END LOOP;
		t0 := clock_timestamp();
		FOR i IN 1..1000 LOOP
			PERFORM sealpg.journal_append(s, 'bench', '{\"n\": 1}');
			PERFORM sealpg.journal_append(s, 'bench', '{\"n\": 2}');
			COMMIT;
		END LOOP;
		best_append := least(best_append, extract(epoch FROM clock_timestamp() - t0));
	END LOOP;
	ALTER TABLE sealpg.seal_status_history ENABLE TRIGGER journal_record;
	RAISE NOTICE '  in the server: a freeze+unfreeze transaction takes % us without the journal, % us with it (+% us for its 2 events, +% %%); 2 bare appends % us',
		round((best_off * 1e6 / 1000)::numeric, 1), round((best_on * 1e6 / 1000)::numeric, 1),
		round(((best_on - best_off) * 1e6 / 1000)::numeric, 1), round(((best_on / best_off - 1) * 100)::numeric, 1),
		round((best_append * 1e6 / 1000)::numeric, 1);
END \$\$" 2>&1 | sed 's/^NOTICE:  //'
# sealpg.sign: a seal enrolled on the token, the journal trigger on
# sealpg.signatures off and on
if q -c "SELECT to_regclass('sealpg.signatures') IS NOT NULL" | grep -q t; then
	if q -c "DO \$\$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM sealpg.authority) THEN PERFORM sealpg.authority_init('Bench Authority'); END IF;
		IF NOT EXISTS (SELECT 1 FROM sealpg.seals WHERE es_id = 'ES-BENCH-SIGN') THEN
			PERFORM sealpg.create_seal('ES-BENCH-SIGN', 'bench signing seal', 'contract',
				(SELECT organisation_id FROM sealpg.seals WHERE es_id = 'ES-BENCH-0001'), now() + interval '1 year');
			PERFORM sealpg.enroll('ES-BENCH-SIGN');
			PERFORM sealpg.grant_seal('ES-BENCH-SIGN', current_user);
		END IF;
	END \$\$" 2>"$WORK/err"; then
		echo "SELECT sealpg.sign('ES-BENCH-SIGN', 'a contract of about one hundred bytes, signed again and again by the journal bench');" > "$WORK/sign.sql"
		overhead "sign (1 event a tx)" signatures "$WORK/sign.sql"
	else
		echo "  sign: no authority or enrolment here ($(head -1 "$WORK/err")); status changes stand in"
	fi
else
	echo "  sign: the signing part is not installed here; status changes stand in"
fi

say "2. appending $N entries over 1,000 seals, then sequencing them"
q -c "SELECT sealpg.journal_sequence()" >/dev/null
before=$(q -c "SELECT count(*) FROM sealpg.journal")
start=$(date +%s.%N)
batch=50000
done_=0
while [ "$done_" -lt "$N" ]; do
	n=$(( N - done_ < batch ? N - done_ : batch ))
	q -c "SELECT count(sealpg.journal_append(
		('00000000-0000-4000-8000-' || lpad(to_hex(i % 1000), 12, '0'))::uuid, 'bench',
		jsonb_build_object('n', i, 'operator', 'clerk' || (i % 17), 'digest', md5(i::text)))) FROM generate_series($done_, $done_ + $n - 1) i" >/dev/null
	done_=$(( done_ + n ))
done
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$N" 'BEGIN { printf "  append: %.1f s, %.1f us per entry\n", e - s, (e - s) * 1e6 / n }'
start=$(date +%s.%N)
size=$(q -c "SELECT sealpg.journal_sequence(2000000)")
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$N" -v size="$size" 'BEGIN { printf "  sequence: %.1f s, %.1f us per entry; tree size %d\n", e - s, (e - s) * 1e6 / n, size }'
q -c "SELECT sealpg.record_tree_head()" >/dev/null
q -c "VACUUM ANALYZE sealpg.journal, sealpg.journal_tree"	# as autovacuum would
total=$(q -c "SELECT count(*) FROM sealpg.journal")
echo "  journal: $total entries ($before before), $(q -c "SELECT pg_size_pretty(pg_total_relation_size('sealpg.journal') + pg_total_relation_size('sealpg.journal_tree'))") with the tree"

say "3. journal_verify() over $total entries"
q -c "CHECKPOINT" >/dev/null
# wall time, and the backend's own CPU time (other load on the machine
# inflates the first, hardly the second)
for i in 1 2 3; do
	q -c "SELECT format('  run %s: %s s, ok=%s, %s entries checked, tree size %s', $i,
		round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2), v.ok, v.entries_checked, v.tree_size)
		FROM (SELECT clock_timestamp() AS t0) s, LATERAL (SELECT * FROM sealpg.journal_verify()) v" \
	  -c "SELECT format('         backend CPU %s s (user %s, system %s)', round((u + s) / 100.0, 2), round(u / 100.0, 2), round(s / 100.0, 2))
		FROM (SELECT f[14]::int AS u, f[15]::int AS s FROM string_to_array(
			pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ' ') AS f) x"
done

say "4. proofs against tree size (200 proofs each, random leaves)"
printf '  %10s %6s %14s %12s %16s %14s\n' "tree size" "log2 n" "inclusion path" "time (ms)" "consistency path" "time (ms)"
for exp in 10 14 17 20 24; do
	n=$(( 1 << exp ))
	[ "$n" -le "$size" ] || n=$size
	q -c "CREATE TEMP TABLE IF NOT EXISTS bench_t (what text, ms numeric, len int);
		TRUNCATE bench_t;
		DO \$\$
		DECLARE
			t0 timestamptz; len int := 0; l int; e uuid; m bigint;
		BEGIN
			t0 := clock_timestamp();
			FOR i IN 1..200 LOOP
				m := (random() * ($n - 1))::bigint;
				SELECT entry_id INTO e FROM sealpg.journal WHERE leaf_index = m;
				SELECT cardinality(audit_path) INTO l FROM sealpg.inclusion_proof(e, $n);
				len := greatest(len, l);
			END LOOP;
			INSERT INTO bench_t VALUES ('inclusion', extract(epoch FROM clock_timestamp() - t0) * 1000 / 200, len);
			t0 := clock_timestamp(); len := 0;
			FOR i IN 1..200 LOOP
				m := 1 + (random() * ($n - 2))::bigint;
				len := greatest(len, cardinality(sealpg.consistency_proof(m, $n)));
			END LOOP;
			INSERT INTO bench_t VALUES ('consistency', extract(epoch FROM clock_timestamp() - t0) * 1000 / 200, len);
		END \$\$;" -c "SELECT format('  %10s %6s %14s %12s %16s %14s', $n, round(log(2, $n::numeric), 1),
			i.len, round(i.ms, 3), c.len, round(c.ms, 3))
		  FROM bench_t i, bench_t c WHERE i.what = 'inclusion' AND c.what = 'consistency'"
	[ "$n" -lt "$size" ] || break
done
echo "  (a proof is that many 32-byte hashes; verification is the same count of SHA-256 calls)"
