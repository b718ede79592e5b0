-- pgTAP: sealpg.sign() and the seal's bound security chip (pieces 31, 70):
-- refused with SE103 while the chip is not plugged into its host, signing
-- again once the agent reports it back.  Rolled back at the end.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(7);

CREATE FUNCTION pg_temp.as_role(r name, q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	BEGIN
		EXECUTE q;
	EXCEPTION WHEN OTHERS THEN
		RESET ROLE;
		RAISE;
	END;
	RESET ROLE;
END
$$;

CREATE ROLE tap_dsign_op NOLOGIN IN ROLE sealpg_operator;
\o /dev/null
DELETE FROM sealpg.authority;
SELECT sealpg.authority_init('TAP Device Authority');
SELECT sealpg.create_organisation('TAP Device Signing Org') AS org \gset
SELECT sealpg.create_seal('TAP-DSIGN-1', 'chip seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.create_seal('TAP-DSIGN-2', 'seal without a chip', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.enroll('TAP-DSIGN-1');
SELECT sealpg.enroll('TAP-DSIGN-2');
SELECT sealpg.grant_seal('TAP-DSIGN-1', 'tap_dsign_op');
SELECT sealpg.grant_seal('TAP-DSIGN-2', 'tap_dsign_op');
SET client_min_messages = warning;
-- its own label: the enrolled seals share the SoftHSM token "sealpg-seals", and a chip
-- bound with a token's label stands for every seal whose key is on that token
SELECT sealpg.bind_device('TAP-DSIGN-1', 'chip', 'SC-DSIGN-1', 'dsign-host', token_label => 'tap-dsign-chip');
RESET client_min_messages;
\o

SELECT lives_ok($$SELECT pg_temp.as_role('tap_dsign_op', 'SELECT sealpg.sign(''TAP-DSIGN-2'', ''doc'')')$$,
	'a seal without a bound chip signs as before');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_dsign_op', 'SELECT sealpg.sign(''TAP-DSIGN-1'', ''doc'')')$$,
	'SE103', NULL, 'a bound chip never reported: sign() refuses with SE103');
SELECT lives_ok($$SELECT pg_temp.as_role('sealpg_agent',
	'SELECT sealpg.device_event(''dsign-host'', ''chip'', 4617, 5, ''SC-DSIGN-1'', ''arrived'', now() - interval ''2 minutes'')')$$,
	'the agent reports the chip plugged in');
SELECT lives_ok($$SELECT pg_temp.as_role('tap_dsign_op', 'SELECT sealpg.sign(''TAP-DSIGN-1'', ''doc'')')$$,
	'the seal signs while its chip is there');
SELECT lives_ok($$SELECT pg_temp.as_role('sealpg_agent',
	'SELECT sealpg.device_event(''dsign-host'', ''chip'', 4617, 5, ''SC-DSIGN-1'', ''left'', now() - interval ''1 minute'')')$$,
	'the agent reports the chip pulled out');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_dsign_op', 'SELECT sealpg.sign(''TAP-DSIGN-1'', ''doc'')')$$,
	'SE103', 'the security chip of seal "TAP-DSIGN-1" is not present', 'then sign() refuses with SE103');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_dsign_op', 'SELECT sealpg.require_token_present(''TAP-DSIGN-1'')')$$,
	'SE103', NULL, 'and so does the check for a granted operator');

SELECT * FROM finish();
ROLLBACK;
