-- ===================================================================
-- 51 Anomaly detection of electronic signings
-- ===================================================================
-- Every row of sealpg.signatures (pieces 30/31) passes the same rules as
-- a physical use, through sealpg.observe_signing().  The trigger is
-- created only where the signatures table exists, so this piece also
-- installs on a tree without signing.

CREATE FUNCTION sealpg.signature_observed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM sealpg.observe_signing(NEW.seal_id, NEW.signed_at, NEW.operator::text, NEW.document_digest);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION sealpg.signature_observed() IS
	'AFTER INSERT on sealpg.signatures: the signing becomes an electronic use event and passes the rules';
REVOKE ALL ON FUNCTION sealpg.signature_observed() FROM PUBLIC;	-- a trigger, never called directly

DO $signing$
BEGIN
	IF pg_catalog.to_regclass('sealpg.signatures') IS NOT NULL THEN
		CREATE TRIGGER signature_observed AFTER INSERT ON sealpg.signatures
			FOR EACH ROW EXECUTE FUNCTION sealpg.signature_observed();
	END IF;
END
$signing$;
