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
	tree_size	bigint NOT NULL CHECK (tree_size >= 0),
	root_hash	bytea NOT NULL CHECK (pg_catalog.length(root_hash) = 32),
	recorded_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	signature	bytea,
	timestamp_token bytea,
	signed		boolean GENERATED ALWAYS AS (signature IS NOT NULL) STORED,
	PRIMARY KEY (tree_size, signed)
);
COMMENT ON TABLE sealpg.tree_heads IS
	'tree heads recorded by sealpg.record_tree_head() or signed by sealpg.sign_tree_head(): journal_verify() checks that the entries still give each root';
COMMENT ON COLUMN sealpg.tree_heads.signature IS
	'the authority''s detached CMS signature (DER) over sealpg.tree_head_json(tree_size); NULL for a head recorded unsigned';
COMMENT ON COLUMN sealpg.tree_heads.signed IS 'whether the authority signed this head (one signed and one unsigned head per size at most)';
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

CREATE FUNCTION sealpg.tree_head_text(tree_size bigint, root_hash bytea, recorded_at timestamptz)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN format('{"v":1,"tree_size":%s,"root_hash":"%s","recorded_at":"%s"}',
			  tree_size, encode(root_hash, 'hex'),
			  to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
COMMENT ON FUNCTION sealpg.tree_head_text(bigint, bytea, timestamptz) IS
	'the canonical JSON of a tree head, the bytes the authority signs (doc/EVIDENCE.md)';

CREATE FUNCTION sealpg.sign_tree_head() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h record;
	at timestamptz := pg_catalog.now();
	content bytea;
	ts bytea;
BEGIN
	IF pg_catalog.pg_is_in_recovery() THEN
		RAISE EXCEPTION 'cannot sign a tree head on a standby'
			USING ERRCODE = '25006', HINT = 'Tree heads are signed on the primary.';
	END IF;
	PERFORM sealpg.journal_sequence();
	SELECT * INTO h FROM sealpg.tree_head();
	IF EXISTS (SELECT 1 FROM sealpg.tree_heads t WHERE t.tree_size = h.tree_size AND t.signed) THEN
		RETURN h.tree_size;
	END IF;
	content := convert_to(sealpg.tree_head_text(h.tree_size, h.root_hash, at), 'UTF8');
	IF pg_catalog.to_regclass('sealpg.tsa') IS NOT NULL AND EXISTS (SELECT 1 FROM sealpg.tsa) THEN
		ts := sealpg.timestamp(sha256(content));
	END IF;
	INSERT INTO sealpg.tree_heads (tree_size, root_hash, recorded_at, signature, timestamp_token)
		VALUES (h.tree_size, h.root_hash, at, sealpg.authority_sign_detached(content), ts);
	RETURN h.tree_size;
END
$$;
COMMENT ON FUNCTION sealpg.sign_tree_head() IS
	'sequences the journal, then stores the tree head signed by the authority through its token (and timestamped, when there is a TSA); returns its size';

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
	BEGIN
		RETURN sealpg.sign_tree_head();
	EXCEPTION WHEN SQLSTATE 'SE201' THEN
		-- no authority (yet): record the head unsigned
		NULL;
	END;
	PERFORM sealpg.journal_sequence();
	SELECT * INTO h FROM sealpg.tree_head();
	INSERT INTO sealpg.tree_heads (tree_size, root_hash) VALUES (h.tree_size, h.root_hash)
		ON CONFLICT DO NOTHING;
	RETURN h.tree_size;
END
$$;
COMMENT ON FUNCTION sealpg.record_tree_head() IS
	'sequences the journal and stores the tree head: signed by the authority when there is one, else unsigned; returns its size (pg_cron runs it every minute)';

CREATE FUNCTION sealpg.tree_head_json(tree_size bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h sealpg.tree_heads;
BEGIN
	SELECT * INTO h FROM sealpg.tree_heads t WHERE t.tree_size = tree_head_json.tree_size
	 ORDER BY t.signed DESC LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no tree head of size % was recorded', tree_size
			USING ERRCODE = 'SE404', HINT = 'sealpg.sign_tree_head() or sealpg.record_tree_head() records one.';
	END IF;
	RETURN sealpg.tree_head_text(h.tree_size, h.root_hash, h.recorded_at);
END
$$;
COMMENT ON FUNCTION sealpg.tree_head_json(bigint) IS
	'a recorded tree head (the signed one when there is one) as the canonical JSON the authority signs';

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

-- ---- signatures of the authority: tree heads, timestamps ------------
-- The keys are on the authority's token; the C side reaches them through
-- the signing part and raises SE201 where it is not installed.

CREATE FUNCTION sealpg.authority_sign_detached(content bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_authority_sign_detached'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.authority_sign_detached(bytea) IS
	'the authority''s detached CMS signature (DER) over content, made through its token (internal: tree heads)';

CREATE FUNCTION sealpg.tsa_issue(spki bytea, name text, days integer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_tsa_issue'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.tsa_issue(bytea, text, integer) IS
	'a TSA certificate (DER) for the key, issued by the authority: critical extendedKeyUsage timeStamping (internal: tsa_init)';

CREATE FUNCTION sealpg.timestamp(digest bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_timestamp'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.timestamp(bytea) IS
	'an RFC 3161 TimeStampResp (DER) over a SHA-256 digest from this database''s TSA, signed on the token; openssl ts -verify accepts it';

CREATE FUNCTION sealpg.signature_value_digest(signature bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_signature_value_digest'
	LANGUAGE C STRICT IMMUTABLE;
COMMENT ON FUNCTION sealpg.signature_value_digest(bytea) IS
	'SHA-256 of a CMS signature''s (single) signature value: the message imprint of its CAdES-T timestamp';

CREATE FUNCTION sealpg.cades_t(signature bytea, timestamp_response bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_cades_t'
	LANGUAGE C STRICT IMMUTABLE;
COMMENT ON FUNCTION sealpg.cades_t(bytea, bytea) IS
	'the CMS signature with the timestamp token added as the unsigned attribute signatureTimeStampToken (CAdES baseline T)';

CREATE FUNCTION sealpg.log_signing_selftest(digest bytea, content bytea,
	OUT authority_pem text, OUT timestamp_response bytea, OUT content_signature bytea,
	OUT cades_t bytea)
	AS 'MODULE_PATHNAME', 'sealpg_log_signing_selftest'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.log_signing_selftest(bytea, bytea) IS
	'runs the tree head, timestamp and CAdES-T code with keys made in memory for the call (tests; check the output with openssl)';

CREATE TABLE sealpg.tsa (
	singleton	boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	token_label	text NOT NULL,
	key_id		bytea NOT NULL,
	spki		bytea NOT NULL,
	certificate	sealpg.x509 NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.tsa IS
	'this database''s RFC 3161 timestamp authority: a key on the authority''s token and its certificate from the authority';

CREATE TABLE sealpg.signature_timestamps (
	signature_id		uuid PRIMARY KEY,
	seal_id				uuid NOT NULL,
	timestamp_response	bytea NOT NULL,
	cades_t				bytea NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.signature_timestamps IS
	'RFC 3161 timestamps over seal signatures, and each signature upgraded to CAdES baseline T';
CREATE TRIGGER journal_guard_stmt BEFORE UPDATE OR DELETE OR TRUNCATE ON sealpg.signature_timestamps
	FOR EACH STATEMENT EXECUTE FUNCTION sealpg.journal_guard();
CREATE TRIGGER journal_record AFTER INSERT ON sealpg.signature_timestamps
	FOR EACH ROW EXECUTE FUNCTION sealpg.journal_record('signature_timestamp');

CREATE FUNCTION sealpg.tsa_init(valid_for interval DEFAULT '5 years', token text DEFAULT 'sealpg-authority')
RETURNS sealpg.x509
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k record;
	cert bytea;
	authority_name text;
	days integer := greatest(1, extract(epoch FROM valid_for)::bigint / 86400)::integer;
BEGIN
	IF NOT pg_catalog.pg_has_role(sealpg.caller(), 'sealpg_admin', 'MEMBER') THEN
		RAISE EXCEPTION 'role "%" may not create the timestamp authority', sealpg.caller()
			USING ERRCODE = 'SE301', HINT = 'Members of sealpg_admin create it.';
	END IF;
	IF pg_catalog.pg_is_in_recovery() THEN
		RAISE EXCEPTION 'cannot create the timestamp authority on a standby' USING ERRCODE = '25006';
	END IF;
	LOCK TABLE sealpg.tsa IN EXCLUSIVE MODE;
	IF EXISTS (SELECT 1 FROM sealpg.tsa) THEN
		RAISE EXCEPTION 'this database has a timestamp authority already'
			USING ERRCODE = 'SE202', HINT = 'SELECT certificate FROM sealpg.tsa shows it.';
	END IF;
	IF pg_catalog.to_regclass('sealpg.authority') IS NOT NULL THEN
		EXECUTE 'SELECT a.name FROM sealpg.authority a' INTO authority_name;
	END IF;
	IF authority_name IS NULL THEN
		RAISE EXCEPTION 'this database has no seal authority'
			USING ERRCODE = 'SE201', HINT = 'Create it first with sealpg.authority_init(name).';
	END IF;
	EXECUTE 'SELECT * FROM sealpg.generate_key($1, ''ec-p256'', ''sealpg-tsa'')' INTO k USING token;
	cert := sealpg.tsa_issue(k.spki, authority_name || ' TSA', days);
	INSERT INTO sealpg.tsa (token_label, key_id, spki, certificate)
		VALUES (token, k.key_id, k.spki, cert::sealpg.x509);
	RETURN cert::sealpg.x509;
END
$$;
COMMENT ON FUNCTION sealpg.tsa_init(interval, text) IS
	'creates the timestamp authority: a key generated on the token and a certificate from the authority with critical extendedKeyUsage timeStamping; members of sealpg_admin';

CREATE FUNCTION sealpg.timestamp_signature(signature uuid) RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sig bytea;
	seal uuid;
	resp bytea;
BEGIN
	IF pg_catalog.to_regclass('sealpg.signatures') IS NULL THEN
		RAISE EXCEPTION 'the signing part is not installed' USING ERRCODE = 'SE201';
	END IF;
	EXECUTE 'SELECT s.signature::bytea, s.seal_id FROM sealpg.signatures s WHERE s.signature_id = $1'
		INTO sig, seal USING signature;
	IF sig IS NULL OR NOT sealpg.is_member((SELECT organisation_id FROM sealpg.seals s WHERE s.seal_id = seal)) THEN
		RAISE EXCEPTION 'signature % does not exist', signature USING ERRCODE = 'SE402';
	END IF;
	SELECT t.timestamp_response INTO resp FROM sealpg.signature_timestamps t WHERE t.signature_id = signature;
	IF FOUND THEN
		RETURN resp;
	END IF;
	resp := sealpg.timestamp(sealpg.signature_value_digest(sig));
	INSERT INTO sealpg.signature_timestamps (signature_id, seal_id, timestamp_response, cades_t)
		VALUES (signature, seal, resp, sealpg.cades_t(sig, resp));
	RETURN resp;
END
$$;
COMMENT ON FUNCTION sealpg.timestamp_signature(uuid) IS
	'timestamps a seal signature (imprint: SHA-256 of its signature value), stores it and the CAdES-T signature, journals it; returns the TimeStampResp';

CREATE FUNCTION sealpg.evidence(signature uuid) RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	es text;
	cert_pem text;
	cert_der bytea;
	auth_pem text;
	auth_der bytea;
	e record;
	h record;
	sig_ts bytea;
	ocsp bytea;
	has_responder boolean := false;
	status_then text;
	statement text;
	names text[];
	contents bytea[];
	files text;
BEGIN
	IF pg_catalog.to_regclass('sealpg.signatures') IS NULL OR pg_catalog.to_regclass('sealpg.authority') IS NULL THEN
		RAISE EXCEPTION 'the signing part is not installed' USING ERRCODE = 'SE201';
	END IF;
	EXECUTE 'SELECT s.* FROM sealpg.signatures s WHERE s.signature_id = $1' INTO s USING signature;
	IF s IS NULL OR NOT sealpg.is_member((SELECT organisation_id FROM sealpg.seals x WHERE x.seal_id = s.seal_id)) THEN
		RAISE EXCEPTION 'signature % does not exist', signature USING ERRCODE = 'SE402';
	END IF;
	SELECT x.es_id INTO es FROM sealpg.seals x WHERE x.seal_id = s.seal_id;
	EXECUTE 'SELECT c.certificate::text, c.certificate::bytea FROM sealpg.certificates c WHERE c.serial = $1'
		INTO cert_pem, cert_der USING s.certificate_serial;
	EXECUTE 'SELECT a.certificate::text, a.certificate::bytea FROM sealpg.authority a' INTO auth_pem, auth_der;
	IF cert_der IS NULL OR auth_der IS NULL THEN
		RAISE EXCEPTION 'the certificates of signature % are missing', signature USING ERRCODE = 'SE201';
	END IF;

	-- the journal entry, in a signed tree head
	SELECT j.entry_id, j.leaf_index INTO e FROM sealpg.journal j
	 WHERE j.seal_id = s.seal_id AND j.kind = 'signature' AND j.payload->>'signature_id' = signature::text;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'signature % was not journaled', signature USING ERRCODE = 'SE402';
	END IF;
	SELECT * INTO h FROM sealpg.tree_heads t WHERE t.signed AND e.leaf_index IS NOT NULL AND t.tree_size > e.leaf_index
	 ORDER BY t.tree_size LIMIT 1;
	IF NOT FOUND THEN
		PERFORM sealpg.sign_tree_head();
		SELECT j.leaf_index INTO e.leaf_index FROM sealpg.journal j WHERE j.entry_id = e.entry_id;
		SELECT * INTO h FROM sealpg.tree_heads t WHERE t.signed AND t.tree_size > e.leaf_index
		 ORDER BY t.tree_size LIMIT 1;
	END IF;

	names := ARRAY['document-digest.hex', 'signature.p7s', 'chain.pem', 'journal-entry.json',
				   'inclusion-proof.json', 'tree-head.json', 'tree-head.p7s'];
	contents := ARRAY[convert_to(encode(s.document_digest, 'hex') || E'\n', 'UTF8'),
					  s.signature::bytea,
					  convert_to(cert_pem || auth_pem, 'UTF8'),
					  convert_to(sealpg.journal_entry_text(e.entry_id), 'UTF8'),
					  convert_to(sealpg.inclusion_proof_json(e.entry_id, h.tree_size), 'UTF8'),
					  convert_to(sealpg.tree_head_text(h.tree_size, h.root_hash, h.recorded_at), 'UTF8'),
					  h.signature];
	-- the certificate's status: an OCSP response from the revocation part's
	-- responder (sealpg.ocsp_responder_init); without one, a status
	-- statement signed by the authority
	IF pg_catalog.to_regprocedure('sealpg.ocsp_respond(bytea)') IS NOT NULL
	   AND pg_catalog.to_regclass('sealpg.ocsp_responders') IS NOT NULL THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM sealpg.ocsp_responders r WHERE r.current)' INTO has_responder;
	END IF;
	IF has_responder THEN
		names := names || 'ocsp.der'::text;
		EXECUTE 'SELECT sealpg.ocsp_respond($1)' INTO ocsp USING sealpg.ocsp_request(cert_der, auth_der);
		contents := contents || ocsp;
	ELSE
		SELECT h2.new_status INTO status_then FROM sealpg.seal_status_history h2
		 WHERE h2.seal_id = s.seal_id AND h2.changed_at <= s.signed_at
		 ORDER BY h2.changed_at DESC, h2.history_id DESC LIMIT 1;
		statement := format('{"v":1,"certificate_serial":"%s","es_id":%s,"signed_at":"%s","status_at_signing":"%s","stated_at":"%s"}',
			lower(s.certificate_serial), to_json(es)::text,
			to_char(s.signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			CASE status_then WHEN 'active' THEN 'good' WHEN 'frozen' THEN 'hold' WHEN 'revoked' THEN 'revoked' ELSE 'unknown' END,
			to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
		names := names || ARRAY['status.json', 'status.p7s'];
		contents := contents || ARRAY[convert_to(statement, 'UTF8'),
									  sealpg.authority_sign_detached(convert_to(statement, 'UTF8'))];
	END IF;
	-- timestamps, when there is a TSA
	IF EXISTS (SELECT 1 FROM sealpg.tsa) THEN
		sig_ts := sealpg.timestamp_signature(signature);
		names := names || 'signature-timestamp.tsr'::text;
		contents := contents || sig_ts;
	END IF;
	IF h.timestamp_token IS NOT NULL THEN
		names := names || 'tree-head-timestamp.tsr'::text;
		contents := contents || h.timestamp_token;
	END IF;

	SELECT string_agg(format('%s:"%s"', to_json(n)::text, encode(sha256(c), 'hex')), ',' ORDER BY n)
	  INTO files FROM unnest(names, contents) AS f(n, c);
	names := names || 'manifest.json'::text;
	contents := contents || convert_to(format(
		'{"format":"sealpg-evidence","version":1,"signature_id":"%s","es_id":%s,"seal_id":"%s","created_at":"%s","files":{%s}}',
		signature, to_json(es)::text, s.seal_id,
		to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), files), 'UTF8');
	RETURN sealpg.evidence_tar(names, contents);
END
$$;
COMMENT ON FUNCTION sealpg.evidence(uuid) IS
	'the evidence package of a seal signature (doc/EVIDENCE.md): a ustar archive that sealpg-verify checks offline';

-- ---- the sequencer's job -------------------------------------------

INSERT INTO sealpg.jobs VALUES
	('sealpg-journal-sequence', '* * * * *',
	 'SELECT sealpg.record_tree_head()');

-- ---- privileges ----------------------------------------------------

ALTER TABLE sealpg.journal ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_organisation ON sealpg.journal
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = journal.seal_id)));

-- Written only by sealpg itself (the guard refuses everything else).
REVOKE ALL ON sealpg.journal, sealpg.journal_tree, sealpg.tree_heads, sealpg.tsa,
	sealpg.signature_timestamps FROM PUBLIC;
REVOKE ALL ON SEQUENCE sealpg.journal_append_no FROM PUBLIC;
GRANT SELECT ON sealpg.journal, sealpg.journal_tree, sealpg.tree_heads, sealpg.tsa,
	sealpg.signature_timestamps TO sealpg_admin, sealpg_auditor;

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
	sealpg.ocsp_request(bytea, bytea),
	sealpg.tree_head_text(bigint, bytea, timestamptz),
	sealpg.sign_tree_head(),
	sealpg.authority_sign_detached(bytea),
	sealpg.tsa_issue(bytea, text, integer),
	sealpg.timestamp(bytea),
	sealpg.signature_value_digest(bytea),
	sealpg.cades_t(bytea, bytea),
	sealpg.log_signing_selftest(bytea, bytea),
	sealpg.tsa_init(interval, text),
	sealpg.timestamp_signature(uuid),
	sealpg.evidence(uuid)
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
GRANT EXECUTE ON FUNCTION
	sealpg.tree_head_text(bigint, bytea, timestamptz),
	sealpg.signature_value_digest(bytea)
	TO sealpg_admin, sealpg_auditor, sealpg_operator;
GRANT EXECUTE ON FUNCTION sealpg.journal_sequence(bigint), sealpg.record_tree_head(),
	sealpg.sign_tree_head(), sealpg.tsa_init(interval, text) TO sealpg_admin;
-- a timestamp service for sealpg's roles; evidence for whoever may see the seal
GRANT EXECUTE ON FUNCTION sealpg.timestamp(bytea), sealpg.timestamp_signature(uuid)
	TO sealpg_admin, sealpg_operator;
GRANT EXECUTE ON FUNCTION sealpg.evidence(uuid) TO sealpg_admin, sealpg_operator, sealpg_auditor;
-- authority_sign_detached, tsa_issue, cades_t and log_signing_selftest stay
-- with the owner: they sign in the authority's name or make throwaway keys.
