#!/usr/bin/env bash
# OCSP as a relying party sees it: sealpg.ocsp_respond() offline, then
# sealpg-ocspd on loopback with "openssl ocsp -url" (POST) and an RFC 5019
# GET: good, revoked with reason, unknown; the nonce is echoed; a cached
# response is never served once a revocation has committed; malformed and
# hostile HTTP input gets an OCSP error status and the daemon lives on.
# Runs in a database of its own (one authority per database).
set -euo pipefail
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
DB=sealpg_it_ocsp
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealpg-ocsp.XXXXXX")
OCSPD_PID=
cleanup() { [ -n "$OCSPD_PID" ] && kill "$OCSPD_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$WORK/ocspd.log" ] && tail -5 "$WORK/ocspd.log"; exit 1; }
pass() { echo "ok - $*"; }
command -v openssl >/dev/null || { echo "openssl missing"; exit 77; }
command -v curl >/dev/null || { echo "curl missing"; exit 77; }
OCSPD=$SEALPG_PGBIN/sealpg-ocspd
[ -x "$OCSPD" ] || { echo "sealpg-ocspd not installed"; exit 77; }

$PSQL -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
PSQL="$PSQL -d $DB"
$PSQL -c "SET client_min_messages = warning" -c "CREATE EXTENSION sealpg"

$PSQL >/dev/null <<'SQL'
SELECT sealpg.authority_init('IT OCSP Authority');
SELECT sealpg.ocsp_responder_init();
SELECT sealpg.create_organisation('IT OCSP Ltd') AS org \gset
SELECT sealpg.create_seal('IT-OCSP-GOOD', 'good seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.create_seal('IT-OCSP-LOST', 'lost seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.create_seal('IT-OCSP-LATE', 'revoked later', 'finance', :'org', now() + interval '1 year');
SELECT sealpg.enroll('IT-OCSP-GOOD');
SELECT sealpg.enroll('IT-OCSP-LOST');
SELECT sealpg.enroll('IT-OCSP-LATE');
SELECT sealpg.report_loss('IT-OCSP-LOST', 'counterfeited', 'a forged impression was found');
SQL
$PSQL -tA -c "SELECT sealpg.authority_certificate()" > "$WORK/authority.pem"
for s in GOOD LOST LATE; do
	$PSQL -tA -c "SELECT c.certificate FROM sealpg.certificates c JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'IT-OCSP-$s'" > "$WORK/$s.pem"
done
# a certificate the authority never issued (same issuer name and key: unknown)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/other.key" \
	-subj "/CN=never issued" -out "$WORK/other.csr" 2>/dev/null
openssl x509 -req -in "$WORK/other.csr" -signkey "$WORK/other.key" -days 1 -out "$WORK/other.pem" 2>/dev/null

# respond REQ RESP: sealpg.ocsp_respond() on a DER file
respond() {
	$PSQL -tA -c "SELECT encode(sealpg.ocsp_respond(decode('$(xxd -p "$1" | tr -d '\n')', 'hex')), 'hex')" \
		| xxd -r -p > "$2"
}

# 1. offline: good, revoked (keyCompromise), nonce echoed
openssl ocsp -issuer "$WORK/authority.pem" -cert "$WORK/GOOD.pem" -reqout "$WORK/good.req" 2>/dev/null
respond "$WORK/good.req" "$WORK/good.resp"
out=$(openssl ocsp -respin "$WORK/good.resp" -no_nonce -CAfile "$WORK/authority.pem" \
	-issuer "$WORK/authority.pem" -cert "$WORK/GOOD.pem" 2>&1 || true)
grep -q "Response verify OK" <<<"$out" || fail "offline response does not verify: $out"
grep -q "GOOD.pem: good" <<<"$out" || fail "good seal not good: $out"
req_nonce=$(openssl ocsp -reqin "$WORK/good.req" -req_text | grep -A1 "OCSP Nonce" | tail -1 | tr -d ' ')
resp_nonce=$(openssl ocsp -respin "$WORK/good.resp" -resp_text -noverify | grep -A1 "OCSP Nonce" | tail -1 | tr -d ' ')
[ -n "$req_nonce" ] && [ "$req_nonce" = "$resp_nonce" ] || fail "nonce not echoed ($req_nonce / $resp_nonce)"
pass "offline: signed by the delegated responder, good, nonce checked by openssl"

openssl ocsp -issuer "$WORK/authority.pem" -cert "$WORK/LOST.pem" -no_nonce -reqout "$WORK/lost.req" 2>/dev/null
respond "$WORK/lost.req" "$WORK/lost.resp"
out=$(openssl ocsp -respin "$WORK/lost.resp" -CAfile "$WORK/authority.pem" \
	-issuer "$WORK/authority.pem" -cert "$WORK/LOST.pem" 2>&1 || true)
grep -q "LOST.pem: revoked" <<<"$out" || fail "counterfeited seal not revoked: $out"
grep -q "Reason: keyCompromise" <<<"$out" || fail "no keyCompromise reason: $out"
pass "offline: a counterfeited seal is revoked, reason keyCompromise"

# 2. the daemon on loopback
PORT=$((20000 + RANDOM % 20000))
"$OCSPD" --listen 127.0.0.1 --port "$PORT" --db "dbname=$DB" --cache-ttl 60 > "$WORK/ocspd.log" 2>&1 &
OCSPD_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/ocspd.log" && break; sleep 0.1; done
grep -q listening "$WORK/ocspd.log" || fail "sealpg-ocspd did not start"
URL=http://127.0.0.1:$PORT
# ask CERT [extra openssl flags]: the openssl ocsp -url output
ask() {
	local cert=$1; shift
	openssl ocsp -url "$URL" -issuer "$WORK/authority.pem" -cert "$WORK/$cert.pem" \
		-CAfile "$WORK/authority.pem" "$@" 2>&1 || true
}
out=$(ask GOOD)
grep -q "Response verify OK" <<<"$out" && grep -q "GOOD.pem: good" <<<"$out" || fail "HTTP good: $out"
out=$(ask LOST)
grep -q "LOST.pem: revoked" <<<"$out" || fail "HTTP revoked: $out"
out=$(ask other)
grep -q "other.pem: unknown" <<<"$out" || grep -q "unauthorized" <<<"$out" || fail "HTTP unknown: $out"
pass "openssl ocsp -url: good, revoked, and a foreign certificate not vouched for"

# 3. the cache: -no_nonce twice (cached), revoke, at once revoked
out=$(ask LATE -no_nonce); grep -q "LATE.pem: good" <<<"$out" || fail "LATE not good: $out"
out=$(ask LATE -no_nonce); grep -q "LATE.pem: good" <<<"$out" || fail "LATE not good (cached): $out"
$PSQL -c "SELECT sealpg.revoke('IT-OCSP-LATE', 'cessationOfOperation', 'closed branch')" >/dev/null
out=$(ask LATE -no_nonce)
grep -q "LATE.pem: revoked" <<<"$out" || fail "a cached good answer outlived the revocation: $out"
grep -q "Reason: cessationOfOperation" <<<"$out" || fail "reason missing: $out"
pass "a cached response is dropped when a revocation commits"

# 4. RFC 5019 GET with the base64 request in the path
openssl ocsp -issuer "$WORK/authority.pem" -cert "$WORK/GOOD.pem" -no_nonce -reqout "$WORK/get.req" 2>/dev/null
b64=$(base64 -w0 "$WORK/get.req" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
curl -s -o "$WORK/get.resp" "$URL/$b64"
out=$(openssl ocsp -respin "$WORK/get.resp" -CAfile "$WORK/authority.pem" -issuer "$WORK/authority.pem" \
	-cert "$WORK/GOOD.pem" 2>&1 || true)
grep -q "GOOD.pem: good" <<<"$out" || fail "GET: $out"
pass "RFC 5019 GET works"

# 5. hostile HTTP input: an OCSP error status, and the daemon still answers
status_of() { xxd -p "$1" | tr -d '\n'; }
head -c 100 /dev/urandom > "$WORK/junk"
curl -s -o "$WORK/r1" -H 'Content-Type: application/ocsp-request' --data-binary @"$WORK/junk" "$URL/"
[ "$(status_of "$WORK/r1")" = 30030a0101 ] || fail "junk POST: $(status_of "$WORK/r1")"
head -c 20000 /dev/zero > "$WORK/big"
curl -s -o "$WORK/r2" -H 'Content-Type: application/ocsp-request' --data-binary @"$WORK/big" "$URL/"
[ "$(status_of "$WORK/r2")" = 30030a0101 ] || fail "oversized POST: $(status_of "$WORK/r2")"
head -c 30 "$WORK/good.req" > "$WORK/trunc"
curl -s -o "$WORK/r3" -H 'Content-Type: application/ocsp-request' --data-binary @"$WORK/trunc" "$URL/"
[ "$(status_of "$WORK/r3")" = 30030a0101 ] || fail "truncated POST: $(status_of "$WORK/r3")"
curl -s -o "$WORK/r4" "$URL/not-base64!"
[ "$(status_of "$WORK/r4")" = 30030a0101 ] || fail "bad GET: $(status_of "$WORK/r4")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$URL/")
[ "$code" = 405 ] || fail "DELETE gave HTTP $code"
out=$(ask GOOD)
grep -q "GOOD.pem: good" <<<"$out" || fail "the daemon no longer answers: $out"
pass "junk, oversized, truncated and undecodable requests get malformedRequest; the daemon lives on"
