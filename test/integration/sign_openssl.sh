#!/usr/bin/env bash
# The relying party's view: the authority and seal certificates, and a seal
# signature, checked by the openssl command line alone.  Also: a refusal
# inside a transaction that rolls back is still recorded, and a key that
# is extractable is refused with SE106.
# Runs in a database of its own (one authority per database).
set -euo pipefail
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
DB=sealpg_it_sign
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealpg-sign.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok - $*"; }
command -v openssl >/dev/null || { echo "openssl missing"; exit 77; }

PSQL0=$PSQL
$PSQL0 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
PSQL="$PSQL0 -d $DB"
$PSQL -c "SET client_min_messages = warning" -c "CREATE EXTENSION sealpg"

# hexbytes FILE: the file as one line of hex
hexbytes() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# unhex: hex on stdin to bytes on stdout
unhex() { perl -ne 's/\s+//g; print pack("H*", $_)'; }

# 1. an extractable key on the token is refused (SE106) before anything is written
if [ "$(id -u)" -eq 0 ] && command -v pkcs11-tool >/dev/null && [ -r "${SEALPG_PIN_FILE:-}" ]; then
	pin=$(sed -n 's/^sealpg-authority://p' "$SEALPG_PIN_FILE")
	keyid=5ea1e7ac7ab1e0000000000000000001
	runuser -u postgres -- env SOFTHSM2_CONF="$SOFTHSM2_CONF" pkcs11-tool \
		--module /usr/lib/softhsm/libsofthsm2.so --token-label sealpg-authority --login --pin "$pin" \
		--keypairgen --key-type EC:prime256v1 --id "$keyid" --label "it extractable" \
		--extractable --usage-sign >/dev/null 2>&1 || true
	# any CA certificate will do: the attribute check comes before the key comparison
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/ca.key" \
		-subj "/CN=Outside CA" -days 30 -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$WORK/outside.pem" 2>/dev/null
	out=$($PSQL -v cert="$(cat "$WORK/outside.pem")" -v keyid="$keyid" 2>&1 <<'SQL' || true
\set VERBOSITY sqlstate
SELECT sealpg.authority_import(:'cert', 'sealpg-authority', decode(:'keyid', 'hex'));
SQL
)
	grep -q 'SE106' <<<"$out" || fail "an extractable authority key was not refused with SE106: $out"
	n=$($PSQL -tA -c "SELECT count(*) FROM sealpg.authority")
	[ "$n" = 0 ] || fail "a refused import wrote the authority"
	pass "an extractable key is refused with SE106 and nothing is written"
else
	echo "skip - extractable key check (needs root, pkcs11-tool and the PIN file)"
fi

# 2. the authority, a seal, its certificate (with CRL and OCSP URLs)
$PSQL >/dev/null <<'SQL'
SET sealpg.crl_url = 'http://127.0.0.1:8480/sealpg.crl';
SET sealpg.ocsp_url = 'http://127.0.0.1:8481/';
SELECT sealpg.authority_init('IT Seal Authority');
SELECT sealpg.create_organisation('IT Signing Ltd') AS org \gset
SELECT sealpg.create_seal('IT-SIGN-1', 'IT contract seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.enroll('IT-SIGN-1');
SELECT sealpg.grant_seal('IT-SIGN-1', current_user);
SQL
$PSQL -tA -c "SELECT sealpg.authority_certificate()" > "$WORK/authority.pem"
$PSQL -tA -c "SELECT c.certificate FROM sealpg.seals s JOIN sealpg.certificates c USING (certificate_id) WHERE s.es_id = 'IT-SIGN-1'" > "$WORK/seal.pem"

openssl x509 -in "$WORK/authority.pem" -noout -text > "$WORK/authority.txt"
grep -q 'CA:TRUE' "$WORK/authority.txt" || fail "the root is not a CA"
grep -q 'Certificate Sign, CRL Sign' "$WORK/authority.txt" || fail "the root's key usage is wrong"
out=$(openssl verify -CAfile "$WORK/authority.pem" "$WORK/seal.pem" 2>&1) || fail "openssl verify: $out"
[ "$out" = "$WORK/seal.pem: OK" ] || fail "openssl verify said: $out"
pass "openssl verify accepts the seal certificate"
openssl x509 -in "$WORK/seal.pem" -noout -text > "$WORK/seal.txt"
grep -q 'serialNumber = IT-SIGN-1' "$WORK/seal.txt" || fail "the esID is not in the subject"
grep -q 'Digital Signature, Non Repudiation' "$WORK/seal.txt" || fail "the seal's key usage is wrong"
grep -q 'URI:http://127.0.0.1:8480/sealpg.crl' "$WORK/seal.txt" || fail "no CRL distribution point"
grep -q 'OCSP - URI:http://127.0.0.1:8481/' "$WORK/seal.txt" || fail "no OCSP URL"
pass "the seal certificate carries the esID, its key usage, CRL and OCSP URLs"

# 3. sign a file; the relying party checks it with openssl cms alone
head -c 5000 /dev/urandom > "$WORK/contract.bin"
printf 'Contract between IT Signing Ltd and its client.\n' >> "$WORK/contract.bin"
$PSQL -tA -v doc="$(hexbytes "$WORK/contract.bin")" \
	<<<"SELECT encode(sealpg.sign('IT-SIGN-1', decode(:'doc', 'hex'))::bytea, 'hex')" | unhex > "$WORK/sig.der"
$PSQL -tA -v doc="$(hexbytes "$WORK/contract.bin")" \
	<<<"SELECT encode(sealpg.sign('IT-SIGN-1', decode(:'doc', 'hex'), true)::bytea, 'hex')" | unhex > "$WORK/attached.der"

out=$(openssl cms -verify -binary -inform DER -in "$WORK/sig.der" -content "$WORK/contract.bin" \
	-CAfile "$WORK/authority.pem" -out /dev/null 2>&1) || fail "openssl cms -verify (detached): $out"
grep -q 'Verification successful' <<<"$out" || fail "openssl cms -verify said: $out"
pass "openssl cms -verify accepts the detached signature (no -purpose needed)"

out=$(openssl cms -verify -binary -inform DER -in "$WORK/attached.der" -CAfile "$WORK/authority.pem" \
	-out "$WORK/extracted.bin" 2>&1) || fail "openssl cms -verify (attached): $out"
grep -q 'Verification successful' <<<"$out" || fail "openssl cms -verify said: $out"
cmp -s "$WORK/extracted.bin" "$WORK/contract.bin" || fail "the attached content differs from the document"
pass "openssl cms -verify accepts the attached signature and returns the document"

openssl cms -cmsout -print -inform DER -in "$WORK/sig.der" > "$WORK/sig.txt"
for attr in contentType signingTime messageDigest id-smime-aa-signingCertificateV2; do
	grep -q "object: $attr " "$WORK/sig.txt" || fail "signed attribute $attr missing"
done
[ "$(grep -c 'object: ' "$WORK/sig.txt" | tr -d ' ')" -ge 4 ] || fail "signed attributes missing"
grep -q 'eContent: <ABSENT>' "$WORK/sig.txt" || fail "the default signature is not detached"
pass "CAdES-B signed attributes present: content-type, signing-time, message-digest, signing-certificate-v2"

cp "$WORK/contract.bin" "$WORK/tampered.bin"
printf 'x' >> "$WORK/tampered.bin"
if out=$(openssl cms -verify -binary -inform DER -in "$WORK/sig.der" -content "$WORK/tampered.bin" \
	-CAfile "$WORK/authority.pem" -out /dev/null 2>&1); then
	fail "a tampered document verified: $out"
fi
grep -q 'Verification successful' <<<"$out" && fail "a tampered document verified: $out"
pass "a tampered document fails openssl cms -verify"

# the database agrees
v=$($PSQL -tA -v doc="$(hexbytes "$WORK/contract.bin")" -v sig="$(hexbytes "$WORK/sig.der")" \
	<<<"SELECT valid || ',' || es_id || ',' || status_now FROM sealpg.verify(decode(:'sig', 'hex')::sealpg.sealsig, decode(:'doc', 'hex'))")
[ "$v" = "true,IT-SIGN-1,active" ] || fail "sealpg.verify said: $v"
pass "sealpg.verify agrees"

# 4. a refusal inside a transaction that rolls back is still recorded
$PSQL -c "SELECT sealpg.set_status('IT-SIGN-1', 'frozen', 'integration test')" >/dev/null
$PSQL 2>/dev/null <<'SQL' || true
BEGIN;
CREATE TABLE it_sign_scratch (x int);
SELECT sealpg.sign('IT-SIGN-1', 'refused and rolled back');
COMMIT;
SQL
n=0
for i in $(seq 1 100); do
	n=$($PSQL -tA -c "SELECT count(*) FROM sealpg.refused_signings WHERE es_id = 'IT-SIGN-1' AND sqlstate = 'SE002'")
	[ "$n" -ge 1 ] && break
	sleep 0.1
done
[ "$n" = 1 ] || fail "the refused attempt was not recorded within 10 s (found $n)"
s=$($PSQL -tA -c "SELECT count(*) FROM pg_class WHERE relname = 'it_sign_scratch'")
[ "$s" = 0 ] || fail "the refusing transaction was not rolled back"
pass "a refusal in a rolled-back transaction is recorded by the background worker"

# 5. another database imports the same authority (its key is on the token);
#    its seals verify against the same root; across databases the seal
#    columns stay NULL
DB2=${DB}_b
$PSQL0 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB2 WITH (FORCE)" -c "CREATE DATABASE $DB2" >/dev/null
PSQL2="$PSQL0 -d $DB2"
$PSQL2 -c "SET client_min_messages = warning" -c "CREATE EXTENSION sealpg"
AUTH_KEY=$($PSQL -tA -c "SELECT encode(key_id, 'hex') FROM sealpg.authority")
$PSQL2 -v cert="$(cat "$WORK/authority.pem")" -v keyid="$AUTH_KEY" >/dev/null <<'SQL'
SELECT sealpg.authority_import(:'cert', 'sealpg-authority', decode(:'keyid', 'hex'));
SELECT sealpg.create_organisation('IT Branch Office') AS org \gset
SELECT sealpg.create_seal('IT-BRANCH-1', 'branch seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.enroll('IT-BRANCH-1');
SELECT sealpg.grant_seal('IT-BRANCH-1', current_user);
SQL
r=$($PSQL2 -tA -c "SELECT name || ',' || imported || ',' || key_algorithm FROM sealpg.authority")
[ "$r" = "IT Seal Authority,true,ec-p256" ] || fail "imported authority row: $r"
$PSQL2 -tA -c "SELECT c.certificate FROM sealpg.seals s JOIN sealpg.certificates c USING (certificate_id) WHERE s.es_id = 'IT-BRANCH-1'" > "$WORK/branch.pem"
out=$(openssl verify -CAfile "$WORK/authority.pem" "$WORK/branch.pem" 2>&1) || fail "openssl verify (imported authority): $out"
$PSQL2 -tA -v doc="$(hexbytes "$WORK/contract.bin")" \
	<<<"SELECT encode(sealpg.sign('IT-BRANCH-1', decode(:'doc', 'hex'))::bytea, 'hex')" | unhex > "$WORK/branch.der"
out=$(openssl cms -verify -binary -inform DER -in "$WORK/branch.der" -content "$WORK/contract.bin" \
	-CAfile "$WORK/authority.pem" -out /dev/null 2>&1) || fail "openssl cms -verify (imported authority): $out"
v=$($PSQL -tA -v doc="$(hexbytes "$WORK/contract.bin")" -v sig="$(hexbytes "$WORK/branch.der")" -v ca="$(cat "$WORK/authority.pem")" \
	<<<"SELECT valid || ',' || es_id || ',' || coalesce(status_now::text, 'none') FROM sealpg.verify(decode(:'sig', 'hex')::sealpg.sealsig, decode(:'doc', 'hex'), :'ca')")
[ "$v" = "true,IT-BRANCH-1,none" ] || fail "verify of another database's signature said: $v"
# a key that is not the certificate's is refused
SEAL_KEY=$($PSQL -tA -c "SELECT encode(key_id, 'hex') FROM sealpg.seals WHERE es_id = 'IT-SIGN-1'")
$PSQL0 -d postgres -c "DROP DATABASE $DB2 WITH (FORCE)" -c "CREATE DATABASE $DB2" >/dev/null
$PSQL2 -c "SET client_min_messages = warning" -c "CREATE EXTENSION sealpg"
out=$($PSQL2 -v cert="$(cat "$WORK/authority.pem")" -v keyid="$SEAL_KEY" 2>&1 <<'SQL' || true
\set VERBOSITY sqlstate
SELECT sealpg.authority_import(:'cert', 'sealpg-seals', decode(:'keyid', 'hex'));
SQL
)
grep -q 22023 <<<"$out" || fail "a key that is not the certificate's was accepted: $out"
$PSQL0 -d postgres -c "DROP DATABASE $DB2 WITH (FORCE)" >/dev/null
pass "another database imports the authority; its signatures verify against the same root and across databases"

$PSQL0 -d postgres -c "DROP DATABASE $DB WITH (FORCE)" >/dev/null
echo "all signing integration checks passed"
