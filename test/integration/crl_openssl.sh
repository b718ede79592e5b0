#!/usr/bin/env bash
# CRLs as a relying party sees them: sealpg.crl() and sealpg.delta_crl()
# verified by the openssl command line against the authority's
# certificate; "openssl verify -crl_check" says revoked (error 23) for a
# revoked seal, OK for a good one; a frozen seal shows as certificateHold
# and, once unfrozen, as removeFromCRL in the delta CRL; CRL numbers
# strictly increase; an unchanged CRL is served from the cache.
# Runs in a database of its own (one authority per database).
set -euo pipefail
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
DB=sealpg_it_crl
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealpg-crl.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok - $*"; }
command -v openssl >/dev/null || { echo "openssl missing"; exit 77; }

$PSQL -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
PSQL="$PSQL -d $DB"
$PSQL -c "SET client_min_messages = warning" -c "CREATE EXTENSION sealpg"

# fetch SQL FILE: the bytea the query returns, written to FILE
fetch() { $PSQL -tA -c "SELECT encode(($1), 'hex')" | perl -ne 's/\s+//g; print pack("H*", $_)' > "$2"; }

$PSQL >/dev/null <<'SQL'
SELECT sealpg.authority_init('IT CRL Authority');
SELECT sealpg.create_organisation('IT CRL Ltd') AS org \gset
SELECT sealpg.create_seal('IT-CRL-GOOD', 'good seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.create_seal('IT-CRL-LOST', 'lost seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.create_seal('IT-CRL-HELD', 'held seal', 'finance', :'org', now() + interval '1 year');
SELECT sealpg.enroll('IT-CRL-GOOD');
SELECT sealpg.enroll('IT-CRL-LOST');
SELECT sealpg.enroll('IT-CRL-HELD');
SQL
$PSQL -tA -c "SELECT sealpg.authority_certificate()" > "$WORK/authority.pem"
for s in GOOD LOST HELD; do
	$PSQL -tA -c "SELECT c.certificate FROM sealpg.certificates c JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'IT-CRL-$s'" > "$WORK/$s.pem"
done

# 1. an empty CRL verifies
fetch "sealpg.crl()" "$WORK/empty.crl"
openssl crl -inform DER -in "$WORK/empty.crl" -CAfile "$WORK/authority.pem" -noout 2>&1 | grep -q "verify OK" \
	|| fail "the empty CRL does not verify"
pass "an empty CRL verifies against the authority"
n1=$($PSQL -tA -c "SELECT max(crl_number) FROM sealpg.crls")

# 2. unchanged: the same CRL comes back (cached)
fetch "sealpg.crl()" "$WORK/again.crl"
cmp -s "$WORK/empty.crl" "$WORK/again.crl" || fail "an unchanged CRL was re-issued"
pass "an unchanged CRL is served from the cache"

# 3. a loss report and a freeze
$PSQL >/dev/null <<'SQL'
SELECT sealpg.report_loss('IT-CRL-LOST', 'stolen', 'taken from the safe', now() - interval '1 hour');
SELECT sealpg.freeze('IT-CRL-HELD', 'anomaly under review');
SQL
fetch "sealpg.crl()" "$WORK/full.crl"
openssl crl -inform DER -in "$WORK/full.crl" -CAfile "$WORK/authority.pem" -noout 2>&1 | grep -q "verify OK" \
	|| fail "the CRL does not verify"
openssl crl -inform DER -in "$WORK/full.crl" -text -noout > "$WORK/full.txt"
grep -q "Key Compromise" "$WORK/full.txt" || fail "no keyCompromise reason: $(cat "$WORK/full.txt")"
grep -q "Certificate Hold" "$WORK/full.txt" || fail "no certificateHold reason"
grep -q "Invalidity Date" "$WORK/full.txt" || fail "no invalidity date"
grep -q "X509v3 CRL Number" "$WORK/full.txt" || fail "no CRL number"
pass "the CRL lists keyCompromise with an invalidity date and certificateHold, and verifies"
n2=$($PSQL -tA -c "SELECT max(crl_number) FROM sealpg.crls WHERE base_number IS NULL")
[ "$n2" -gt "$n1" ] || fail "CRL number did not increase ($n1 -> $n2)"
pass "the CRL number increased ($n1 -> $n2)"

# 4. openssl verify -crl_check: revoked (23), held (23), good (OK)
openssl crl -inform DER -in "$WORK/full.crl" -out "$WORK/full.pem"
out=$(openssl verify -crl_check -CAfile "$WORK/authority.pem" -CRLfile "$WORK/full.pem" "$WORK/LOST.pem" 2>&1 || true)
grep -q "error 23" <<<"$out" || fail "the stolen seal is not revoked: $out"
out=$(openssl verify -crl_check -CAfile "$WORK/authority.pem" -CRLfile "$WORK/full.pem" "$WORK/HELD.pem" 2>&1 || true)
grep -q "error 23" <<<"$out" || fail "the frozen seal is not revoked: $out"
out=$(openssl verify -crl_check -CAfile "$WORK/authority.pem" -CRLfile "$WORK/full.pem" "$WORK/GOOD.pem" 2>&1 || true)
grep -q ": OK" <<<"$out" || fail "the good seal does not verify: $out"
pass "openssl verify -crl_check: revoked and held give error 23, the good seal OK"

# 5. the delta CRL against the scheduled base: unfreeze -> removeFromCRL
$PSQL -tA -c "SELECT sealpg.crl_refresh()" >/dev/null
$PSQL -c "SELECT sealpg.unfreeze('IT-CRL-HELD', 'anomaly explained')" >/dev/null
fetch "sealpg.delta_crl()" "$WORK/delta.crl"
openssl crl -inform DER -in "$WORK/delta.crl" -CAfile "$WORK/authority.pem" -noout 2>&1 | grep -q "verify OK" \
	|| fail "the delta CRL does not verify"
openssl crl -inform DER -in "$WORK/delta.crl" -text -noout > "$WORK/delta.txt"
grep -q "Delta CRL Indicator" "$WORK/delta.txt" || fail "no delta CRL indicator: $(cat "$WORK/delta.txt")"
grep -q "Remove From CRL" "$WORK/delta.txt" || fail "no removeFromCRL entry: $(cat "$WORK/delta.txt")"
held=$(openssl x509 -in "$WORK/HELD.pem" -noout -serial | cut -d= -f2)
grep -qi "$held" "$WORK/delta.txt" || fail "the delta CRL does not name the unfrozen certificate"
grep -q "Key Compromise" "$WORK/delta.txt" && fail "the delta CRL repeats an entry of its base"
pass "the delta CRL verifies and lists the unfrozen certificate as removeFromCRL"

# 6. after unfreezing, the full CRL no longer lists the held seal
fetch "sealpg.crl()" "$WORK/after.crl"
openssl crl -inform DER -in "$WORK/after.crl" -out "$WORK/after.pem"
out=$(openssl verify -crl_check -CAfile "$WORK/authority.pem" -CRLfile "$WORK/after.pem" "$WORK/HELD.pem" 2>&1 || true)
grep -q ": OK" <<<"$out" || fail "the unfrozen seal is still listed: $out"
n3=$(openssl crl -inform DER -in "$WORK/after.crl" -noout -crlnumber | cut -d= -f2)
n0=$(openssl crl -inform DER -in "$WORK/delta.crl" -noout -crlnumber | cut -d= -f2)
[ $((n3)) -gt $((n0)) ] || fail "CRL numbers do not increase across delta and complete CRLs"
pass "the unfrozen seal verifies again; complete and delta CRLs share increasing numbers"
