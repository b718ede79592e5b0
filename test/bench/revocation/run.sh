#!/usr/bin/env bash
# Revocation benchmarks, side by side (figures and ratios, never pass/fail):
#   (a) OCSP responses per second: sealpg-ocspd against "openssl ocsp
#       -index ... -multi 2" answering for the same certificates, both on
#       loopback inside a network namespace made for the run, the same
#       load generator (wrk, a Lua script POSTing one DER request).
#       Rows: a cacheable request (no nonce: pre-produced, RFC 5019) and a
#       request with a nonce (every response read from the database and
#       signed on the token).
#   (b) a CRL of 100,000 revoked entries: sealpg.crl_build() and
#       sealpg.crl() against "openssl ca -gencrl" over an index of the
#       same serials; then a delta CRL after one revocation.
# Needs a running instance with the agent (make up, then eval
# "$(make -s env)", or the variables make test exports), sealpg-ocspd
# installed next to psql, root (for ip netns), wrk.
#   SECONDS_PER_RUN  length of each wrk run (default 10)
#   CONNECTIONS      wrk connections (default 32); THREADS wrk threads (default 2)
#   ENTRIES          CRL entries (default 100000)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
T=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ENTRIES=${ENTRIES:-100000}
PGBIN=${SEALPG_PGBIN:-/usr/lib/postgresql/15/bin}
DB=sealpg_bench_revocation
NS=sealpg-bench-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealpg-bench-rev.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
: "${PGHOST:?set PGHOST/PGPORT (eval \"\$(make -s env)\")}"
PSQL0="$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -U ${PGUSER:-postgres}"
PSQL="$PSQL0 -d $DB"
say() { printf '\n== %s\n' "$*"; }
for tool in wrk openssl ip; do
	command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install wrk iproute2)"; exit 77; }
done
[ -x "$PGBIN/sealpg-ocspd" ] || { echo "sealpg-ocspd is not installed in $PGBIN"; exit 77; }

say "setting up database $DB: authority and OCSP responder on the token, 20 seals (5 revoked)"
$PSQL0 -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
$PSQL -tA >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sealpg;
SELECT sealpg.authority_init('Bench Revocation Authority');
SELECT sealpg.ocsp_responder_init();
SELECT sealpg.create_organisation('Bench Revocation Org') AS org \gset
SELECT sealpg.create_seal('BR-' || i, 'bench seal ' || i, 'contract', :'org', now() + interval '1 year')
  FROM generate_series(1, 20) i;
SELECT sealpg.enroll('BR-' || i) FROM generate_series(1, 20) i;
SELECT sealpg.report_loss('BR-' || i, 'stolen', 'bench') FROM generate_series(16, 20) i;
SQL
$PSQL -tA -c "SELECT sealpg.authority_certificate()" > "$WORK/authority.pem"
$PSQL -tA -c "SELECT c.certificate FROM sealpg.certificates c JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'BR-1'" > "$WORK/seal.pem"
echo "settings: $($PSQL -tA -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')")"
echo "load average: $(cut -d" " -f1-3 /proc/loadavg); cpus: $(nproc); $(openssl version); $(wrk --version 2>&1 | head -1 | cut -c1-40)"

# ---- (a) OCSP --------------------------------------------------------
# openssl's responder: the same certificates in an index, a software
# responder key of the same type (ECDSA P-256)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/rkey.pem" \
	-subj "/CN=openssl bench responder" -days 2 -out "$WORK/rcert.pem" 2>/dev/null
$PSQL -tA -F $'\t' > "$WORK/index.txt" <<'SQL'
SELECT CASE WHEN r.serial IS NULL THEN 'V' ELSE 'R' END,
	   to_char(c.not_after AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') || 'Z',
	   CASE WHEN r.serial IS NULL THEN '' ELSE to_char(r.revoked_at AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') || 'Z,keyCompromise' END,
	   upper(CASE WHEN length(c.serial) % 2 = 1 THEN '0' || c.serial ELSE c.serial END),
	   'unknown', '/CN=' || s.es_id
  FROM sealpg.certificates c JOIN sealpg.seals s USING (seal_id)
  LEFT JOIN sealpg.revocations r ON r.serial = c.serial AND r.ended_at IS NULL
 ORDER BY 4;
SQL
openssl ocsp -issuer "$WORK/authority.pem" -cert "$WORK/seal.pem" -no_nonce -reqout "$WORK/plain.req" 2>/dev/null
openssl ocsp -issuer "$WORK/authority.pem" -cert "$WORK/seal.pem" -nonce -reqout "$WORK/nonce.req" 2>/dev/null

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
OCSPD_PORT=18481
OPENSSL_PORT=18482
ip netns exec "$NS" "$PGBIN/sealpg-ocspd" --listen 127.0.0.1 --port $OCSPD_PORT --db "dbname=$DB" \
	--connections 4 --threads 2 --cache-ttl 60 > "$WORK/ocspd.log" 2>&1 &
PIDS+=($!)
# openssl's responder is started afresh for each run, and its -multi
# children are stopped by their ids: after a keep-alive load run they are
# left spinning on closed connections, and the parent's death leaves them.
start_openssl() {
	ip netns exec "$NS" openssl ocsp -index "$WORK/index.txt" -port $OPENSSL_PORT -CA "$WORK/authority.pem" \
		-rsigner "$WORK/rcert.pem" -rkey "$WORK/rkey.pem" -multi 2 -nmin 5 > "$WORK/openssl-ocsp.log" 2>&1 &
	OPENSSL_PID=$!
	PIDS+=($OPENSSL_PID)
	for _ in $(seq 50); do
		ip netns exec "$NS" openssl ocsp -url "http://127.0.0.1:$OPENSSL_PORT" -issuer "$WORK/authority.pem" \
			-cert "$WORK/seal.pem" -no_nonce -noverify 2>&1 | grep -q "seal.pem: good" && return 0
		sleep 0.2
	done
	echo "openssl ocsp does not answer"; cat "$WORK/openssl-ocsp.log"; exit 1
}
stop_openssl() {
	local children
	children=$(pgrep -P "$OPENSSL_PID" || true)
	kill "$OPENSSL_PID" $children 2>/dev/null || true
	sleep 0.3
	kill -9 "$OPENSSL_PID" $children 2>/dev/null || true
	wait "$OPENSSL_PID" 2>/dev/null || true
}
sleep 1
ip netns exec "$NS" openssl ocsp -url "http://127.0.0.1:$OCSPD_PORT" -issuer "$WORK/authority.pem" -cert "$WORK/seal.pem" \
	-no_nonce -noverify 2>&1 | grep -q "seal.pem: good" || { echo "sealpg-ocspd does not answer"; cat "$WORK/ocspd.log"; exit 1; }

# load REQUEST PORT: one wrk run; prints "requests/s p99_ms"
load() {
	cat > "$WORK/post.lua" <<LUA
local f = io.open("$1", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
LUA
	ip netns exec "$NS" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${T}s" --latency -s "$WORK/post.lua" \
		"http://127.0.0.1:$2/" > "$WORK/wrk.out" 2>&1 || true
	local rps p99 errors
	rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out")
	p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}; print v}' "$WORK/wrk.out")
	errors=$(grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out" | tr -s ' ' | tr '\n' ';' || true)
	echo "${rps:-0} ${p99:-?} ${errors}"
}
say "(a) OCSP: $THREADS wrk threads, ${T}s per run, loopback in netns $NS"
printf '%-46s %6s %12s %9s  %s\n' "responder, request" "conns" "responses/s" "p99 ms" "errors"
row() {	# row LABEL REQUEST PORT CONNECTIONS
	local out
	CONNECTIONS=$4
	out=$(load "$2" "$3")
	printf '%-46s %6s %12s %9s  %s\n' "$1" "$4" $out
	echo "$out" > "$WORK/last"
}
for c in $CONNECTIONS 8 2; do
	row "sealpg-ocspd, no nonce (cached)" "$WORK/plain.req" $OCSPD_PORT "$c"
	s_plain=$(cut -d' ' -f1 "$WORK/last")
	start_openssl
	row "openssl ocsp -multi 2, no nonce" "$WORK/plain.req" $OPENSSL_PORT "$c"
	o_plain=$(cut -d' ' -f1 "$WORK/last")
	stop_openssl
	awk -v a="$s_plain" -v b="$o_plain" -v c="$c" 'BEGIN { if (b > 0) printf "  ratio sealpg/openssl, no nonce, %d connections: %.1fx\n", c, a / b }'
done
row "sealpg-ocspd, nonce (database + token)" "$WORK/nonce.req" $OCSPD_PORT 8
start_openssl
row "openssl ocsp -multi 2, nonce" "$WORK/nonce.req" $OPENSSL_PORT 8
stop_openssl
req_hex=$(od -An -v -tx1 "$WORK/nonce.req" | tr -d ' \n')
t=$($PSQL -tA -c "SELECT length(sealpg.ocsp_respond('\\x$req_hex'))" -c '\timing on' \
	-c "SELECT count(sealpg.ocsp_respond('\\x$req_hex')) FROM generate_series(1, 2000)" \
	| sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
awk -v t="$t" 'BEGIN { printf "sealpg.ocsp_respond() alone, one backend, 2,000 signed responses: %.0f/s (%.2f ms each)\n", 2000000 / t, t / 2000 }'
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()

# ---- (b) CRLs ---------------------------------------------------------
say "(b) CRL of $ENTRIES revoked entries"
# the same serials for both: 100,000 certificate rows (one real certificate
# repeated, its serial varied) revoked with keyCompromise
$PSQL -tA >/dev/null <<SQL
SET client_min_messages = warning;
INSERT INTO sealpg.certificates (seal_id, serial, certificate, not_before, not_after)
SELECT c.seal_id, '7' || substr(md5(i::text), 1, 31), c.certificate, c.not_before, c.not_after
  FROM generate_series(1, $ENTRIES) i,
	   (SELECT * FROM sealpg.certificates c JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'BR-20' LIMIT 1) c;
INSERT INTO sealpg.revocations (serial, certificate_id, seal_id, reason_code, revoked_at, actor, note)
SELECT c.serial, c.certificate_id, c.seal_id, 1, now() - (random() * interval '300 days'), 'bench', 'bench'
  FROM sealpg.certificates c WHERE c.serial LIKE '7%' AND length(c.serial) = 32
   AND NOT EXISTS (SELECT 1 FROM sealpg.revocations r WHERE r.serial = c.serial);
VACUUM ANALYZE sealpg.revocations;
SQL
total=$($PSQL -tA -c "SELECT count(*) FROM sealpg.revocations WHERE ended_at IS NULL")
echo "entries on the CRL: $total"

# ms SQL: the best of three \timing runs of one statement, in ms, in one
# session warmed up first (its first signature loads the token provider
# and connects to the agent: tens of ms once per backend, not per CRL)
WARM="SELECT length(sealpg.crl())"
ms() {
	$PSQL -tA -c '\timing on' -c "$WARM" -c "$1" -c "$1" -c "$1" \
		| sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -3 | sort -g | head -1
}
build_ms=$(ms "SELECT length(der) FROM sealpg.crl_build(nextval('sealpg.crl_number'), now(), now() + interval '1 day', NULL, NULL)")
$PSQL -tA -c "SELECT encode(der, 'hex') FROM sealpg.crl_build(nextval('sealpg.crl_number'), now(), now() + interval '1 day', NULL, NULL)" \
	| perl -0777 -ne 'print pack("H*", join("", split(/\s+/)))' > "$WORK/sealpg.crl"
openssl crl -inform DER -in "$WORK/sealpg.crl" -CAfile "$WORK/authority.pem" -noout 2>&1 | grep -q "verify OK" \
	|| { echo "the benchmark's CRL does not verify"; exit 1; }
crl_ms=$(ms "SELECT length(sealpg.issue_crl(false))")
cached_ms=$(ms "SELECT length(sealpg.crl())")

# openssl ca -gencrl over the same serials, with a software CA key of the same type
mkdir -p "$WORK/ca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/ca/key.pem" \
	-subj "/CN=openssl bench CA" -days 2 -out "$WORK/ca/cert.pem" 2>/dev/null
$PSQL -tA -F $'\t' > "$WORK/ca/index.txt" <<'SQL'
SELECT 'R', to_char(c.not_after AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') || 'Z',
	   to_char(r.revoked_at AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') || 'Z,keyCompromise',
	   upper(CASE WHEN length(c.serial) % 2 = 1 THEN '0' || c.serial ELSE c.serial END), 'unknown', '/CN=x'
  FROM sealpg.revocations r JOIN sealpg.certificates c USING (certificate_id) WHERE r.ended_at IS NULL;
SQL
echo 01 > "$WORK/ca/crlnumber"
cat > "$WORK/ca/ca.cnf" <<CNF
[ ca ]
default_ca = bench
[ bench ]
database = $WORK/ca/index.txt
crlnumber = $WORK/ca/crlnumber
certificate = $WORK/ca/cert.pem
private_key = $WORK/ca/key.pem
default_md = sha256
default_crl_days = 1
CNF
best_openssl=
for _ in 1 2 3; do
	start=$(date +%s%N)
	openssl ca -gencrl -config "$WORK/ca/ca.cnf" -out "$WORK/ca/crl.pem" -batch 2>/dev/null
	t=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ -z "$best_openssl" ] || [ "$t" -lt "$best_openssl" ]; then best_openssl=$t; fi
done
openssl_entries=$(openssl crl -in "$WORK/ca/crl.pem" -text -noout | grep -c "Serial Number")

# delta CRL after one revocation, in a warm session: the first delta_crl()
# after the report re-issues it, the second finds it current
$PSQL -tA -c "SELECT sealpg.crl_refresh()" >/dev/null
times=$($PSQL -tA -c "$WARM" -c "SELECT length(sealpg.delta_crl())" \
	-c "SELECT sealpg.report_loss('BR-1', 'stolen', 'delta bench') IS NOT NULL" -c '\timing on' \
	-c "SELECT length(sealpg.delta_crl())" -c "SELECT length(sealpg.delta_crl())" \
	| sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
delta_first=$(sed -n 1p <<<"$times")
delta_cached=$(sed -n 2p <<<"$times")

printf '%-52s %10s\n' "CRL, $total entries" "ms (best of 3)"
printf '%-52s %10s\n' "sealpg.crl_build (read, encode, sign on the token)" "$build_ms"
printf '%-52s %10s\n' "sealpg.issue_crl (the above, and stored)" "$crl_ms"
printf '%-52s %10s\n' "sealpg.crl() when nothing changed (cached)" "$cached_ms"
printf '%-52s %10s\n' "openssl ca -gencrl ($openssl_entries entries, software key)" "$best_openssl"
printf '%-52s %10s\n' "sealpg.delta_crl() after one revocation" "$delta_first"
printf '%-52s %10s\n' "sealpg.delta_crl() again (cached)" "$delta_cached"
awk -v a="$build_ms" -v b="$best_openssl" 'BEGIN { if (a > 0) printf "ratio openssl ca / sealpg.crl_build: %.1fx\n", b / a }'
