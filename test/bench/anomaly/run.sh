#!/usr/bin/env bash
# test/bench/anomaly/run.sh: the cost of the anomaly rules.
#
# Same events, same run, side by side, on a private instance (port 54338,
# fsync off so that CPU cost is what is compared, not the disk):
#   plain   the twin table bench.plain_events (same columns, defaults and
#           indexes as sealpg.use_events), no trigger: the ceiling
#   c       sealpg.use_events with sealpg's C triggers
#   plpgsql the twin table bench.pl_events with the same rules as a
#           PL/pgSQL trigger (plpgsql_rules.sql, written for this)
# (a) one use per transaction, pgbench, 2 clients
# (b) one INSERT ... SELECT of 100,000 uses
# for a common case (no rule fires) and a mix with 5% anomalous uses;
# (c) per-use cost with 10,000 and with 1,000,000 uses of history;
# (d) raise-to-listener latency of sealpg_alert (sealpg-listen --timestamps).
# Prints a Markdown table; SECONDS_PER_RUN (default 8) and REPEAT (3).
. "$(dirname "$0")/../../../scripts/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
REPEAT=${REPEAT:-3}

ensure_packages
PGBIN=
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
PG_FSYNC=off ensure_cluster
start_cluster
trap 'stop_cluster' EXIT
DB=bench
pgsql -d postgres -c "CREATE DATABASE $DB" >/dev/null
export PGHOST=$SOCK PGPORT=$PORT PGUSER=$PG_USER PGDATABASE=$DB
q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
qv() { "$PGBIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -c "$1"; }

say "fixtures: 100 seals, 200,000 uses per mix, history seals"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION sealpg" -f "$HERE/plpgsql_rules.sql" >/dev/null
q >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT sealpg.create_organisation('Bench Org') AS org \gset
SELECT sealpg.create_calendar(:'org', 'office', '{1,2,3,4,5}', '08:00', '18:00') AS cal \gset
SELECT count(sealpg.create_seal(p || lpad(i::text, 3, '0'), 'bench seal', 'contract', :'org',
	valid_from => '2000-01-01', valid_until => '2100-01-01', time_zone => 'Asia/Shanghai',
	home_latitude => 31.0 + i * 0.05, home_longitude => 121.0, home_radius_m => 500,
	device_id => 'dev-' || p || i, calendar => :'cal'))
  FROM (VALUES ('B-', 100), ('H-', 10), ('L-', 200)) v(p, n), generate_series(1, n) i;
CREATE TABLE bench.plain_events (LIKE sealpg.use_events INCLUDING ALL);
CREATE TABLE bench.pl_events (LIKE sealpg.use_events INCLUDING ALL);
CREATE TRIGGER pl_rules AFTER INSERT ON bench.pl_events FOR EACH ROW EXECUTE FUNCTION bench.pl_rules();
-- uses of seal prefix p, k = 1..per_seal per seal, 40 a working day in office hours, from start
CREATE FUNCTION bench.make_uses(p text, per_seal integer, start date) RETURNS TABLE (
	id bigint, seal_id uuid, occurred_at timestamptz, latitude float8, longitude float8, accuracy_m real,
	operator text, device_id text, device_seq bigint, force_n real)
LANGUAGE sql AS $$
	SELECT row_number() OVER (ORDER BY t, s.n), s.seal_id, t,
		   s.home_latitude + ((k % 7) - 3) * 0.0003, s.home_longitude + ((k % 5) - 2) * 0.0003, 10::real,
		   NULL::text, s.device_id, k::bigint, (50 + (k % 7) - 3)::real
	  FROM (SELECT row_number() OVER (ORDER BY es_id) AS n, x.* FROM sealpg.seals x WHERE es_id LIKE p || '%') s,
		   generate_series(1, per_seal) k,
		   LATERAL (SELECT ((start + ((k - 1) / 40 / 5 * 7 + (k - 1) / 40 % 5) * interval '1 day'
					 + interval '08:05' + ((k - 1) % 40) * interval '13 minutes' + s.n * interval '1 s')::timestamp
					 AT TIME ZONE 'Asia/Shanghai') AS t) tt
$$;
CREATE TABLE bench.src_clean AS SELECT * FROM bench.make_uses('B-', 2000, '2024-01-01');
ALTER TABLE bench.src_clean ADD PRIMARY KEY (id);
-- 5% anomalous: every 20th use is a force outlier, a stranger device or 550 km away
CREATE TABLE bench.src_mixed AS SELECT * FROM bench.src_clean;
ALTER TABLE bench.src_mixed ADD PRIMARY KEY (id);
UPDATE bench.src_mixed SET force_n = 500 WHERE abs(hashint8(id)) % 60 IN (0, 1, 2);
UPDATE bench.src_mixed SET device_id = 'stranger-' || id WHERE abs(hashint8(id)) % 60 IN (3, 4, 5);
UPDATE bench.src_mixed SET latitude = latitude + 5 WHERE abs(hashint8(id)) % 60 IN (6, 7, 8);
-- history: 100,000 uses per H seal, then 5,000 measured ones
CREATE TABLE bench.src_history AS SELECT * FROM bench.make_uses('H-', 105000, '2010-01-04');
CREATE INDEX ON bench.src_history (id);
CREATE TABLE bench.src_after AS
	SELECT row_number() OVER (ORDER BY id) AS nid, h.* FROM bench.src_history h
	 WHERE device_seq > 100000;
ALTER TABLE bench.src_after ADD PRIMARY KEY (nid);
CREATE SEQUENCE bench.next_id;
ANALYZE;
SQL

COLS="seal_id, occurred_at, latitude, longitude, accuracy_m, operator, device_id, device_seq, force_n"
# reset: empty every target and every state, seals active again
reset() {
	q >/dev/null <<SQL
SET client_min_messages = warning;
TRUNCATE sealpg.use_events, bench.plain_events, bench.pl_events, bench.pl_state, bench.pl_alerts;
DELETE FROM sealpg.alerts;
DELETE FROM sealpg.seal_profiles;
UPDATE sealpg.seals SET status = 'active', status_reason = 'bench reset' WHERE status = 'frozen';
SELECT setval('bench.next_id', 1, false);
VACUUM ANALYZE sealpg.use_events, bench.plain_events, bench.pl_events;
CHECKPOINT;
SQL
}
target_of() { case $1 in plain) echo bench.plain_events ;; c) echo sealpg.use_events ;; plpgsql) echo bench.pl_events ;; esac; }
# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# paired NUMERATORS DENOMINATORS: median of the ratios of runs made side by side
paired() {
	local -a n d
	read -r -a n <<<"$1"
	read -r -a d <<<"$2"
	local i r=()
	for i in "${!n[@]}"; do r+=("$(echo "scale=4; ${n[$i]} / ${d[$i]}" | bc -l)"); done
	printf '%.2f' "$(median "${r[@]}")"
}

# batch VARIANT SRC N: seconds for one INSERT ... SELECT of the first N uses of SRC
batch() {
	local t0 t1
	reset
	t0=$(date +%s.%N)
	q -c "INSERT INTO $(target_of "$1") ($COLS) SELECT $COLS FROM $2 WHERE id <= $3 ORDER BY id"
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
# single VARIANT SRC: transactions per second, one use each, 2 clients
single() {
	reset
	local f=$DIR/single.sql
	echo "INSERT INTO $(target_of "$1") ($COLS) SELECT $COLS FROM $2 WHERE id = (SELECT nextval('bench.next_id'));" > "$f"
	"$PGBIN/pgbench" -n -c 2 -j 2 -T "$SECONDS_PER_RUN" -f "$f" "$DB" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p'
}

declare -A R
# Variants alternate within each repetition, so that a change in the
# machine's load during the run affects all of them alike.
for mix in clean mixed; do
	declare -A B=() S=()
	for r in $(seq 1 "$REPEAT"); do
		for v in plain c plpgsql; do
			# the PL/pgSQL batch takes minutes: once is enough to see the difference
			if [ "$v" != plpgsql ] || [ "$r" -eq 1 ]; then
				B[$v]+=" $(batch "$v" "bench.src_$mix" 100000)"
			fi
			S[$v]+=" $(single "$v" "bench.src_$mix")"
		done
	done
	for v in plain c plpgsql; do
		# shellcheck disable=SC2086
		R[batch_${mix}_$v]=$(median ${B[$v]})
		# shellcheck disable=SC2086
		R[single_${mix}_$v]=$(median ${S[$v]})
		say "$mix $v: batch ${R[batch_${mix}_$v]} s (runs:${B[$v]}), single ${R[single_${mix}_$v]} tps (runs:${S[$v]})"
	done
	# ratios of runs made side by side (the machine's load changes between repetitions)
	R[ratio_single_${mix}_c]=$(paired "${S[c]}" "${S[plain]}")
	R[ratio_single_${mix}_pl]=$(paired "${S[c]}" "${S[plpgsql]}")
	R[ratio_batch_${mix}_c]=$(paired "${B[plain]}" "${B[c]}")
	R[ratio_batch_${mix}_pl]=$(paired "${B[plpgsql]}" "$(echo ${B[c]} | cut -d' ' -f1)")
	R[alerts_$mix]=$(qv "SELECT count(*) || ' alerts, ' || coalesce(sum(hits), 0) || ' hits' FROM bench.pl_alerts")
done
# the alerts of the C engine on the mixed batch, for the record
reset
q -c "INSERT INTO sealpg.use_events ($COLS) SELECT $COLS FROM bench.src_mixed WHERE id <= 100000 ORDER BY id"
R[c_alerts]=$(qv "SELECT count(*) || ' alerts, ' || sum(hits) || ' hits, ' || count(*) FILTER (WHERE severity = 'critical') || ' critical' FROM sealpg.alerts")

say "history: 10,000 vs 1,000,000 uses before the measured ones"
for hist in 1000 100000; do
	reset
	q -c "INSERT INTO sealpg.use_events ($COLS) SELECT $COLS FROM bench.src_history
		WHERE device_seq > 100000 - $hist AND device_seq <= 100000 ORDER BY id"
	q -c "VACUUM ANALYZE sealpg.use_events" -c "CHECKPOINT"
	n=$(qv "SELECT count(*) FROM sealpg.use_events")
	t0=$(date +%s.%N)
	q -c "INSERT INTO sealpg.use_events ($COLS) SELECT $COLS FROM bench.src_after WHERE nid <= 20000 ORDER BY nid"
	t1=$(date +%s.%N)
	R[hist_batch_$hist]=$(echo "($t1 - $t0) * 1000000 / 20000" | bc -l)
	# the same for the twin table without rules, with the same history
	q -c "INSERT INTO bench.plain_events ($COLS) SELECT $COLS FROM bench.src_history
		WHERE device_seq > 100000 - $hist AND device_seq <= 100000 ORDER BY id"
	q -c "VACUUM ANALYZE bench.plain_events" -c "CHECKPOINT"
	t0=$(date +%s.%N)
	q -c "INSERT INTO bench.plain_events ($COLS) SELECT $COLS FROM bench.src_after WHERE nid <= 20000 ORDER BY nid"
	t1=$(date +%s.%N)
	R[hist_plain_$hist]=$(echo "($t1 - $t0) * 1000000 / 20000" | bc -l)
	qv "SELECT setval('bench.next_id', 20001, false)" >/dev/null
	echo "INSERT INTO sealpg.use_events ($COLS) SELECT $COLS FROM bench.src_after WHERE nid = (SELECT nextval('bench.next_id'));" > "$DIR/hist.sql"
	tps=$("$PGBIN/pgbench" -n -c 2 -j 2 -T "$SECONDS_PER_RUN" -f "$DIR/hist.sql" "$DB" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p')
	R[hist_single_$hist]=$tps
	R[hist_rows_$hist]=$n
	say "history $n: batch $(printf %.2f "${R[hist_batch_$hist]}") µs/use, single $tps tps"
done

say "latency: 200 critical alerts, raise to sealpg-listen"
reset
"$PGBIN/sealpg-listen" --timestamps --channel sealpg_alert --count 200 --timeout 120 >"$DIR/latency.jsonl" 2>"$DIR/latency.err" &
lpid=$!
for _ in $(seq 1 100); do grep -q listening "$DIR/latency.err" && break; sleep 0.1; done
for i in $(seq 1 200); do
	qv "SELECT sealpg.record_use('L-$(printf %03d "$i")', now(), device_id => 'stranger')" >/dev/null
done
wait "$lpid" || true
q -c "CREATE TEMP TABLE lines (line text)" \
  -c "\\copy lines FROM '$DIR/latency.jsonl' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')" \
  -c "\\o $DIR/latency.txt" \
  -c "SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
			 round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2)
		FROM (SELECT ((line::jsonb->>'received_epoch')::numeric
					 - extract(epoch FROM (line::jsonb->>'raised_at')::timestamptz)) * 1000 AS ms FROM lines) x" \
  -A -t -F ' '
read -r LAT_N LAT_P50 LAT_P99 < "$DIR/latency.txt"

ratio() { echo "scale=2; $1 / $2" | bc -l; }
f2() { printf '%.2f' "$1"; }
cat <<EOF2

## Anomaly rules: measured $(date -u +%Y-%m-%d) on $(nproc) cores, fsync off, median of $REPEAT

| | plain (no rules) | C rules | PL/pgSQL rules | C / plain | C vs PL/pgSQL |
|---|---|---|---|---|---|
| (a) one use per transaction, 2 clients, no rule fires (tps) | $(f2 "${R[single_clean_plain]}") | $(f2 "${R[single_clean_c]}") | $(f2 "${R[single_clean_plpgsql]}") | ${R[ratio_single_clean_c]} | ${R[ratio_single_clean_pl]}x |
| (a) same, 5% anomalous (tps) | $(f2 "${R[single_mixed_plain]}") | $(f2 "${R[single_mixed_c]}") | $(f2 "${R[single_mixed_plpgsql]}") | ${R[ratio_single_mixed_c]} | ${R[ratio_single_mixed_pl]}x |
| (b) INSERT ... SELECT of 100,000 uses, no rule fires (s) | $(f2 "${R[batch_clean_plain]}") | $(f2 "${R[batch_clean_c]}") | $(f2 "${R[batch_clean_plpgsql]}") | ${R[ratio_batch_clean_c]} | ${R[ratio_batch_clean_pl]}x |
| (b) same, 5% anomalous (s) | $(f2 "${R[batch_mixed_plain]}") | $(f2 "${R[batch_mixed_c]}") | $(f2 "${R[batch_mixed_plpgsql]}") | ${R[ratio_batch_mixed_c]} | ${R[ratio_batch_mixed_pl]}x |

(Figures are medians of $REPEAT runs; ratios are medians of the ratios of runs made side by side.
C / plain is throughput relative to plain: tps ratio for (a), time ratio plain/C for (b).)
Mixed batch, C engine: ${R[c_alerts]}; PL/pgSQL: ${R[alerts_mixed]}.

| history before the measured uses | ${R[hist_rows_1000]} uses | ${R[hist_rows_100000]} uses | ratio |
|---|---|---|---|
| C rules, batch of 20,000 (µs per use) | $(f2 "${R[hist_batch_1000]}") | $(f2 "${R[hist_batch_100000]}") | $(ratio "${R[hist_batch_100000]}" "${R[hist_batch_1000]}") |
| plain twin table, same history, batch of 20,000 (µs per use) | $(f2 "${R[hist_plain_1000]}") | $(f2 "${R[hist_plain_100000]}") | $(ratio "${R[hist_plain_100000]}" "${R[hist_plain_1000]}") |
| cost of the rules alone (C minus plain, µs per use) | $(f2 "$(echo "${R[hist_batch_1000]} - ${R[hist_plain_1000]}" | bc -l)") | $(f2 "$(echo "${R[hist_batch_100000]} - ${R[hist_plain_100000]}" | bc -l)") | |
| C rules, one use per transaction, 2 clients (tps) | $(f2 "${R[hist_single_1000]}") | $(f2 "${R[hist_single_100000]}") | $(ratio "${R[hist_single_100000]}" "${R[hist_single_1000]}") |

sealpg_alert latency, alert raised (inside the transaction) to line printed by sealpg-listen, $LAT_N alerts: p50 $LAT_P50 ms, p99 $LAT_P99 ms.
EOF2
