# Chapter 30: the seal authority, enrolment and a signature that anyone
# can check with the openssl command line alone.  Sourced by
# scripts/sealpg-demo.sh (say, demo_sql, demo_value, demo_refused, DEMO_OUT).

# demo_unhex: hex on stdin to bytes on stdout
demo_unhex() { perl -ne 's/\s+//g; print pack("H*", $_)'; }

say "30.1 The database becomes a seal authority; its key is born in the security chip"
demo_value "SELECT sealpg.authority_init('Demo Seal Authority')" > "$DEMO_OUT/authority.pem"
demo_sql "SELECT name, token_label, key_algorithm, sealpg.x509_subject(certificate) AS subject,
	sealpg.x509_not_after(certificate)::date AS valid_until FROM sealpg.authority"
echo "  The private key never left the token: the database only holds its certificate (demo-out/authority.pem)."

say "30.2 A contract seal is enrolled: a key generated on the token, a certificate from the authority"
ORG30=$(demo_value "SELECT sealpg.create_organisation('Northwind Contracts Ltd')")
demo_value "SELECT sealpg.create_seal('ES-NW-0001', 'Northwind contract seal', 'contract', '$ORG30',
	valid_until => now() + interval '2 years', holder => 'Contracts office')" >/dev/null
demo_value "SELECT sealpg.enroll('ES-NW-0001')" > "$DEMO_OUT/seal.pem"
demo_sql "SELECT sealpg.x509_subject(c.certificate) AS subject, sealpg.x509_issuer(c.certificate) AS issuer,
	c.not_after::date AS valid_until FROM sealpg.seals s JOIN sealpg.certificates c USING (certificate_id)
	WHERE s.es_id = 'ES-NW-0001'"
echo "  openssl checks the seal certificate against the authority:"
openssl verify -CAfile "$DEMO_OUT/authority.pem" "$DEMO_OUT/seal.pem" | sed "s|$DEMO_OUT/||; s/^/    /"

say "30.3 Only an operator granted the seal may sign with it"
demo_value "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'demo_clerk') THEN
	CREATE ROLE demo_clerk NOLOGIN IN ROLE sealpg_operator; END IF; END \$\$" >/dev/null
echo "  the clerk asks before being granted the seal:"
demo_refused "SET ROLE demo_clerk; SELECT sealpg.sign('ES-NW-0001', 'a contract')"
demo_value "SELECT sealpg.grant_seal('ES-NW-0001', 'demo_clerk', max_uses => 10)" >/dev/null
echo "  the administrator grants it (10 uses); the clerk signs demo-out/contract.txt:"
cat > "$DEMO_OUT/contract.txt" <<'TXT'
Contract of sale

Northwind Contracts Ltd sells to Acme Trading Co. one hundred crates of tea,
delivered in Shanghai before the end of the month, for the agreed price.
TXT
DOC30=$(od -An -v -tx1 "$DEMO_OUT/contract.txt" | tr -d ' \n')
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -tAq -v doc="$DOC30" <<'SQL' | demo_unhex > "$DEMO_OUT/contract.sig"
SET ROLE demo_clerk;
SELECT encode(sealpg.sign('ES-NW-0001', decode(:'doc', 'hex'))::bytea, 'hex');
SQL
demo_sql "SELECT s.es_id, g.operator, encode(g.document_digest, 'hex') AS sha256_of_contract,
	sealpg.sealsig_signing_time(g.signature) AS signing_time
	FROM sealpg.signatures g JOIN sealpg.seals s USING (seal_id)"

say "30.4 Anyone checks the signature with openssl alone (CMS, CAdES baseline B)"
echo "  \$ openssl cms -verify -binary -inform DER -in contract.sig -content contract.txt -CAfile authority.pem"
openssl cms -verify -binary -inform DER -in "$DEMO_OUT/contract.sig" -content "$DEMO_OUT/contract.txt" \
	-CAfile "$DEMO_OUT/authority.pem" -out /dev/null 2>&1 | sed 's/^/    /'
echo "  one changed letter in the contract, and the same check fails:"
sed 's/one hundred/two hundred/' "$DEMO_OUT/contract.txt" > "$DEMO_OUT/contract-altered.txt"
if openssl cms -verify -binary -inform DER -in "$DEMO_OUT/contract.sig" -content "$DEMO_OUT/contract-altered.txt" \
	-CAfile "$DEMO_OUT/authority.pem" -out /dev/null >/dev/null 2>&1; then
	die "an altered contract verified"
fi
echo "    Verification failure (as it should)"
rm -f "$DEMO_OUT/contract-altered.txt"

say "30.5 The database verifies too, and remembers the seal's status when it signed"
demo_value "SELECT sealpg.set_status('ES-NW-0001', 'frozen', 'audit of the contracts office')" >/dev/null
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -P footer=off -v doc="$DOC30" <<'SQL'
SELECT valid, es_id, status_at_signing, status_now
  FROM sealpg.signatures g, sealpg.verify(g.signature, decode(:'doc', 'hex')) v;
SQL
echo "  while frozen, the seal refuses to sign, and the refusal is recorded even though it rolled back:"
demo_refused "SET ROLE demo_clerk; SELECT sealpg.sign('ES-NW-0001', 'another contract')"
for i in $(seq 1 50); do
	[ "$(demo_value "SELECT count(*) FROM sealpg.refused_signings WHERE sqlstate = 'SE002'")" -ge 1 ] && break
	sleep 0.1
done
demo_sql "SELECT es_id, operator, sqlstate, reason FROM sealpg.refused_signings ORDER BY attempted_at"
echo "  artifacts: authority.pem, seal.pem, contract.txt, contract.sig (DER) in demo-out/"
