-- ===================================================================
-- 70 Devices: security chips and smart seals bound to seals, their USB
--    presence as the agent reports it, smart-seal stamp records, the
--    presence check signing uses (SE103)
-- ===================================================================
-- This piece is also the upgrade delta from 0.1.0: it only creates new
-- objects.  It works with or without anomaly detection (piece 50): alerts
-- go through sealpg.raise_alert when it exists (de-duplicated, NOTIFYed,
-- a critical one freezes the seal) and are NOTIFYed on sealpg_alert
-- otherwise; stamp records become uses through sealpg.record_use, which
-- piece 50 provides (without it the agent keeps them on the device).
-- agent/DEVICE-PROTOCOL.md describes the smart seals; the README's
-- "USB devices" section shows the whole flow.

-- ---- types ---------------------------------------------------------

CREATE TYPE sealpg.device_kind AS ENUM ('chip', 'smartseal');
COMMENT ON TYPE sealpg.device_kind IS
	'chip: a USB security chip holding a seal''s key (a PKCS#11 token); smartseal: a physical seal that logs and signs its stamps';

-- ---- tables --------------------------------------------------------

CREATE TABLE sealpg.devices (
	device_id		uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	seal_id			uuid NOT NULL REFERENCES sealpg.seals ON DELETE CASCADE,
	kind			sealpg.device_kind NOT NULL,
	serial			text NOT NULL CHECK (serial ~ '^[!-~]{1,126}$' AND pg_catalog.strpos(serial, '\') = 0),
	host			text NOT NULL CHECK (host ~ '^[!-~]{1,64}$' AND pg_catalog.strpos(host, '\') = 0),
	token_label		text CHECK (token_label IS NULL OR (kind = 'chip' AND token_label <> '')),
	public_key		bytea CHECK (public_key IS NULL OR
								 (pg_catalog.length(public_key) = 65 AND pg_catalog.get_byte(public_key, 0) = 4)),
	bound_by		name NOT NULL,
	bound_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE (kind, serial),
	CHECK (kind <> 'smartseal' OR public_key IS NOT NULL)
);
COMMENT ON TABLE sealpg.devices IS
	'which USB device belongs to which seal and on which host it is expected: chips (with their token label) and smart seals (with their public key)';
COMMENT ON COLUMN sealpg.devices.serial IS 'the USB serial number (string descriptor), printable ASCII';
COMMENT ON COLUMN sealpg.devices.host IS 'the host (agent --host-name) the device must be plugged into';
COMMENT ON COLUMN sealpg.devices.token_label IS 'chips: the PKCS#11 token label of the chip, so signing can ask whether it is present';
COMMENT ON COLUMN sealpg.devices.public_key IS
	'smart seals: the device''s own ECDSA P-256 public key (65-byte uncompressed point) that signs its stamp records';
CREATE INDEX ON sealpg.devices (seal_id);
CREATE INDEX ON sealpg.devices (token_label) WHERE token_label IS NOT NULL;

CREATE TABLE sealpg.device_presence (
	kind			sealpg.device_kind NOT NULL,
	serial			text NOT NULL,
	host			text NOT NULL,
	vid				integer NOT NULL CHECK (vid BETWEEN 0 AND 65535),
	pid				integer NOT NULL CHECK (pid BETWEEN 0 AND 65535),
	present			boolean NOT NULL,
	since			timestamptz NOT NULL,
	PRIMARY KEY (kind, serial)
);
COMMENT ON TABLE sealpg.device_presence IS
	'where each device (by serial) was last reported and whether it is plugged in: the latest arrived/present/left event wins';

CREATE TABLE sealpg.device_events (
	event_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	occurred_at		timestamptz NOT NULL,
	received_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	host			text NOT NULL,
	kind			sealpg.device_kind NOT NULL,
	vid				integer NOT NULL CHECK (vid BETWEEN 0 AND 65535),
	pid				integer NOT NULL CHECK (pid BETWEEN 0 AND 65535),
	serial			text,
	event			text NOT NULL CHECK (event IN ('arrived', 'present', 'left', 'protocol_error')),
	device_id		uuid REFERENCES sealpg.devices ON DELETE SET NULL,
	seal_id			uuid REFERENCES sealpg.seals ON DELETE CASCADE,
	alert_rule		text,
	alert_id		uuid
);
COMMENT ON TABLE sealpg.device_events IS
	'every USB presence event the agents reported, with the binding it matched and the alert it raised';
COMMENT ON COLUMN sealpg.device_events.alert_rule IS
	'device_left, device_wrong_host or device_protocol_error when the event raised an alert (the alert''s details.cause)';
COMMENT ON COLUMN sealpg.device_events.alert_id IS 'the alert in sealpg.alerts (NULL when anomaly detection is not installed)';
-- A replayed spool line is recorded once.
CREATE UNIQUE INDEX device_events_once ON sealpg.device_events
	(host, kind, (coalesce(serial, '')), event, occurred_at);
CREATE INDEX ON sealpg.device_events (seal_id, occurred_at);

CREATE TABLE sealpg.device_records (
	device_id		uuid NOT NULL REFERENCES sealpg.devices ON DELETE CASCADE,
	seq				bigint NOT NULL CHECK (seq >= 0),
	seal_id			uuid NOT NULL REFERENCES sealpg.seals ON DELETE CASCADE,
	host			text NOT NULL,
	record			bytea NOT NULL,
	signature		bytea NOT NULL,
	verified		boolean NOT NULL,
	use_event_id	uuid,
	refusal			text,
	received_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (device_id, seq)
);
COMMENT ON TABLE sealpg.device_records IS
	'every stamp record read from a smart seal, byte for byte with its signature, so it can be verified again offline';
COMMENT ON COLUMN sealpg.device_records.verified IS 'whether the agent found the record''s signature valid under the registered key';
COMMENT ON COLUMN sealpg.device_records.use_event_id IS 'the use it became (sealpg.use_events), NULL when refused';
COMMENT ON COLUMN sealpg.device_records.refusal IS 'why no use was recorded: bad signature, or the use rules'' refusal';

-- ---- presence by token label ---------------------------------------

CREATE VIEW sealpg.token_presence WITH (security_invoker = true) AS
	SELECT d.token_label, s.es_id AS seal, d.serial, d.host AS bound_host,
		   p.host AS seen_host, coalesce(p.present AND p.host = d.host, false) AS present,
		   p.since
	  FROM sealpg.devices d
	  JOIN sealpg.seals s ON s.seal_id = d.seal_id
	  LEFT JOIN sealpg.device_presence p ON p.kind = d.kind AND p.serial = d.serial
	 WHERE d.kind = 'chip';
COMMENT ON VIEW sealpg.token_presence IS
	'each bound security chip: its token label, seal, the host it belongs to, where it was last seen and whether it is plugged in there now';

-- ---- row-level security --------------------------------------------
-- Rows of unbound devices (seal_id NULL) are seen by the owner only.

ALTER TABLE sealpg.devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.device_presence ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.device_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.device_records ENABLE ROW LEVEL SECURITY;

CREATE POLICY by_organisation ON sealpg.devices
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = devices.seal_id)));
CREATE POLICY by_organisation ON sealpg.device_presence
	USING (EXISTS (SELECT 1 FROM sealpg.devices d JOIN sealpg.seals s ON s.seal_id = d.seal_id
					WHERE d.kind = device_presence.kind AND d.serial = device_presence.serial
					  AND sealpg.is_member(s.organisation_id)));
CREATE POLICY by_organisation ON sealpg.device_events
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = device_events.seal_id)));
CREATE POLICY by_organisation ON sealpg.device_records
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = device_records.seal_id)));

-- Read within one's organisation; written only through the functions below.
REVOKE ALL ON sealpg.devices, sealpg.device_presence, sealpg.device_events, sealpg.device_records,
	sealpg.token_presence FROM PUBLIC;
GRANT SELECT ON sealpg.devices, sealpg.device_presence, sealpg.device_events, sealpg.device_records,
	sealpg.token_presence
	TO sealpg_admin, sealpg_operator, sealpg_auditor;

-- ---- internal helpers ----------------------------------------------

-- device_alert(seal_id, cause, severity, risk, details): through the
-- anomaly machinery when it is installed, else a NOTIFY of our own.
-- Piece 50 knows a fixed set of rules, so each device cause is filed
-- under the nearest one, and details.cause names the device cause:
--   device_wrong_host, device_bad_record       -> unknown_device
--   device_left, device_protocol_error,
--   device_record_refused                      -> silent_device
CREATE FUNCTION sealpg.device_alert(seal_id uuid, cause text, severity text, risk_score integer,
									details jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
	rule text := CASE WHEN cause IN ('device_wrong_host', 'device_bad_record') THEN 'unknown_device'
					  ELSE 'silent_device' END;
	full_details jsonb := details || pg_catalog.jsonb_build_object('cause', cause);
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
				WHERE n.nspname = 'sealpg' AND p.proname = 'raise_alert') THEN
		EXECUTE 'SELECT sealpg.raise_alert($1, $2, $3::sealpg.alert_severity, $4, ''{}''::uuid[], $5)'
			INTO id USING seal_id, rule, severity, risk_score, full_details;
		RETURN id;
	END IF;
	PERFORM pg_catalog.pg_notify('sealpg_alert', pg_catalog.jsonb_build_object(
		'version', 1, 'seal', (SELECT s.es_id FROM sealpg.seals s WHERE s.seal_id = device_alert.seal_id),
		'rule', cause, 'severity', severity, 'risk_score', risk_score, 'details', full_details)::text);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION sealpg.device_alert(uuid, text, text, integer, jsonb) IS
	'raises a device alert through sealpg.raise_alert (filed under unknown_device or silent_device, details.cause says which device cause) when anomaly detection is installed, else NOTIFYs it on sealpg_alert (internal)';
REVOKE ALL ON FUNCTION sealpg.device_alert(uuid, text, text, integer, jsonb) FROM PUBLIC;	-- internal

-- check_device_ids(kind, serial, host): 22023 unless well formed.
CREATE FUNCTION sealpg.check_device_ids(kind text, serial text, host text) RETURNS sealpg.device_kind
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF kind IS NULL OR kind NOT IN ('chip', 'smartseal') THEN
		RAISE EXCEPTION 'unknown device kind "%"', kind
			USING ERRCODE = '22023', HINT = 'A device is a chip or a smartseal.';
	END IF;
	IF serial IS NOT NULL AND (serial !~ '^[!-~]{1,126}$' OR strpos(serial, '\') > 0) THEN
		RAISE EXCEPTION 'invalid device serial "%"', serial
			USING ERRCODE = '22023', DETAIL = 'A serial is 1 to 126 printable ASCII characters, without spaces or backslashes.';
	END IF;
	IF host IS NULL OR host !~ '^[!-~]{1,64}$' OR strpos(host, '\') > 0 THEN
		RAISE EXCEPTION 'invalid host name "%"', host
			USING ERRCODE = '22023', DETAIL = 'A host name is 1 to 64 printable ASCII characters, without spaces or backslashes.';
	END IF;
	RETURN kind::sealpg.device_kind;
END
$$;
COMMENT ON FUNCTION sealpg.check_device_ids(text, text, text) IS
	'validates a device kind, serial and host name (SQLSTATE 22023 otherwise) and returns the kind (internal)';
REVOKE ALL ON FUNCTION sealpg.check_device_ids(text, text, text) FROM PUBLIC;	-- internal

-- ---- API: bindings -------------------------------------------------

CREATE FUNCTION sealpg.bind_device(seal text, kind text, serial text, host text,
								   public_key bytea DEFAULT NULL, token_label text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
	k sealpg.device_kind;
	other uuid;
	id uuid;
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	k := sealpg.check_device_ids(kind, serial, host);
	IF serial IS NULL THEN
		RAISE EXCEPTION 'a bound device needs its serial number' USING ERRCODE = '22023';
	END IF;
	IF k = 'smartseal' AND (public_key IS NULL OR length(public_key) <> 65 OR get_byte(public_key, 0) <> 4) THEN
		RAISE EXCEPTION 'a smart seal is bound with its public key'
			USING ERRCODE = '22023',
				  DETAIL = 'The key is the 65-byte uncompressed P-256 point the device reports in GET_INFO.';
	END IF;
	IF k = 'chip' AND public_key IS NOT NULL THEN
		RAISE EXCEPTION 'a chip is bound without a public key' USING ERRCODE = '22023',
			HINT = 'The seal''s key on the chip is enrolled through signing, not here.';
	END IF;
	SELECT d.seal_id INTO other FROM sealpg.devices d WHERE d.kind = k AND d.serial = bind_device.serial;
	IF FOUND AND other <> s.seal_id THEN
		RAISE EXCEPTION '% "%" is already bound to another seal', k, serial
			USING ERRCODE = '23505', HINT = 'Unbind it from that seal first with sealpg.unbind_device.';
	END IF;
	INSERT INTO sealpg.devices AS d (seal_id, kind, serial, host, token_label, public_key, bound_by)
		VALUES (s.seal_id, k, bind_device.serial, bind_device.host,
				CASE WHEN k = 'chip' THEN coalesce(bind_device.token_label, s.token_label) END,
				bind_device.public_key, sealpg.caller())
		ON CONFLICT ON CONSTRAINT devices_kind_serial_key DO UPDATE
		   SET host = EXCLUDED.host, token_label = EXCLUDED.token_label, public_key = EXCLUDED.public_key,
			   bound_by = EXCLUDED.bound_by, bound_at = EXCLUDED.bound_at
		RETURNING d.device_id INTO id;
	IF k = 'smartseal' THEN
		-- the anomaly rules know a seal's devices by the id its uses carry: the serial
		IF s.device_id IS NULL THEN
			UPDATE sealpg.seals SET device_id = bind_device.serial WHERE seal_id = s.seal_id;
		ELSIF s.device_id <> serial AND pg_catalog.to_regclass('sealpg.seal_devices') IS NOT NULL THEN
			EXECUTE 'INSERT INTO sealpg.seal_devices (seal_id, device_id, added_by) VALUES ($1, $2, $3)
					 ON CONFLICT DO NOTHING' USING s.seal_id, serial, sealpg.caller();
		END IF;
	END IF;
	-- the agents report uses of this organisation's seals: make them members
	IF NOT EXISTS (SELECT 1 FROM sealpg.organisation_members m
					WHERE m.organisation_id = s.organisation_id AND m.member = 'sealpg_agent') THEN
		INSERT INTO sealpg.organisation_members (organisation_id, member, is_admin)
			VALUES (s.organisation_id, 'sealpg_agent', false);
		RAISE NOTICE 'sealpg_agent is now a member of the seal''s organisation, so that the agents can record its stamps';
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.bind_device(text, text, text, text, bytea, text) IS
	'binds a chip (token label defaults to the seal''s) or a smart seal (with its public key) by serial to a seal and the host it belongs on; organisation admins only';

CREATE FUNCTION sealpg.unbind_device(seal text, kind text, serial text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	PERFORM sealpg.check_device_ids(kind, serial, 'x');
	DELETE FROM sealpg.devices d
	 WHERE d.seal_id = s.seal_id AND d.kind = unbind_device.kind::sealpg.device_kind
	   AND d.serial = unbind_device.serial;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION sealpg.unbind_device(text, text, text) IS
	'removes a device''s binding to a seal (its records and events stay); true if it was bound; organisation admins only';

-- ---- API: what the agent reports -----------------------------------

CREATE FUNCTION sealpg.device_event(host text, kind text, vid integer, pid integer, serial text,
									event text, at timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k sealpg.device_kind := sealpg.check_device_ids(kind, serial, host);
	d sealpg.devices;
	id bigint;
	rule text;
	severity text;
	risk integer;
	alert uuid;
BEGIN
	IF event IS NULL OR event NOT IN ('arrived', 'present', 'left', 'protocol_error') THEN
		RAISE EXCEPTION 'unknown device event "%"', event
			USING ERRCODE = '22023', HINT = 'Events are arrived, present, left and protocol_error.';
	END IF;
	IF vid IS NULL OR pid IS NULL OR vid NOT BETWEEN 0 AND 65535 OR pid NOT BETWEEN 0 AND 65535 THEN
		RAISE EXCEPTION 'USB ids %:% out of range', vid, pid USING ERRCODE = '22023';
	END IF;
	IF at IS NULL OR NOT pg_catalog.isfinite(at) OR at > pg_catalog.now() + interval '1 day' THEN
		RAISE EXCEPTION 'device event time % is not plausible', at
			USING ERRCODE = '22023', HINT = 'Check the clock of the agent''s host.';
	END IF;
	SELECT * INTO d FROM sealpg.devices x WHERE x.kind = k AND x.serial = device_event.serial;

	INSERT INTO sealpg.device_events AS e (occurred_at, host, kind, vid, pid, serial, event, device_id, seal_id)
		VALUES (at, device_event.host, k, device_event.vid, device_event.pid, device_event.serial,
				device_event.event, d.device_id, d.seal_id)
		ON CONFLICT DO NOTHING
		RETURNING e.event_id INTO id;
	IF id IS NULL THEN
		-- replayed from the agent's spool: recorded before, nothing more to do
		SELECT e.event_id INTO id FROM sealpg.device_events e
		 WHERE e.host = device_event.host AND e.kind = k AND coalesce(e.serial, '') = coalesce(device_event.serial, '')
		   AND e.event = device_event.event AND e.occurred_at = at;
		RETURN id;
	END IF;

	IF serial IS NOT NULL AND event <> 'protocol_error' THEN
		INSERT INTO sealpg.device_presence AS p (kind, serial, host, vid, pid, present, since)
			VALUES (k, serial, device_event.host, device_event.vid, device_event.pid, event <> 'left', at)
			ON CONFLICT ON CONSTRAINT device_presence_pkey DO UPDATE
			   SET host = EXCLUDED.host, vid = EXCLUDED.vid, pid = EXCLUDED.pid,
				   present = EXCLUDED.present, since = EXCLUDED.since
			 WHERE p.since <= EXCLUDED.since;
	END IF;

	IF d.device_id IS NULL THEN
		RETURN id;				-- not bound to any seal: recorded, nothing to alert on
	END IF;
	IF event IN ('arrived', 'present') AND host <> d.host THEN
		rule := 'device_wrong_host'; severity := 'critical'; risk := 85;
	ELSIF event = 'left' THEN
		rule := 'device_left'; severity := 'warning'; risk := 50;
	ELSIF event = 'protocol_error' THEN
		rule := 'device_protocol_error'; severity := 'warning'; risk := 30;
	END IF;
	IF rule IS NOT NULL THEN
		alert := sealpg.device_alert(d.seal_id, rule, severity, risk,
			pg_catalog.jsonb_build_object('kind', kind, 'serial', serial, 'host', host,
										  'bound_host', d.host, 'event', event, 'at', at));
		UPDATE sealpg.device_events SET alert_rule = rule, alert_id = alert WHERE event_id = id;
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.device_event(text, text, integer, integer, text, text, timestamptz) IS
	'records a USB presence event reported by an agent (idempotent); a bound device that leaves, turns up on another host or breaks the protocol raises an alert; sealpg_agent only';

CREATE FUNCTION sealpg.device_scan(host text, kind text, serials text[], at timestamptz)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k sealpg.device_kind := sealpg.check_device_ids(kind, NULL, host);
	p sealpg.device_presence;
	n integer := 0;
BEGIN
	IF serials IS NULL OR at IS NULL OR NOT pg_catalog.isfinite(at) OR at > pg_catalog.now() + interval '1 day' THEN
		RAISE EXCEPTION 'a scan needs the serials found and a plausible time' USING ERRCODE = '22023';
	END IF;
	-- what the database believes is plugged into this host but the scan did not find
	-- left while the agent was not watching: record the departure as of the scan
	FOR p IN SELECT * FROM sealpg.device_presence x
			  WHERE x.host = device_scan.host AND x.kind = k AND x.present AND x.since < at
				AND NOT x.serial = ANY (serials)
	LOOP
		PERFORM sealpg.device_event(host, kind, p.vid, p.pid, p.serial, 'left', at);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sealpg.device_scan(text, text, text[], timestamptz) IS
	'what an agent found at start: devices of that kind believed plugged into the host but not found are recorded as left (with their alerts); returns how many; sealpg_agent only';

CREATE FUNCTION sealpg.device_public_key(host text, serial text) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM sealpg.check_device_ids('smartseal', serial, host);
	RETURN (SELECT d.public_key FROM sealpg.devices d
			 WHERE d.kind = 'smartseal' AND d.serial = device_public_key.serial);
END
$$;
COMMENT ON FUNCTION sealpg.device_public_key(text, text) IS
	'the registered public key of a bound smart seal (NULL if it is not bound), with which the agent checks its records; sealpg_agent only';

CREATE FUNCTION sealpg.device_record(host text, serial text, seq bigint, occurred_at timestamptz,
									 latitude double precision, longitude double precision,
									 accuracy_m real, force_n real, operator text,
									 record bytea, signature bytea, verified boolean)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d sealpg.devices;
	es_id text;
	use_id uuid;
	refusal text;
	stored sealpg.device_records;
BEGIN
	PERFORM sealpg.check_device_ids('smartseal', serial, host);
	IF seq IS NULL OR seq < 0 OR record IS NULL OR signature IS NULL OR verified IS NULL THEN
		RAISE EXCEPTION 'a stamp record needs its sequence number, bytes, signature and verdict'
			USING ERRCODE = '22023';
	END IF;
	SELECT * INTO d FROM sealpg.devices x WHERE x.kind = 'smartseal' AND x.serial = device_record.serial;
	IF NOT FOUND THEN
		-- not 22xxx: the agent keeps the record on the device and retries
		RAISE EXCEPTION 'smart seal "%" is not bound to any seal', serial
			USING ERRCODE = 'SE501', HINT = 'Bind it with sealpg.bind_device(seal, ''smartseal'', serial, host, public_key).';
	END IF;
	SELECT * INTO stored FROM sealpg.device_records r WHERE r.device_id = d.device_id AND r.seq = device_record.seq;
	IF FOUND THEN
		RETURN stored.use_event_id;	-- read twice (no ACK reached the device): stored once
	END IF;
	SELECT s.es_id INTO es_id FROM sealpg.seals s WHERE s.seal_id = d.seal_id;

	IF NOT verified THEN
		refusal := 'bad signature';
		PERFORM sealpg.device_alert(d.seal_id, 'device_bad_record', 'critical', 90,
			pg_catalog.jsonb_build_object('serial', serial, 'host', host, 'seq', seq,
										  'occurred_at', occurred_at));
	ELSE
		BEGIN
			use_id := sealpg.record_use(es_id, occurred_at, latitude, longitude, accuracy_m, operator,
										serial, seq, force_n, NULL);
		EXCEPTION WHEN OTHERS THEN
			-- a use the rules refuse (SE4xx: in the future, bad place...) will never pass:
			-- keep the record as evidence and tell someone; anything else is retried
			IF SQLSTATE NOT LIKE 'SE4%' THEN
				RAISE;
			END IF;
			refusal := SQLERRM;
			PERFORM sealpg.device_alert(d.seal_id, 'device_record_refused', 'warning', 40,
				pg_catalog.jsonb_build_object('serial', serial, 'seq', seq, 'reason', SQLERRM));
		END;
	END IF;
	INSERT INTO sealpg.device_records (device_id, seq, seal_id, host, record, signature, verified,
									   use_event_id, refusal)
		VALUES (d.device_id, seq, d.seal_id, host, record, signature, verified, use_id, refusal);
	RETURN use_id;
END
$$;
COMMENT ON FUNCTION sealpg.device_record(text, text, bigint, timestamptz, double precision, double precision,
	real, real, text, bytea, bytea, boolean) IS
	'stores a smart seal''s stamp record (idempotent by device and sequence number): a verified one becomes a physical use through sealpg.record_use, a badly signed one is kept as evidence and raises a critical alert; sealpg_agent only';

-- ---- API: presence checks ------------------------------------------

CREATE FUNCTION sealpg.token_present(token_label text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- only chips of seals the caller may see count
	IF NOT EXISTS (SELECT 1 FROM sealpg.devices d JOIN sealpg.seals s ON s.seal_id = d.seal_id
					WHERE d.kind = 'chip' AND d.token_label = token_present.token_label
					  AND sealpg.is_member(s.organisation_id)) THEN
		RETURN NULL;			-- no chip bound: presence is not tracked for this token
	END IF;
	RETURN EXISTS (SELECT 1 FROM sealpg.devices d
					 JOIN sealpg.seals s ON s.seal_id = d.seal_id
					 JOIN sealpg.device_presence p ON p.kind = d.kind AND p.serial = d.serial
					WHERE d.kind = 'chip' AND d.token_label = token_present.token_label
					  AND sealpg.is_member(s.organisation_id) AND p.present AND p.host = d.host);
END
$$;
COMMENT ON FUNCTION sealpg.token_present(text) IS
	'true when a chip bound with this token label (to a seal the caller may see) is plugged into its host, false when none is, NULL when no chip is bound to the label';

-- chip_absence(seal_id): why the seal's bound chip is not usable now
-- (detail and hint), or NULLs when it is plugged into its host or the
-- seal has no bound chip.  sealpg.sign() (C, SECURITY DEFINER) asks it
-- under the seal's row lock, after its own checks of who may sign.
CREATE FUNCTION sealpg.chip_absence(seal_id uuid, OUT detail text, OUT hint text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals;
	chip record;
BEGIN
	SELECT * INTO s FROM sealpg.seals x WHERE x.seal_id = chip_absence.seal_id;
	-- the seal's chips: bound to it, or holding its token label
	SELECT d.serial, d.host, p.host AS seen_host, p.present, p.since INTO chip
	  FROM sealpg.devices d
	  LEFT JOIN sealpg.device_presence p ON p.kind = d.kind AND p.serial = d.serial
	 WHERE d.kind = 'chip' AND (d.seal_id = s.seal_id OR (s.token_label IS NOT NULL AND d.token_label = s.token_label))
	 ORDER BY (p.present AND p.host = d.host) DESC NULLS LAST
	 LIMIT 1;
	IF NOT FOUND OR (chip.present AND chip.seen_host = chip.host) THEN
		RETURN;
	END IF;
	detail := CASE WHEN chip.since IS NULL
				   THEN pg_catalog.format('Chip %s has not been reported on host %s.', chip.serial, chip.host)
				   WHEN chip.present
				   THEN pg_catalog.format('Chip %s is plugged into host %s, not into %s where it belongs.',
										  chip.serial, chip.seen_host, chip.host)
				   ELSE pg_catalog.format('Chip %s left host %s at %s.', chip.serial, chip.seen_host, chip.since)
			  END;
	hint := pg_catalog.format('Plug the chip into host %s; its agent reports it within seconds.', chip.host);
END
$$;
COMMENT ON FUNCTION sealpg.chip_absence(uuid) IS
	'why the seal''s bound security chip is not plugged into its host (detail, hint), or NULLs when it is or none is bound (internal: sign() asks it)';
REVOKE ALL ON FUNCTION sealpg.chip_absence(uuid) FROM PUBLIC;	-- internal

CREATE FUNCTION sealpg.require_token_present(seal text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals;
	why record;
BEGIN
	SELECT * INTO s FROM sealpg.seals x WHERE x.es_id = seal;
	IF NOT FOUND OR NOT (sealpg.is_member(s.organisation_id) OR
						 EXISTS (SELECT 1 FROM sealpg.seal_operators o
								  WHERE o.seal_id = s.seal_id AND o.operator = sealpg.caller())) THEN
		RAISE EXCEPTION 'seal "%" does not exist', seal USING ERRCODE = 'SE007';
	END IF;
	SELECT * INTO why FROM sealpg.chip_absence(s.seal_id);
	IF why.detail IS NOT NULL THEN
		RAISE EXCEPTION 'the security chip of seal "%" is not present', seal
			USING ERRCODE = 'SE103', DETAIL = why.detail, HINT = why.hint;
	END IF;
END
$$;
COMMENT ON FUNCTION sealpg.require_token_present(text) IS
	'raises SE103 (token absent) when the seal has a bound security chip that is not plugged into its host (sealpg.sign() refuses the same way); members of its organisation and its operators';

-- Every function is refused to PUBLIC (PostgreSQL grants EXECUTE to
-- PUBLIC by default) and granted to the roles that need it.
REVOKE ALL ON FUNCTION
	sealpg.bind_device(text, text, text, text, bytea, text),
	sealpg.unbind_device(text, text, text),
	sealpg.device_event(text, text, integer, integer, text, text, timestamptz),
	sealpg.device_scan(text, text, text[], timestamptz),
	sealpg.device_public_key(text, text),
	sealpg.device_record(text, text, bigint, timestamptz, double precision, double precision,
		real, real, text, bytea, bytea, boolean),
	sealpg.token_present(text),
	sealpg.require_token_present(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sealpg.bind_device(text, text, text, text, bytea, text),
	sealpg.unbind_device(text, text, text)
	TO sealpg_admin;
GRANT EXECUTE ON FUNCTION
	sealpg.device_event(text, text, integer, integer, text, text, timestamptz),
	sealpg.device_scan(text, text, text[], timestamptz),
	sealpg.device_public_key(text, text),
	sealpg.device_record(text, text, bigint, timestamptz, double precision, double precision,
		real, real, text, bytea, bytea, boolean)
	TO sealpg_agent;
GRANT EXECUTE ON FUNCTION sealpg.token_present(text), sealpg.require_token_present(text)
	TO sealpg_admin, sealpg_operator, sealpg_auditor;
