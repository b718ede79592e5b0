#!/usr/bin/env bash
# journal_signing.sh: the tree head signature, the RFC 3161 timestamp and
# the CAdES-T upgrade that sealpg makes are accepted by the openssl command
# line.  sealpg.log_signing_selftest() runs the same code as
# sign_tree_head(), timestamp() and timestamp_signature(), with keys made
# in memory for the call; when the token-backed authority and TSA exist,
# the real ones are checked too.  Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail
PGBIN=${SEALPG_PGBIN:-/usr/lib/postgresql/15/bin}
command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 77; }
psql_() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -tA -c "$1"; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
failures=0
check() {	# check NAME EXPECTED-TEXT COMMAND...
	local name=$1 want=$2
	shift 2
	"$@" > out.txt 2>&1 || true
	if grep -q "$want" out.txt; then
		echo "ok: $name"
	else
		cat out.txt
		echo "NOT OK: $name"
		failures=$((failures + 1))
	fi
}
refused() {	# refused NAME COMMAND...: passes when the command fails
	local name=$1
	shift
	if "$@" > out.txt 2>&1; then
		cat out.txt
		echo "NOT OK: $name"
		failures=$((failures + 1))
	else
		echo "ok: $name ($(grep -m1 -iE 'fail|mismatch|error' out.txt | cut -c1-100))"
	fi
}
# bytea from SQL into a file
fetch() { psql_ "$1" | xxd -r -p > "$2"; }

head -c 3000 /dev/urandom > data.bin
digest=$(sha256sum data.bin | cut -c1-64)
printf '{"v":1,"tree_size":3,"root_hash":"%s","recorded_at":"2026-01-01T00:00:00.000000Z"}' "$digest" > head.json
# one call gives everything; keep its outputs together in one session
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -tA <<SQL
CREATE TEMP TABLE st AS
	SELECT * FROM sealpg.log_signing_selftest('\\x$digest', '\\x$(xxd -p head.json | tr -d '\n')');
\\o $W/ca.pem
SELECT authority_pem FROM st;
\\o $W/resp.hex
SELECT encode(timestamp_response, 'hex') FROM st;
\\o $W/head.hex
SELECT encode(content_signature, 'hex') FROM st;
\\o $W/cades.hex
SELECT encode(cades_t, 'hex') FROM st;
SQL
xxd -r -p resp.hex resp.tsr
xxd -r -p head.hex head.p7s
xxd -r -p cades.hex cades.p7s
check "openssl ts -verify accepts the timestamp (by digest)" "Verification: OK" \
	openssl ts -verify -digest "$digest" -in resp.tsr -CAfile ca.pem
check "openssl ts -verify accepts the timestamp (by data)" "Verification: OK" \
	openssl ts -verify -data data.bin -in resp.tsr -CAfile ca.pem
check "the TSA certificate carries critical extendedKeyUsage timeStamping" "Time Stamping" \
	sh -c "openssl ts -reply -in resp.tsr -token_out | openssl pkcs7 -inform DER -print_certs -text -noout | grep -A1 'Extended Key Usage: critical'"
refused "a timestamp over another digest is refused" \
	openssl ts -verify -digest "$(printf '%064d' 0)" -in resp.tsr -CAfile ca.pem
check "openssl cms -verify accepts the tree head signature" "Verification successful" \
	openssl cms -verify -binary -inform DER -in head.p7s -content head.json -CAfile ca.pem -purpose any -out /dev/null
printf 'x' >> head.json
refused "a changed tree head is refused" \
	openssl cms -verify -binary -inform DER -in head.p7s -content head.json -CAfile ca.pem -purpose any -out /dev/null
check "the CAdES-T form carries a signatureTimeStampToken" "id-smime-aa-timeStampToken" \
	openssl cms -cmsout -print -inform DER -in cades.p7s

# the real authority and TSA, when this database has them
if [ "$(psql_ "SELECT to_regclass('sealpg.authority') IS NOT NULL AND EXISTS (SELECT 1 FROM sealpg.tsa)")" = t ] 2>/dev/null &&
	[ "$(psql_ "SELECT count(*) FROM sealpg.authority")" = 1 ]; then
	psql_ "SELECT certificate::text FROM sealpg.authority" > authority.pem
	fetch "SELECT encode(sealpg.timestamp('\\x$digest'), 'hex')" real.tsr
	check "the token-backed TSA's timestamp verifies" "Verification: OK" \
		openssl ts -verify -digest "$digest" -in real.tsr -CAfile authority.pem
else
	echo "(no authority with a TSA in this database: the token-backed TSA is not checked here)"
fi
echo
[ $failures -eq 0 ] && echo "journal_signing: all checks passed" || echo "journal_signing: $failures failed"
[ $failures -eq 0 ]
