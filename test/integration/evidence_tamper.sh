#!/usr/bin/env bash
# evidence_tamper.sh: sealpg-verify accepts a good evidence package and
# catches every change to any part of it.
#
# The journal parts (entry, inclusion proof, tree head) come from the
# database; the signature, certificates, OCSP response and timestamps are
# made here with the openssl command line and keys held in memory, so the
# verifier is tested whether or not the token-backed authority is
# installed (test/integration/evidence_sql.sh covers sealpg.evidence()).
# Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
VERIFY=$TOP/verify/sealpg-verify
PGBIN=${SEALPG_PGBIN:-/usr/lib/postgresql/15/bin}
command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 77; }
[ -x "$VERIFY" ] || { echo "SKIP: $VERIFY is not built"; exit 77; }
psql_() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -tA -c "$1"; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
failures=0
pass() { echo "ok: $*"; }
fail() { echo "NOT OK: $*"; failures=$((failures + 1)); }

# ---- keys and certificates (in memory, for this test only) ----
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
newkey ca.key
openssl req -x509 -new -key ca.key -subj "/CN=Test Seal Authority" -days 30 -out ca.pem \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
issue() {	# issue NAME SUBJECT EXTENSIONS
	newkey "$1.key"
	openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
	printf '%b\n' "$3" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 10 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
issue seal "/CN=ES-TEST-0001/O=Test Co" "keyUsage=critical,digitalSignature,nonRepudiation"
issue tsa "/CN=Test Seal Authority TSA" "keyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping"
newkey other.key
openssl req -x509 -new -key other.key -subj "/CN=Another Authority" -days 30 -out other.pem 2>/dev/null

# ---- the signature ----
head -c 5000 /dev/urandom > document.bin
openssl cms -sign -binary -in document.bin -signer seal.pem -inkey seal.key -md sha256 -outform DER -out sig.p7s
digest=$(sha256sum document.bin | cut -c1-64)
sighash=$(sha256sum sig.p7s | cut -c1-64)

# ---- its status: an OCSP response of the authority ----
serial=$(openssl x509 -in seal.pem -noout -serial | cut -d= -f2)
enddate=$(date -u -d "+10 days" +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$enddate" "$serial" "$(openssl x509 -in seal.pem -noout -subject -nameopt compat | sed 's/^subject=//')" > index.txt
openssl ocsp -issuer ca.pem -cert seal.pem -reqout ocsp-req.der -no_nonce 2>/dev/null
openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem -reqin ocsp-req.der -respout ocsp.der -ndays 1 2>/dev/null

# ---- the journal: an entry for the signature, sequenced, a tree head ----
seal_id=$(psql_ "SELECT gen_random_uuid()")
sig_id=$(psql_ "SELECT gen_random_uuid()")
entry=$(psql_ "SELECT sealpg.journal_append('$seal_id', 'signature', jsonb_build_object(
	'table', 'signatures', 'signature_id', '$sig_id', 'seal_id', '$seal_id',
	'document_digest', '\\x$digest', 'signature', 'sha256:$sighash', 'operator', 'clerk'))")
# more entries around it, so the proof has a path
psql_ "SELECT count(sealpg.journal_append('$seal_id', 'test', jsonb_build_object('n', i))) FROM generate_series(1, 20) i" >/dev/null
size=$(psql_ "SELECT sealpg.record_tree_head()")
printf '%s' "$(psql_ "SELECT sealpg.journal_entry_text('$entry')")" > journal-entry.json
printf '%s' "$(psql_ "SELECT sealpg.inclusion_proof_json('$entry', $size)")" > inclusion-proof.json
printf '%s' "$(psql_ "SELECT sealpg.tree_head_json($size)")" > tree-head.json
openssl cms -sign -binary -in tree-head.json -signer ca.pem -inkey ca.key -md sha256 -outform DER -out tree-head.p7s

# ---- timestamps (RFC 3161, openssl ts as the TSA) ----
cat > tsa.cnf <<CNF
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = $W/tsa.serial
signer_digest = sha256
default_policy = 2.999.1
digests = sha256
ess_cert_id_alg = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
CNF
echo 01 > tsa.serial
# the imprint of a signature's timestamp is SHA-256 of its signature value
off=$(openssl asn1parse -inform DER -in sig.p7s | grep "OCTET STRING" | tail -1 | cut -d: -f1 | tr -d ' ')
openssl asn1parse -inform DER -in sig.p7s -strparse "$off" -noout -out sigvalue.der
stamp() {	# stamp DATA OUT
	openssl ts -query -data "$1" -sha256 -cert -no_nonce -out "$2.tsq" 2>/dev/null
	openssl ts -reply -queryfile "$2.tsq" -signer tsa.pem -inkey tsa.key -chain ca.pem -config tsa.cnf -out "$2" 2>/dev/null
}
stamp sigvalue.der sig.tsr
stamp tree-head.json head.tsr
openssl ts -verify -data sigvalue.der -in sig.tsr -CAfile ca.pem > ts.txt 2>&1 || true
if grep -q "Verification: OK" ts.txt; then
	pass "openssl ts -verify accepts the signature's timestamp"
else
	fail "openssl ts -verify refuses the signature's timestamp"
fi

# ---- the package ----
mkdir good
cp journal-entry.json inclusion-proof.json tree-head.json tree-head.p7s ocsp.der good/
cp sig.p7s good/signature.p7s
cat seal.pem ca.pem > good/chain.pem
printf '%s\n' "$digest" > good/document-digest.hex
cp sig.tsr good/signature-timestamp.tsr
cp head.tsr good/tree-head-timestamp.tsr
# pack DIR OUT [keep]: write the manifest (unless keep) and the ustar archive
pack() {
	local d=$1 out=$2 f first=1
	if [ "${3:-}" != keep ]; then
		{
			printf '{"format":"sealpg-evidence","version":1,"signature_id":"%s","files":{' "$sig_id"
			for f in $(cd "$d" && ls | grep -v '^manifest.json$' | sort); do
				[ $first -eq 1 ] || printf ','
				first=0
				printf '"%s":"%s"' "$f" "$(sha256sum "$d/$f" | cut -c1-64)"
			done
			printf '}}'
		} > "$d/manifest.json"
	fi
	(cd "$d" && tar --format=ustar --owner=0 --group=0 -cf "$out" $(ls | sort))
}
pack good "$W/good.tar"

# ---- a good package holds ----
if "$VERIFY" good.tar --authority ca.pem --document document.bin > out.txt; then
	pass "the good package holds ($(grep -c '^HOLDS' out.txt) checks)"
else
	cat out.txt
	fail "the good package does not hold"
fi
cat out.txt
"$VERIFY" good.tar --authority ca.pem > out.txt && fail "without --document it claims to hold" ||
	{ grep -q "^UNCHECKED.*document" out.txt && pass "without --document: the document is reported unchecked, exit 1"; }
"$VERIFY" good.tar > out.txt && fail "without --authority it claims to hold" ||
	{ grep -q "^UNCHECKED.*authority" out.txt && pass "without --authority: trusting the package's authority is reported, exit 1"; }
"$VERIFY" good.tar --authority other.pem --document document.bin > out.txt && fail "another authority was accepted" ||
	{ grep -q "^FAILS.*authority" out.txt && pass "another authority: refused"; }
head -c 4999 document.bin > short.bin
"$VERIFY" good.tar --authority ca.pem --document short.bin > out.txt && fail "another document was accepted" ||
	{ grep -q "^FAILS.*document: the file you gave is not" out.txt && pass "another document: refused"; }
rc=0; "$VERIFY" > /dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] && pass "no package: usage, exit 2" || fail "no package: exit $rc"

# ---- every part changed: caught, with or without a manifest that agrees ----
# expected words in the FAILS line when the manifest was rewritten to match
declare -A expect=(
	[manifest.json]="journal entry|manifest"
	[document-digest.hex]="document"
	[signature.p7s]="signature|journal entry"
	[chain.pem]="certificates|authority|seal certificate|signature"
	[ocsp.der]="status"
	[journal-entry.json]="journal entry|inclusion"
	[inclusion-proof.json]="inclusion"
	[tree-head.json]="tree head"
	[tree-head.p7s]="tree head"
	[signature-timestamp.tsr]="timestamp on the signature"
	[tree-head-timestamp.tsr]="timestamp on the tree head"
)
for f in "${!expect[@]}"; do
	for mode in keep rewrite; do
		[ "$f" = manifest.json ] && [ $mode = rewrite ] && continue
		rm -rf t && cp -r good t
		# change one byte in the middle (a hex digit in the hex files)
		if [ "$f" = document-digest.hex ]; then
			perl -0777 -i -pe 'substr($_, 10, 1) = substr($_, 10, 1) eq "0" ? "1" : "0"' "t/$f"
		elif [ "$f" = manifest.json ]; then
			perl -0777 -i -pe 's/"signature_id":"(.)/"signature_id":"\1\1/' "t/$f"
		else
			perl -0777 -i -pe 'substr($_, int(length($_) / 2), 1) ^= "\x01"' "t/$f"
		fi
		pack t "$W/t.tar" $([ $mode = keep ] && echo keep)
		if "$VERIFY" t.tar --authority ca.pem --document document.bin > out.txt; then
			fail "$f changed ($mode manifest): not caught"
		elif grep -E "^FAILS" out.txt | grep -qE "${expect[$f]}"; then
			pass "$f changed ($mode manifest): $(grep -m1 -E '^FAILS' out.txt | grep -E "${expect[$f]}" || grep -E '^FAILS' out.txt | grep -m1 -E "${expect[$f]}")"
		else
			cat out.txt
			fail "$f changed ($mode manifest): caught, but not by the check for it"
		fi
	done
	# and removed
	rm -rf t && cp -r good t && rm "t/$f"
	pack t "$W/t.tar" $([ "$f" = manifest.json ] && echo keep)
	"$VERIFY" t.tar --authority ca.pem --document document.bin > out.txt &&
		fail "$f removed: not caught" || pass "$f removed: caught ($(grep -m1 -E '^(FAILS|UNCHECKED)' out.txt))"
done

# ---- a damaged archive ----
head -c 3000 good.tar > cut.tar
"$VERIFY" cut.tar --authority ca.pem > out.txt && fail "a cut archive was accepted" ||
	pass "a cut archive: $(grep -m1 '^FAILS' out.txt)"
cp good.tar bad.tar
printf 'X' | dd of=bad.tar bs=1 seek=20 conv=notrunc 2>/dev/null
"$VERIFY" bad.tar --authority ca.pem > out.txt && fail "a damaged header was accepted" ||
	pass "a damaged header: $(grep -m1 '^FAILS' out.txt)"

echo
[ $failures -eq 0 ] && echo "evidence_tamper: all checks passed" || echo "evidence_tamper: $failures failed"
[ $failures -eq 0 ]
