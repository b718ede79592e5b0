-- ===================================================================
-- 12 The agent: what the database may ask sealpg-agent directly
-- ===================================================================
-- Key generation and signing are deliberately not exposed here: they go
-- only through the policy checks of enrolment and signing.

CREATE FUNCTION sealpg.agent_ping() RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_agent_ping'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.agent_ping() IS
	'connects to sealpg-agent (sealpg.agent_socket) and returns its name and protocol version';

CREATE FUNCTION sealpg.agent_tokens(OUT label text, OUT serial text, OUT manufacturer text,
									OUT model text, OUT present boolean, OUT initialized boolean)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'sealpg_agent_tokens'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.agent_tokens() IS 'the tokens (security chips) the agent sees';

CREATE FUNCTION sealpg.agent_key(token text, key_id bytea, OUT algorithm text, OUT spki bytea,
								 OUT sensitive boolean, OUT extractable boolean,
								 OUT never_extractable boolean, OUT always_sensitive boolean,
								 OUT local boolean)
	RETURNS record
	AS 'MODULE_PATHNAME', 'sealpg_agent_key'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.agent_key(text, bytea) IS
	'a key''s public part and the attributes its token reports (proof that it was born in the chip)';

-- What the agent sees is for administrators and auditors, not for everyone.
REVOKE ALL ON FUNCTION sealpg.agent_ping(), sealpg.agent_tokens(), sealpg.agent_key(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sealpg.agent_ping(), sealpg.agent_tokens(), sealpg.agent_key(text, bytea)
	TO sealpg_admin, sealpg_auditor;
