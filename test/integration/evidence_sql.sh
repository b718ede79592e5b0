#!/usr/bin/env bash
# evidence_sql.sh: the whole chain with the token-backed authority.  A
# seal signs a document; the signing is journaled; the authority's TSA
# (key on the token) timestamps the signature; the authority signs a tree
# head; sealpg.evidence() builds the package; sealpg-verify checks it
# offline and says it holds; openssl ts -verify accepts the timestamps.
# Runs in a database of its own (one authority per database).
# Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
VERIFY=$TOP/verify/sealpg-verify
PGBIN=${SEALPG_PGBIN:-/usr/lib/postgresql/15/bin}
DB=sealpg_it_evidence
command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 77; }
[ -x "$VERIFY" ] || { echo "SKIP: $VERIFY is not built"; exit 77; }
PSQL0="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"
PSQL="$PSQL0 -d $DB"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
failures=0
pass() { echo "ok: $*"; }
fail() { echo "NOT OK: $*"; failures=$((failures + 1)); }
unhex() { perl -ne 's/\s+//g; print pack("H*", $_)'; }

$PSQL0 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
$PSQL -c "SET client_min_messages = warning" -c "CREATE EXTENSION sealpg"
if ! $PSQL -c "SELECT sealpg.authority_init('IT Evidence Authority')" >/dev/null 2>"$W/err"; then
	cat "$W/err"
	echo "SKIP: no authority could be created (is the agent running?)"
	exit 77
fi
pass "the authority exists (key on the token)"
$PSQL -tA -c "SELECT certificate::text FROM sealpg.authority" > "$W/authority.pem"

# the TSA: a key on the token, a certificate with critical EKU timeStamping
$PSQL -tA -c "SELECT sealpg.tsa_init()" > "$W/tsa.pem"
openssl x509 -in "$W/tsa.pem" -noout -text > "$W/tsa.txt"
if grep -A1 "Extended Key Usage: critical" "$W/tsa.txt" | grep -q "Time Stamping" &&
	openssl verify -CAfile "$W/authority.pem" -purpose timestampsign "$W/tsa.pem" >/dev/null 2>&1; then
	pass "tsa_init: a TSA certificate from the authority, critical extendedKeyUsage timeStamping"
else
	fail "tsa_init: the TSA certificate is not what it should be"
fi

# a seal signs a document
printf 'Contract of evidence\nSigned for the journal test.\n' > "$W/contract.txt"
doc=$(od -An -v -tx1 "$W/contract.txt" | tr -d ' \n')
sig=$($PSQL -tA -v doc="$doc" <<'SQL'
SELECT sealpg.create_organisation('IT Evidence Ltd') AS org \gset
SELECT sealpg.create_seal('IT-EVID-1', 'evidence seal', 'contract', :'org', now() + interval '1 year') IS NOT NULL AS made \gset
SELECT sealpg.enroll('IT-EVID-1') IS NOT NULL AS enrolled \gset
SELECT sealpg.grant_seal('IT-EVID-1', current_user) IS NULL AS granted \gset
SELECT sealpg.sign('IT-EVID-1', decode(:'doc', 'hex')) IS NOT NULL AS signed \gset
SELECT signature_id FROM sealpg.signatures ORDER BY signed_at DESC LIMIT 1;
SQL
)
sig=$(echo "$sig" | tail -1)
[ -n "$sig" ] && pass "a signature was made ($sig)" || { fail "no signature"; exit 1; }
n=$($PSQL -tA -c "SELECT count(*) FROM sealpg.journal WHERE kind = 'signature' AND payload->>'signature_id' = '$sig'")
[ "$n" = 1 ] && pass "the signing was journaled by the trigger on sealpg.signatures" || fail "journal entries for it: $n"

# its timestamp, from the token-backed TSA
$PSQL -tA -c "SELECT encode(sealpg.timestamp_signature('$sig'), 'hex')" | unhex > "$W/sig.tsr"
$PSQL -tA -c "SELECT encode(sealpg.signature_value_digest(signature::bytea), 'hex') FROM sealpg.signatures WHERE signature_id = '$sig'" > "$W/imprint"
openssl ts -verify -digest "$(cat "$W/imprint")" -in "$W/sig.tsr" -CAfile "$W/authority.pem" > "$W/ts1.txt" 2>&1 || true
if grep -q "Verification: OK" "$W/ts1.txt"; then
	pass "openssl ts -verify accepts the token-backed TSA's timestamp of the signature"
else
	fail "openssl ts -verify refuses the signature's timestamp"
fi
$PSQL -tA -c "SELECT encode(cades_t, 'hex') FROM sealpg.signature_timestamps WHERE signature_id = '$sig'" | unhex > "$W/cades.p7s"
if openssl cms -verify -binary -inform DER -in "$W/cades.p7s" -content "$W/contract.txt" -CAfile "$W/authority.pem" -out /dev/null 2>/dev/null &&
	openssl cms -cmsout -print -inform DER -in "$W/cades.p7s" > "$W/cades.txt" && grep -q "id-smime-aa-timeStampToken" "$W/cades.txt"; then
	pass "the stored CAdES-T signature carries its timestamp and still verifies"
else
	fail "the CAdES-T signature"
fi

# a signed tree head, and the package
size=$($PSQL -tA -c "SELECT sealpg.sign_tree_head()")
signed=$($PSQL -tA -c "SELECT signed AND timestamp_token IS NOT NULL FROM sealpg.tree_heads WHERE tree_size = $size ORDER BY signed DESC LIMIT 1")
[ "$signed" = t ] && pass "sign_tree_head: a signed and timestamped head of $size entries" || fail "the tree head is not signed and timestamped"
$PSQL -tA -c "SELECT sealpg.tree_head_json($size)" | tr -d '\n' > "$W/head.json"
$PSQL -tA -c "SELECT encode(signature, 'hex') FROM sealpg.tree_heads WHERE tree_size = $size AND signed" | unhex > "$W/head.p7s"
if openssl cms -verify -binary -inform DER -in "$W/head.p7s" -content "$W/head.json" -CAfile "$W/authority.pem" -purpose any -out /dev/null 2>/dev/null; then
	pass "openssl cms -verify accepts the authority's tree head signature"
else
	fail "the tree head signature does not verify with openssl"
fi
$PSQL -tA -c "SELECT encode(sealpg.evidence('$sig'), 'hex')" | unhex > "$W/evidence.tar"
tar tf "$W/evidence.tar" > "$W/list" && pass "the package is a tar archive: $(tr '\n' ' ' < "$W/list")" || fail "tar cannot read the package"
if "$VERIFY" "$W/evidence.tar" --authority "$W/authority.pem" --document "$W/contract.txt" > "$W/out"; then
	pass "sealpg-verify: the evidence holds ($(grep -c '^HOLDS' "$W/out") checks)"
else
	fail "sealpg-verify does not accept the package"
fi
cat "$W/out"
# the package's timestamp of the tree head, checked by openssl too
mkdir "$W/x" && tar xf "$W/evidence.tar" -C "$W/x"
openssl ts -verify -data "$W/x/tree-head.json" -in "$W/x/tree-head-timestamp.tsr" -CAfile "$W/authority.pem" > "$W/ts2.txt" 2>&1 || true
if grep -q "Verification: OK" "$W/ts2.txt"; then
	pass "openssl ts -verify accepts the tree head's timestamp in the package"
else
	fail "the tree head's timestamp"
fi
grep -q "^HOLDS.*status: the authority's signed statement" "$W/out" &&
	pass "without an OCSP responder the package carries the authority's signed status statement" ||
	fail "the status statement"
# with the revocation part's OCSP responder, the package carries its response
if [ "$($PSQL -tA -c "SELECT to_regprocedure('sealpg.ocsp_responder_init(interval,text)') IS NOT NULL")" = t ]; then
	$PSQL -c "SELECT sealpg.ocsp_responder_init()" >/dev/null
	$PSQL -tA -c "SELECT encode(sealpg.evidence('$sig'), 'hex')" | unhex > "$W/evidence2.tar"
	tar tf "$W/evidence2.tar" > "$W/list2"
	if grep -q '^ocsp.der$' "$W/list2" &&
		"$VERIFY" "$W/evidence2.tar" --authority "$W/authority.pem" --document "$W/contract.txt" > "$W/out2" &&
		grep -q "^HOLDS.*status: the authority's OCSP response says the seal certificate is good" "$W/out2"; then
		pass "with the OCSP responder: ocsp.der in the package, and the evidence holds"
	else
		tr "\n" " " < "$W/list2"; cat "$W/out2" 2>/dev/null || true
		fail "the package with an OCSP response"
	fi
	mkdir "$W/y" && tar xf "$W/evidence2.tar" -C "$W/y"
	awk '/BEGIN/{n++} n==1' "$W/y/chain.pem" > "$W/seal.pem"
	openssl ocsp -respin "$W/y/ocsp.der" -CAfile "$W/authority.pem" -issuer "$W/authority.pem" -sha256 \
		-cert "$W/seal.pem" > "$W/ocsp.txt" 2>&1 || true
	if grep -q "Response verify OK" "$W/ocsp.txt" && grep -q ": good" "$W/ocsp.txt"; then
		pass "openssl ocsp accepts the package's OCSP response"
	else
		cat "$W/ocsp.txt"
		fail "openssl ocsp refuses the package's OCSP response"
	fi
fi
# another document is refused
printf 'Contract of evidence\nSigned for the journal test!\n' > "$W/other.txt"
"$VERIFY" "$W/evidence.tar" --authority "$W/authority.pem" --document "$W/other.txt" >/dev/null &&
	fail "another document was accepted" || pass "another document: refused"
# the journal still verifies
[ "$($PSQL -tA -c "SELECT ok FROM sealpg.journal_verify()")" = t ] && pass "journal_verify: ok" || fail "journal_verify"

$PSQL0 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
echo
[ $failures -eq 0 ] && echo "evidence_sql: all checks passed" || echo "evidence_sql: $failures failed"
[ $failures -eq 0 ]
