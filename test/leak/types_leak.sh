#!/bin/sh
# types_leak.sh -- show that refused x509/sealsig inputs leak nothing.
#
# In ONE backend session, feed 100,000 malformed values (ten kinds, most of
# them refused while an OpenSSL object is alive: a decoded certificate or
# CMS structure that then fails a later check) through the type input,
# from_der and recv paths, each caught by a PL/pgSQL exception handler.
# Then 20,000 rounds of seven successful accessor calls on good values.  OpenSSL allocates with malloc,
# so the process RSS (VmRSS in /proc/<pid>/status) is the real measure;
# pg_backend_memory_contexts covers palloc.  Both are taken after the
# first 10,000 (warm caches) and after the last, and the growth must stay
# under LEAK_RSS_LIMIT_KB (default 2048) and LEAK_CTX_LIMIT_BYTES
# (default 1 MB).
#
# Connects with the usual libpq environment (PGHOST, PGPORT, PGUSER,
# PGDATABASE; e.g. eval "$(make -s env)"), as a superuser (it reads
# /proc/<pid>/status with pg_read_file).  Exits 77 (skip) if it cannot
# connect, 1 on a failed check.  Ends with "N passed, N failed".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/../fixtures"
rss_limit_kb=${LEAK_RSS_LIMIT_KB:-2048}
ctx_limit_bytes=${LEAK_CTX_LIMIT_BYTES:-1048576}
rounds=${LEAK_ROUNDS:-10}
per_round=${LEAK_PER_ROUND:-10000}
read_per_round=${LEAK_READ_PER_ROUND:-2000}

if ! psql -X -Atqc 'SELECT 1' >/dev/null 2>&1; then
	echo "types_leak: cannot connect to PostgreSQL (set PGHOST/PGPORT/PGUSER/PGDATABASE); skipped"
	exit 77
fi

out=$(psql -X -Atq -v ON_ERROR_STOP=1 \
	-v leaf="$(cat "$fixtures/leaf.pem")" \
	-v detached="$(cat "$fixtures/detached.pem")" \
	-v enveloped="$(cat "$fixtures/enveloped.pem")" \
	-v certs_only="$(cat "$fixtures/certs-only.pem")" \
	-v streamed="$(od -An -v -tx1 "$fixtures/streamed.der" | tr -d ' \n')" \
	-v rounds="$rounds" -v per_round="$per_round" \
	-v read_per_round="$read_per_round" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS sealpg;

-- the malformed values, made once from the fixtures
CREATE TEMP TABLE bad (kind int PRIMARY KEY, how text NOT NULL, txt text, der bytea);
INSERT INTO bad
SELECT 1, 'x509 text, non-canonical DER (X509 alive at refusal)', NULL,
	'\x308201e2308201 88'::bytea || substr(d, 9, p - 9) || '\x308120'::bytea || substr(d, p + 2)
FROM (SELECT d, position('\x3020170d'::bytea IN d) AS p
	  FROM (SELECT sealpg.x509_der(:'leaf'::sealpg.x509) AS d) s) t
UNION ALL
SELECT 2, 'x509 from_der, invalid notBefore (X509 alive at refusal)', NULL,
	set_byte(d, position('\x170d'::bytea IN d) + 1, ascii('X'))
FROM (SELECT sealpg.x509_der(:'leaf'::sealpg.x509) AS d) s
UNION ALL
SELECT 3, 'x509 from_der, not a certificate (decoder fails inside)', NULL, '\x3003020100'::bytea
UNION ALL
SELECT 4, 'x509 text, CRL label', replace(:'leaf', 'CERTIFICATE', 'X509 CRL'), NULL
UNION ALL
SELECT 5, 'sealsig text, EnvelopedData (CMS alive at refusal)', :'enveloped', NULL
UNION ALL
SELECT 6, 'sealsig text, no signers (CMS alive at refusal)', :'certs_only', NULL
UNION ALL
SELECT 7, 'sealsig from_der, BER + trailing bytes (CMS alive at refusal)', NULL,
	decode(:'streamed', 'hex') || '\xdeadbeef'::bytea
UNION ALL
SELECT 8, 'sealsig from_der, invalid signing time (CMS alive at refusal)', NULL,
	set_byte(d, position('\x06092a864886f70d010905310f170d'::bytea IN d) + 14, ascii('X'))
FROM (SELECT sealpg.sealsig_der(:'detached'::sealpg.sealsig) AS d) s
UNION ALL
SELECT 9, 'sealsig from_der, truncated BER (decoder fails inside)', NULL,
	substr(decode(:'streamed', 'hex'), 1, 600)
UNION ALL
SELECT 10, 'sealsig text, not base64', 'hello, world', NULL;

-- feed n malformed values, each caught; returns how many were refused with 22P02
CREATE FUNCTION pg_temp.refuse_many(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	txts text[] := ARRAY(SELECT txt FROM bad ORDER BY kind);
	ders bytea[] := ARRAY(SELECT der FROM bad ORDER BY kind);
	refused int := 0;
	k int;
BEGIN
	FOR i IN 1..n LOOP
		k := i % 10 + 1;
		BEGIN
			IF k IN (1) THEN
				PERFORM sealpg.x509_from_der(ders[k])::text;
			ELSIF k IN (2, 3) THEN
				PERFORM sealpg.x509_from_der(ders[k]);
			ELSIF k = 4 THEN
				PERFORM txts[k]::sealpg.x509;
			ELSIF k IN (5, 6, 10) THEN
				PERFORM txts[k]::sealpg.sealsig;
			ELSE
				PERFORM sealpg.sealsig_from_der(ders[k]);
			END IF;
		EXCEPTION WHEN invalid_text_representation THEN
			refused := refused + 1;
		END;
	END LOOP;
	RETURN refused;
END
$$;

-- call the accessors n times on good values; returns how many calls answered
CREATE FUNCTION pg_temp.read_many(n int, c sealpg.x509, s sealpg.sealsig) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	answered int := 0;
BEGIN
	FOR i IN 1..n LOOP
		IF sealpg.x509_subject(c) IS NOT NULL
			AND sealpg.x509_serial(c) IS NOT NULL
			AND sealpg.x509_public_key(c) IS NOT NULL
			AND sealpg.x509_subject_attr(c, 'CN') IS NOT NULL
			AND sealpg.sealsig_signing_time(s) IS NOT NULL
			AND sealpg.sealsig_signer_issuer(s) IS NOT NULL
			AND cardinality(sealpg.sealsig_certificates(s)) = 2 THEN
			answered := answered + 1;
		END IF;
	END LOOP;
	RETURN answered;
END
$$;

-- one measurement: "measure <label> <count> <VmRSS kB> <palloc bytes>"
CREATE FUNCTION pg_temp.measure(label text, n bigint) RETURNS text LANGUAGE sql AS $$
	SELECT format('measure %s %s %s %s', label, n,
		(regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmRSS:\s+(\d+)'))[1],
		(SELECT sum(total_bytes) FROM pg_backend_memory_contexts))
$$;

SELECT format('kinds %s', count(*)) FROM bad WHERE coalesce(txt, '') <> '' OR der IS NOT NULL;

-- failures: one warm-up round, then the rest
SELECT pg_temp.refuse_many(:per_round) AS n \gset
SELECT pg_temp.measure('refused_first', :n);
SELECT coalesce(sum(pg_temp.refuse_many(:per_round)), 0) AS m FROM generate_series(2, :rounds) \gset
SELECT pg_temp.measure('refused_last', :n + :m);

-- successes: the accessors on good values
SELECT pg_temp.read_many(:read_per_round, :'leaf', :'detached') AS n \gset
SELECT pg_temp.measure('read_first', :n);
SELECT coalesce(sum(pg_temp.read_many(:read_per_round, :'leaf', :'detached')), 0) AS m FROM generate_series(2, :rounds) \gset
SELECT pg_temp.measure('read_last', :n + :m);
SQL
)

passed=0
failed=0
check() {
	if [ "$1" = ok ]; then
		passed=$((passed + 1))
		echo "ok - $2"
	else
		failed=$((failed + 1))
		echo "not ok - $2"
	fi
}

echo "$out" | grep '^measure' | while read -r _ label count rss ctx; do
	printf '%-14s %7s calls  VmRSS %7s kB  memory contexts %9s bytes\n' "$label" "$count" "$rss" "$ctx"
done

field() { echo "$out" | awk -v l="$1" -v f="$2" '$1 == "measure" && $2 == l { print $f }'; }
kinds=$(echo "$out" | awk '$1 == "kinds" { print $2 }')

for phase in refused read; do
	first_rss=$(field "${phase}_first" 4)
	last_rss=$(field "${phase}_last" 4)
	first_ctx=$(field "${phase}_first" 5)
	last_ctx=$(field "${phase}_last" 5)
	count=$(field "${phase}_last" 3)
	if [ "$phase" = refused ]; then
		total=$((rounds * per_round)) first=$per_round
	else
		total=$((rounds * read_per_round)) first=$read_per_round
	fi
	rss_growth=$((last_rss - first_rss))
	ctx_growth=$((last_ctx - first_ctx))
	if [ "$count" -eq "$total" ]; then r=ok; else r=bad; fi
	check $r "$phase: $count of $total calls behaved as expected"
	if [ "$rss_growth" -lt "$rss_limit_kb" ]; then r=ok; else r=bad; fi
	check $r "$phase: VmRSS grew $rss_growth kB from call $first to call $total (limit $rss_limit_kb kB)"
	if [ "$ctx_growth" -lt "$ctx_limit_bytes" ]; then r=ok; else r=bad; fi
	check $r "$phase: memory contexts grew $ctx_growth bytes (limit $ctx_limit_bytes)"
done
if [ "$kinds" = 10 ]; then r=ok; else r=bad; fi
check $r "all 10 kinds of malformed input were built from the fixtures"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
