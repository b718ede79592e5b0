# Chapter 60: the journal, its signed Merkle tree, proofs, and an evidence
# package that anyone checks offline with sealpg-verify.  Sourced by
# scripts/sealpg-demo.sh after chapters 30-50 (say, demo_sql, demo_value,
# demo_refused, DEMO_OUT).

SEALPG_VERIFY=$TOP/verify/sealpg-verify
[ -x "$SEALPG_VERIFY" ] || SEALPG_VERIFY=$PGBIN/sealpg-verify

say "60.1 Every seal event is journaled, hash-linked seal by seal"
demo_sql "SELECT s.es_id, j.seal_seq AS seq, j.kind, j.payload->>'table' AS recorded_from,
	left(encode(j.prev_hash, 'hex'), 12) AS prev_hash, left(encode(j.entry_hash, 'hex'), 12) AS entry_hash
	FROM sealpg.journal j JOIN sealpg.seals s USING (seal_id) ORDER BY s.es_id, j.seal_seq"
echo "  Each entry's prev_hash is the hash of the seal's entry before it."

say "60.2 The journal is append-only"
demo_refused "UPDATE sealpg.journal SET payload = '{}'"
demo_refused "DELETE FROM sealpg.journal"

say "60.3 The entries become leaves of one Merkle tree; the authority signs its head"
if [ "$(demo_value "SELECT EXISTS (SELECT 1 FROM sealpg.authority)")" = t ]; then
	echo "  The authority gets a timestamp authority: a key born on its token, a certificate for timeStamping:"
	demo_value "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM sealpg.tsa) THEN sealpg.tsa_init()::text END" >/dev/null
	demo_sql "SELECT sealpg.x509_subject(certificate) AS tsa, sealpg.x509_issuer(certificate) AS issuer, token_label FROM sealpg.tsa"
fi
HEAD60=$(demo_value "SELECT sealpg.record_tree_head()")
demo_sql "SELECT tree_size, left(encode(root_hash, 'hex'), 24) AS root, signed,
	timestamp_token IS NOT NULL AS timestamped, recorded_at FROM sealpg.tree_heads
	ORDER BY tree_size DESC, signed DESC LIMIT 3"

say "60.4 Proofs: an entry is in the tree; an older tree is a prefix of the newer"
ENTRY60=$(demo_value "SELECT entry_id FROM sealpg.journal ORDER BY leaf_index LIMIT 1")
demo_sql "SELECT leaf_index, proof_tree_size, cardinality(audit_path) AS path_hashes,
	sealpg.verify_inclusion(leaf_hash, leaf_index, proof_tree_size, audit_path, root_hash) AS verifies
	FROM sealpg.inclusion_proof('$ENTRY60', $HEAD60)"
demo_sql "SELECT 1 AS old_size, $HEAD60 AS new_size, cardinality(sealpg.consistency_proof(1, $HEAD60)) AS proof_hashes,
	sealpg.verify_consistency(1, $HEAD60, sealpg.tree_root(1), sealpg.tree_root($HEAD60),
		sealpg.consistency_proof(1, $HEAD60)) AS verifies"

say "60.5 A superuser who turns the guard off and edits an entry is found out"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -P footer=off <<SQL
BEGIN;
ALTER TABLE sealpg.journal DISABLE TRIGGER USER;
UPDATE sealpg.journal SET payload = payload || '{"operator": "someone else"}' WHERE entry_id = '$ENTRY60';
SELECT ok, first_bad_leaf, problem FROM sealpg.journal_verify();
ROLLBACK;
SQL
echo "  (rolled back) and untouched:"
demo_sql "SELECT ok, entries_checked, tree_size FROM sealpg.journal_verify()"

say "60.6 An evidence package for the contract's signature, checked offline"
SIG60=
if [ "$(demo_value "SELECT to_regclass('sealpg.signatures') IS NOT NULL")" = t ]; then
	SIG60=$(demo_value "SELECT signature_id FROM sealpg.signatures ORDER BY signed_at LIMIT 1")
fi
if [ -z "$SIG60" ]; then
	echo "  This installation has no seal signatures (the signing part is not installed): no package."
elif [ ! -x "$SEALPG_VERIFY" ]; then
	echo "  sealpg-verify is not built: no package."
else
	demo_value "SELECT encode(sealpg.evidence('$SIG60'), 'hex')" | perl -ne 's/\s+//g; print pack("H*", $_)' \
		> "$DEMO_OUT/evidence.tar"
	echo "  demo-out/evidence.tar holds:"
	tar tvf "$DEMO_OUT/evidence.tar" | awk '{ printf "    %8s  %s\n", $3, $6 }'
	echo "  \$ sealpg-verify evidence.tar --authority authority.pem --document contract.txt"
	"$SEALPG_VERIFY" "$DEMO_OUT/evidence.tar" --authority "$DEMO_OUT/authority.pem" \
		--document "$DEMO_OUT/contract.txt" | sed 's/^/    /' ||
		die "the demo's evidence package does not verify"
	echo "  the same package with one byte of the signed tree head changed:"
	rm -rf "$DEMO_OUT/.tamper" && mkdir "$DEMO_OUT/.tamper"
	(cd "$DEMO_OUT/.tamper" && tar xf ../evidence.tar &&
		perl -0777 -i -pe 's/"tree_size":(\d)/"tree_size":9$1/' tree-head.json &&
		tar --format=ustar -cf ../evidence-altered.tar $(ls | sort))
	if "$SEALPG_VERIFY" "$DEMO_OUT/evidence-altered.tar" --authority "$DEMO_OUT/authority.pem" \
		--document "$DEMO_OUT/contract.txt" > "$DEMO_OUT/.out"; then
		die "an altered evidence package verified"
	fi
	grep -E '^FAILS|^The evidence' "$DEMO_OUT/.out" | sed 's/^/    /'
	rm -rf "$DEMO_OUT/.tamper" "$DEMO_OUT/.out" "$DEMO_OUT/evidence-altered.tar"
fi
