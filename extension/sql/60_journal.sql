-- ===================================================================
-- 60 Journal: an append-only, per-seal hash-linked log of every seal
--    event, the RFC 6962 Merkle tree over all of it, tree heads and
--    proofs.  (Written so that it is also the upgrade delta: it only
--    creates objects.)
-- ===================================================================

-- ---- tables --------------------------------------------------------

-- Local append order (never shown outside): the sequencer's order.
CREATE SEQUENCE sealpg.journal_append_no;
COMMENT ON SEQUENCE sealpg.journal_append_no IS
	'order in which journal entries were appended; the sequencer gives leaves in this order to committed entries';

CREATE TABLE sealpg.journal (
	entry_id	uuid PRIMARY KEY,
	seal_id		uuid NOT NULL,
	seal_seq	bigint NOT NULL CHECK (seal_seq > 0),
	kind		text NOT NULL,
	event_time	timestamptz NOT NULL,
	payload		jsonb NOT NULL,
	prev_hash	bytea,
	entry_hash	bytea NOT NULL,
	leaf_index	bigint UNIQUE,
	append_no	bigint NOT NULL DEFAULT pg_catalog.nextval('sealpg.journal_append_no'),
	UNIQUE (seal_id, seal_seq)
);
COMMENT ON TABLE sealpg.journal IS
	'every seal event, append-only: entries of one seal are hash-linked (prev_hash), all entries are leaves of one Merkle tree (leaf_index, set by sealpg.journal_sequence())';
COMMENT ON COLUMN sealpg.journal.seal_seq IS 'the entry''s number in its seal''s chain, from 1';
COMMENT ON COLUMN sealpg.journal.payload IS 'what happened: for journaled rows, the table and every column (large binary values as "sha256:<hex>")';
COMMENT ON COLUMN sealpg.journal.prev_hash IS 'entry_hash of the seal''s previous entry (NULL for its first)';
COMMENT ON COLUMN sealpg.journal.entry_hash IS 'SHA-256 of the entry''s canonical serialisation (sealpg.journal_entry_text, doc/JOURNAL.md)';
COMMENT ON COLUMN sealpg.journal.leaf_index IS 'the entry''s leaf in the Merkle tree; NULL until sequenced';
COMMENT ON COLUMN sealpg.journal.append_no IS 'local append order (not part of the hashed entry)';
CREATE INDEX journal_unsequenced ON sealpg.journal (append_no) WHERE leaf_index IS NULL;

CREATE TABLE sealpg.journal_tree (
	level		smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
	node_index	bigint NOT NULL CHECK (node_index >= 0),
	hash		bytea NOT NULL CHECK (pg_catalog.length(hash) = 32),
	PRIMARY KEY (level, node_index)
);
COMMENT ON TABLE sealpg.journal_tree IS
	'every complete subtree of the journal''s Merkle tree: level 0 are leaf hashes, the node (L, i) covers leaves i*2^L .. (i+1)*2^L-1';

CREATE TABLE sealpg.tree_heads (
	tree_size	bigint PRIMARY KEY CHECK (tree_size >= 0),
	root_hash	bytea NOT NULL CHECK (pg_catalog.length(root_hash) = 32),
	recorded_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	signature	bytea,
	timestamp_token bytea
);
COMMENT ON TABLE sealpg.tree_heads IS
	'tree heads recorded by sealpg.record_tree_head() or signed by sealpg.sign_tree_head(): journal_verify() checks that the entries still give each root';
COMMENT ON COLUMN sealpg.tree_heads.signature IS
	'the authority''s detached CMS signature (DER) over sealpg.tree_head_json(tree_size); NULL for a head recorded unsigned';
COMMENT ON COLUMN sealpg.tree_heads.timestamp_token IS
	'RFC 3161 TimeStampResp (DER) over SHA-256 of sealpg.tree_head_json(tree_size)';

-- ---- C functions ---------------------------------------------------

CREATE FUNCTION sealpg.journal_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sealpg_journal_guard'
	LANGUAGE C;
COMMENT ON FUNCTION sealpg.journal_guard() IS
	'keeps the journal, its tree and its tree heads append-only (SQLSTATE SE401)';

CREATE FUNCTION sealpg.journal_record() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sealpg_journal_record'
	LANGUAGE C;
COMMENT ON FUNCTION sealpg.journal_record() IS
	'AFTER INSERT trigger: journals the new row under its seal; arguments: entry kind [, seal column (default seal_id)]';

CREATE FUNCTION sealpg.journal_append(seal uuid, kind text, payload jsonb) RETURNS uuid
	AS 'MODULE_PATHNAME', 'sealpg_journal_append_sql'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.journal_append(uuid, text, jsonb) IS
	'appends an event to the seal''s chain in the caller''s transaction; returns the entry id (internal: sealpg''s own code journals events)';

CREATE FUNCTION sealpg.journal_sequence(max_entries bigint DEFAULT 1000000) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sealpg_journal_sequence'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.journal_sequence(bigint) IS
	'gives leaves, in append order, to committed entries that have none and grows the Merkle tree; returns the tree size (pg_cron runs it every minute)';

CREATE FUNCTION sealpg.tree_size() RETURNS bigint
	AS 'MODULE_PATHNAME', 'sealpg_tree_size'
	LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION sealpg.tree_size() IS 'the number of leaves in the journal''s Merkle tree';

CREATE FUNCTION sealpg.tree_root(tree_size bigint) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_tree_root'
	LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION sealpg.tree_root(bigint) IS
	'the RFC 6962 Merkle tree hash of the journal''s first tree_size leaves';

CREATE FUNCTION sealpg.inclusion_proof(entry uuid, tree_size bigint DEFAULT NULL,
	OUT leaf_index bigint, OUT proof_tree_size bigint, OUT leaf_hash bytea,
	OUT root_hash bytea, OUT audit_path bytea[])
	AS 'MODULE_PATHNAME', 'sealpg_inclusion_proof'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION sealpg.inclusion_proof(uuid, bigint) IS
	'RFC 6962 audit path of a journal entry in the tree of tree_size leaves (default: the current tree), leaf first';

CREATE FUNCTION sealpg.consistency_proof(old_size bigint, new_size bigint) RETURNS bytea[]
	AS 'MODULE_PATHNAME', 'sealpg_consistency_proof'
	LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION sealpg.consistency_proof(bigint, bigint) IS
	'RFC 6962 consistency proof that the tree of old_size leaves is a prefix of the tree of new_size leaves';

CREATE FUNCTION sealpg.verify_inclusion(leaf_hash bytea, leaf_index bigint, tree_size bigint,
	audit_path bytea[], root_hash bytea) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_verify_inclusion'
	LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sealpg.verify_inclusion(bytea, bigint, bigint, bytea[], bytea) IS
	'RFC 9162 2.1.3.2: true when the audit path proves the leaf is at leaf_index in the tree with that root';

CREATE FUNCTION sealpg.verify_consistency(old_size bigint, new_size bigint, old_root bytea,
	new_root bytea, proof bytea[]) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_verify_consistency'
	LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sealpg.verify_consistency(bigint, bigint, bytea, bytea, bytea[]) IS
	'RFC 9162 2.1.4.2: true when the proof shows the tree with old_root is a prefix of the tree with new_root';

CREATE FUNCTION sealpg.journal_verify(OUT ok boolean, OUT entries_checked bigint,
	OUT tree_size bigint, OUT first_bad_entry uuid, OUT first_bad_leaf bigint,
	OUT problem text)
	AS 'MODULE_PATHNAME', 'sealpg_journal_verify'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION sealpg.journal_verify() IS
	'recomputes every entry hash, per-seal link, tree node and recorded tree head; names the first bad entry and what is wrong with it';

CREATE FUNCTION sealpg.journal_entry_text(entry uuid) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_journal_entry_text'
	LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION sealpg.journal_entry_text(uuid) IS
	'the entry''s canonical serialisation: its SHA-256 is entry_hash, SHA-256(0x00 || it) its Merkle leaf';

-- The readers see every entry whatever row-level security shows the
-- caller: the tree covers all entries, and proofs reveal hashes only.
ALTER FUNCTION sealpg.tree_size() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sealpg.tree_root(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sealpg.inclusion_proof(uuid, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sealpg.consistency_proof(bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sealpg.journal_verify() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- ---- tree heads ------------------------------------------------------

CREATE FUNCTION sealpg.tree_head(OUT tree_size bigint, OUT root_hash bytea, OUT computed_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	tree_size := sealpg.tree_size();
	root_hash := sealpg.tree_root(tree_size);
	computed_at := pg_catalog.now();
END
$$;
COMMENT ON FUNCTION sealpg.tree_head() IS
	'the journal''s tree head now: its size and RFC 6962 root (read-only: works on a hot standby)';

CREATE FUNCTION sealpg.record_tree_head() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h record;
BEGIN
	IF pg_catalog.pg_is_in_recovery() THEN
		RAISE EXCEPTION 'cannot record a tree head on a standby'
			USING ERRCODE = '25006', HINT = 'Tree heads are recorded on the primary.';
	END IF;
	PERFORM sealpg.journal_sequence();
	SELECT * INTO h FROM sealpg.tree_head();
	INSERT INTO sealpg.tree_heads (tree_size, root_hash) VALUES (h.tree_size, h.root_hash)
		ON CONFLICT (tree_size) DO NOTHING;
	RETURN h.tree_size;
END
$$;
COMMENT ON FUNCTION sealpg.record_tree_head() IS
	'sequences the journal, then stores the tree head in sealpg.tree_heads (once per size); returns its size (pg_cron runs it every minute)';

CREATE FUNCTION sealpg.tree_head_json(tree_size bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h sealpg.tree_heads;
BEGIN
	SELECT * INTO h FROM sealpg.tree_heads t WHERE t.tree_size = tree_head_json.tree_size;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no tree head of size % was recorded', tree_size
			USING ERRCODE = 'SE404', HINT = 'sealpg.sign_tree_head() or sealpg.record_tree_head() records one.';
	END IF;
	RETURN format('{"v":1,"tree_size":%s,"root_hash":"%s","recorded_at":"%s"}',
				  h.tree_size, encode(h.root_hash, 'hex'),
				  to_char(h.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
END
$$;
COMMENT ON FUNCTION sealpg.tree_head_json(bigint) IS
	'a recorded tree head as the canonical JSON the authority signs (doc/EVIDENCE.md)';

CREATE FUNCTION sealpg.inclusion_proof_json(entry uuid, tree_size bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
BEGIN
	SELECT * INTO p FROM sealpg.inclusion_proof(entry, tree_size);
	RETURN format('{"v":1,"entry_id":"%s","leaf_index":%s,"tree_size":%s,"leaf_hash":"%s","audit_path":[%s]}',
				  entry, p.leaf_index, p.proof_tree_size, encode(p.leaf_hash, 'hex'),
				  coalesce((SELECT string_agg('"' || encode(h, 'hex') || '"', ',' ORDER BY n)
							  FROM unnest(p.audit_path) WITH ORDINALITY AS a(h, n)), ''));
END
$$;
COMMENT ON FUNCTION sealpg.inclusion_proof_json(uuid, bigint) IS
	'an inclusion proof as the JSON of an evidence package (doc/EVIDENCE.md)';

-- ---- append-only guards -------------------------------------------

CREATE TRIGGER journal_guard_row BEFORE INSERT OR UPDATE ON sealpg.journal
	FOR EACH ROW EXECUTE FUNCTION sealpg.journal_guard();
CREATE TRIGGER journal_guard_stmt BEFORE DELETE OR TRUNCATE ON sealpg.journal
	FOR EACH STATEMENT EXECUTE FUNCTION sealpg.journal_guard();
CREATE TRIGGER journal_guard_row BEFORE INSERT OR UPDATE ON sealpg.journal_tree
	FOR EACH ROW EXECUTE FUNCTION sealpg.journal_guard();
CREATE TRIGGER journal_guard_stmt BEFORE DELETE OR TRUNCATE ON sealpg.journal_tree
	FOR EACH STATEMENT EXECUTE FUNCTION sealpg.journal_guard();
CREATE TRIGGER journal_guard_stmt BEFORE UPDATE OR DELETE OR TRUNCATE ON sealpg.tree_heads
	FOR EACH STATEMENT EXECUTE FUNCTION sealpg.journal_guard();

-- ---- what is journaled ---------------------------------------------
-- Each table of seal events that exists when this piece runs gets an
-- AFTER INSERT trigger; pieces run in number order, so all of them exist
-- once every part is installed.

DO $journal$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT * FROM (VALUES
			('seal_status_history', 'status'),
			('certificates', 'certificate'),
			('signatures', 'signature'),
			('refused_signings', 'refused_signing'),
			('revocations', 'revocation'),
			('use_events', 'use'),
			('alerts', 'alert')) AS v(tab, kind)
	LOOP
		IF pg_catalog.to_regclass('sealpg.' || t.tab) IS NOT NULL
		   AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
					   WHERE attrelid = pg_catalog.to_regclass('sealpg.' || t.tab)
						 AND attname = 'seal_id' AND NOT attisdropped) THEN
			EXECUTE pg_catalog.format(
				'CREATE TRIGGER journal_record AFTER INSERT ON sealpg.%I '
				'FOR EACH ROW EXECUTE FUNCTION sealpg.journal_record(%L)', t.tab, t.kind);
		END IF;
	END LOOP;
END
$journal$;

-- ---- evidence packages ---------------------------------------------

CREATE FUNCTION sealpg.evidence_tar(names text[], contents bytea[]) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_evidence_tar'
	LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION sealpg.evidence_tar(text[], bytea[]) IS
	'a POSIX ustar archive of the named files (the container of an evidence package)';

CREATE FUNCTION sealpg.ocsp_request(certificate bytea, issuer bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_ocsp_request'
	LANGUAGE C STRICT IMMUTABLE;
COMMENT ON FUNCTION sealpg.ocsp_request(bytea, bytea) IS
	'a DER OCSP request (SHA-256 certificate id, no nonce) for a DER certificate and its DER issuer';

-- ---- the sequencer's job -------------------------------------------

INSERT INTO sealpg.jobs VALUES
	('sealpg-journal-sequence', '* * * * *',
	 'SELECT sealpg.record_tree_head()');

-- ---- privileges ----------------------------------------------------

ALTER TABLE sealpg.journal ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_organisation ON sealpg.journal
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = journal.seal_id)));

-- Written only by sealpg itself (the guard refuses everything else).
REVOKE ALL ON sealpg.journal, sealpg.journal_tree, sealpg.tree_heads FROM PUBLIC;
REVOKE ALL ON SEQUENCE sealpg.journal_append_no FROM PUBLIC;
GRANT SELECT ON sealpg.journal, sealpg.journal_tree, sealpg.tree_heads TO sealpg_admin, sealpg_auditor;

-- Triggers, appends and sequencing are sealpg's own; readers are granted
-- below.
REVOKE ALL ON FUNCTION
	sealpg.journal_guard(),
	sealpg.journal_record(),
	sealpg.journal_append(uuid, text, jsonb),
	sealpg.journal_sequence(bigint),
	sealpg.record_tree_head(),
	sealpg.tree_size(),
	sealpg.tree_root(bigint),
	sealpg.tree_head(),
	sealpg.inclusion_proof(uuid, bigint),
	sealpg.consistency_proof(bigint, bigint),
	sealpg.verify_inclusion(bytea, bigint, bigint, bytea[], bytea),
	sealpg.verify_consistency(bigint, bigint, bytea, bytea, bytea[]),
	sealpg.journal_verify(),
	sealpg.journal_entry_text(uuid),
	sealpg.tree_head_json(bigint),
	sealpg.inclusion_proof_json(uuid, bigint),
	sealpg.evidence_tar(text[], bytea[]),
	sealpg.ocsp_request(bytea, bytea)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sealpg.tree_size(),
	sealpg.tree_root(bigint),
	sealpg.tree_head(),
	sealpg.inclusion_proof(uuid, bigint),
	sealpg.consistency_proof(bigint, bigint),
	sealpg.verify_inclusion(bytea, bigint, bigint, bytea[], bytea),
	sealpg.verify_consistency(bigint, bigint, bytea, bytea, bytea[]),
	sealpg.journal_verify(),
	sealpg.journal_entry_text(uuid),
	sealpg.tree_head_json(bigint),
	sealpg.inclusion_proof_json(uuid, bigint),
	sealpg.evidence_tar(text[], bytea[]),
	sealpg.ocsp_request(bytea, bytea)
	TO sealpg_admin, sealpg_auditor;
GRANT EXECUTE ON FUNCTION sealpg.journal_sequence(bigint), sealpg.record_tree_head() TO sealpg_admin;
