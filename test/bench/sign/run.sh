#!/usr/bin/env bash
# Signing benchmark, side by side on the same SoftHSM2 token (see README.md).
#   (a) raw PKCS#11: one thread, C_SignInit + C_Sign ECDSA P-256, N times,
#       against one backend signing N documents in one transaction;
#   (b) pgbench, 1 and 2 clients: one sealpg.sign() per transaction against
#       plain single-row inserts into the same sealpg.signatures table.
# Needs a running instance with the agent (make up, then eval "$(make -s env)",
# or the variables make test exports) and, for (a), the token PIN file.
#   SEALPG_PIN_FILE  label:pin lines (default: the dev instance's)
#   N                signatures for (a) (default 10000)
#   SECONDS_PER_RUN  length of each pgbench run (default 10)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
N=${N:-10000}
T=${SECONDS_PER_RUN:-10}
MODULE=${SEALPG_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
PGBIN=${SEALPG_PGBIN:-/usr/lib/postgresql/15/bin}
DB=sealpg_bench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealpg-bench.XXXXXX")
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
: "${PGHOST:?set PGHOST/PGPORT (eval \"\$(make -s env)\")}"
PIN_FILE=${SEALPG_PIN_FILE:-$(dirname "$PGHOST")/token.pins}
PSQL0="$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -U ${PGUSER:-postgres}"
PSQL="$PSQL0 -d $DB"

say() { printf '\n== %s\n' "$*"; }

say "setting up database $DB: authority, two seals enrolled on the token sealpg-seals"
$PSQL0 -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
$PSQL -tA >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sealpg;
SELECT sealpg.authority_init('Bench Authority');
SELECT sealpg.create_organisation('Bench Org') AS org \gset
SELECT sealpg.create_seal('BENCH-' || i, 'bench seal ' || i, 'contract', :'org', now() + interval '1 year')
  FROM generate_series(0, 2) i;
SELECT sealpg.enroll('BENCH-' || i) FROM generate_series(0, 2) i;
SELECT sealpg.grant_seal('BENCH-' || i, current_user) FROM generate_series(0, 2) i;
SQL
KEY_ID=$($PSQL -tA -c "SELECT encode(key_id, 'hex') FROM sealpg.seals WHERE es_id = 'BENCH-0'")
PIN=$(sed -n 's/^sealpg-seals://p' "$PIN_FILE")
[ -n "$PIN" ] || { echo "no PIN for sealpg-seals in $PIN_FILE" >&2; exit 1; }
echo "settings: $($PSQL -tA -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers')")"

say "(a) raw PKCS#11 vs one backend, $N ECDSA P-256 signatures each"
gcc -O2 -Wall -Wextra -Werror -I/usr/include/p11-kit-1 -o "$WORK/p11bench" "$HERE/p11bench.c" -ldl
# the token files belong to the cluster's user
RUN=()
[ "$(id -u)" -eq 0 ] && RUN=(runuser -u postgres -- env SOFTHSM2_CONF="$SOFTHSM2_CONF")
raw=$("${RUN[@]}" "$WORK/p11bench" "$MODULE" sealpg-seals "$PIN" "$KEY_ID" "$N")
echo "raw PKCS#11:    $raw"
raw_rate=$(sed 's/.*per_second=//' <<<"$raw")
# warm the backend's connection to the agent and its key cache first
sql_ms=$($PSQL -tA <<SQL
SELECT sealpg.sign('BENCH-0', 'warm-up') IS NOT NULL;
\\timing on
SELECT count(sealpg.sign('BENCH-0', convert_to('document number ' || i, 'UTF8'))) FROM generate_series(1, $N) i;
SQL
)
ms=$(grep -o 'Time: [0-9.]*' <<<"$sql_ms" | awk '{print $2}')
sql_rate=$(awk -v n="$N" -v ms="$ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
echo "sealpg.sign():  signatures=$N seconds=$(awk -v ms="$ms" 'BEGIN { printf "%.3f", ms / 1000 }') per_second=$sql_rate"
echo "ratio (a): $(awk -v a="$sql_rate" -v b="$raw_rate" 'BEGIN { printf "%.2f", a / b }') (target >= 0.70)"

say "(b) pgbench: one signature per transaction vs one plain insert per transaction"
SEAL_ID=$($PSQL -tA -c "SELECT seal_id FROM sealpg.seals WHERE es_id = 'BENCH-0'")
SERIAL=$($PSQL -tA -c "SELECT c.serial FROM sealpg.seals s JOIN sealpg.certificates c USING (certificate_id) WHERE s.es_id = 'BENCH-0'")
SIG_HEX=$($PSQL -tA -c "SELECT encode(signature::bytea, 'hex') FROM sealpg.signatures LIMIT 1")
# each client signs with a seal of its own (a seal's signers serialise on its row)
cat > "$WORK/sign.sql" <<'SQL'
SELECT sealpg.sign('BENCH-' || :client_id, convert_to('document ' || random(), 'UTF8'));
SQL
cat > "$WORK/insert.sql" <<SQL
INSERT INTO sealpg.signatures (seal_id, certificate_serial, document_digest, operator, client_addr, signed_at, signature)
VALUES ('$SEAL_ID', '$SERIAL', sha256(convert_to('document ' || random(), 'UTF8')), current_user, NULL,
        clock_timestamp(), decode('$SIG_HEX', 'hex')::sealpg.sealsig);
SQL
# pct LOGPREFIX P: the P-th percentile of transaction latency (ms) in pgbench logs
pct() { cat "$1".* | awk '{print $3}' | sort -n | awk -v p="$2" '{a[NR]=$1} END { i = int(NR * p / 100); if (i < 1) i = 1; printf "%.3f", a[i] / 1000 }'; }
printf '%-8s %-8s %10s %9s %9s\n' clients script tps p50_ms p99_ms
declare -A TPS
for c in 1 2; do
	for s in insert sign; do
		rm -f "$WORK"/log.*
		out=$(cd "$WORK" && "$PGBIN/pgbench" -n -c "$c" -j "$c" -T "$T" -f "$WORK/$s.sql" \
			--log --log-prefix="$WORK/log" "$DB" 2>&1)
		tps=$(grep -o 'tps = [0-9.]*' <<<"$out" | head -1 | awk '{print $3}')
		TPS[$c$s]=$tps
		printf '%-8s %-8s %10.0f %9s %9s\n' "$c" "$s" "$tps" "$(pct "$WORK/log" 50)" "$(pct "$WORK/log" 99)"
	done
	echo "ratio (b), $c client(s): $(awk -v a="${TPS[${c}sign]}" -v b="${TPS[${c}insert]}" 'BEGIN { printf "%.2f", a / b }') (target >= 0.90)"
done

$PSQL0 -d postgres -c "DROP DATABASE $DB WITH (FORCE)" >/dev/null
