-- ===================================================================
-- 10 Registry: organisations, members, calendars, seals, operators,
--    status history; the guard trigger; row-level security
-- ===================================================================

-- ---- helpers written in C ------------------------------------------

CREATE FUNCTION sealpg.caller() RETURNS name
	AS 'MODULE_PATHNAME', 'sealpg_caller'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION sealpg.caller() IS
	'the role that called into sealpg: the session role or the one set by SET ROLE, even inside SECURITY DEFINER functions';

CREATE FUNCTION sealpg.is_time_zone(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_is_time_zone'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sealpg.is_time_zone(text) IS
	'true when the text names an IANA time zone (not an abbreviation or a POSIX offset)';

-- Both are harmless to anyone: they reveal only the caller's own name and
-- whether a zone name exists.
GRANT EXECUTE ON FUNCTION sealpg.caller(), sealpg.is_time_zone(text) TO PUBLIC;

-- ---- types ---------------------------------------------------------

CREATE TYPE sealpg.seal_kind AS ENUM
	('organisation', 'personal', 'finance', 'contract', 'legal_representative');
COMMENT ON TYPE sealpg.seal_kind IS 'what a seal stands for: the organisation, a person, finance, contracts, the legal representative';

CREATE TYPE sealpg.seal_status AS ENUM ('active', 'frozen', 'revoked', 'expired');
COMMENT ON TYPE sealpg.seal_status IS
	'active <-> frozen; active|frozen -> revoked (terminal); -> expired when the validity window ends';

-- ---- tables --------------------------------------------------------

CREATE TABLE sealpg.organisations (
	organisation_id	uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	name			text NOT NULL UNIQUE CHECK (name <> ''),
	two_person_rule	boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.organisations IS 'organisations that own seals; row-level security separates them';

CREATE TABLE sealpg.organisation_members (
	organisation_id	uuid NOT NULL REFERENCES sealpg.organisations ON DELETE CASCADE,
	member			name NOT NULL,
	is_admin		boolean NOT NULL DEFAULT false,
	PRIMARY KEY (organisation_id, member)
);
COMMENT ON TABLE sealpg.organisation_members IS
	'database roles that belong to an organisation (is_admin: may manage its seals and report losses)';

CREATE TABLE sealpg.calendars (
	calendar_id		uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	organisation_id	uuid NOT NULL REFERENCES sealpg.organisations,
	name			text NOT NULL,
	work_days		integer[] NOT NULL DEFAULT '{1,2,3,4,5}'
		CHECK (work_days <@ '{1,2,3,4,5,6,7}'::integer[] AND pg_catalog.cardinality(work_days) > 0),
	day_start		time NOT NULL DEFAULT '08:00',
	day_end			time NOT NULL DEFAULT '18:00',
	CHECK (day_start < day_end),
	UNIQUE (organisation_id, name)
);
COMMENT ON TABLE sealpg.calendars IS
	'working calendars: ISO week days (1 = Monday) and working hours, read in each seal''s own time zone';

CREATE TABLE sealpg.seals (
	seal_id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	es_id			text NOT NULL UNIQUE,	-- format checked by seal_guard()
	name			text NOT NULL CHECK (name <> ''),
	kind			sealpg.seal_kind NOT NULL,
	organisation_id	uuid NOT NULL REFERENCES sealpg.organisations,
	holder			text,
	valid_from		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	valid_until		timestamptz NOT NULL,
	time_zone		text NOT NULL DEFAULT 'UTC',
	calendar_id		uuid REFERENCES sealpg.calendars,
	home_latitude	double precision,
	home_longitude	double precision,
	home_radius_m	double precision,
	device_id		text,
	token_label		text,
	key_id			bytea,
	key_algorithm	text,
	status			sealpg.seal_status NOT NULL DEFAULT 'active',
	status_reason	text,
	status_changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.seals IS
	'one row per seal: its esID, owner, validity, time zone, calendar, home location, bound device, key reference and status';
COMMENT ON COLUMN sealpg.seals.es_id IS 'the seal''s esID, unique, the key every API function takes first';
COMMENT ON COLUMN sealpg.seals.device_id IS 'identity of the physical (smart) seal device bound to this seal';
COMMENT ON COLUMN sealpg.seals.token_label IS 'label of the PKCS#11 token holding the seal''s key';
COMMENT ON COLUMN sealpg.seals.key_id IS 'CKA_ID of the seal''s private key on its token';
CREATE INDEX ON sealpg.seals (organisation_id);

CREATE TABLE sealpg.seal_operators (
	seal_id			uuid NOT NULL REFERENCES sealpg.seals ON DELETE CASCADE,
	operator		name NOT NULL,
	grant_from		timestamptz,
	grant_until		timestamptz,
	max_uses		integer CHECK (max_uses > 0),
	uses			integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
	granted_by		name NOT NULL,
	granted_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (seal_id, operator),
	CHECK (grant_until IS NULL OR grant_from IS NULL OR grant_until > grant_from)
);
COMMENT ON TABLE sealpg.seal_operators IS
	'which role may use which seal, optionally only within a time range and up to a number of uses';

CREATE TABLE sealpg.seal_status_history (
	history_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	seal_id			uuid NOT NULL REFERENCES sealpg.seals,
	old_status		sealpg.seal_status,
	new_status		sealpg.seal_status NOT NULL,
	reason			text,
	actor			name NOT NULL,
	changed_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.seal_status_history IS 'every status a seal has had, who set it and why (written by the guard trigger)';
CREATE INDEX ON sealpg.seal_status_history (seal_id, changed_at);

-- ---- the guard trigger ---------------------------------------------

CREATE FUNCTION sealpg.seal_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'seal_guard'
	LANGUAGE C;
COMMENT ON FUNCTION sealpg.seal_guard() IS
	'validates seal rows, enforces the status state machine, writes the history and notifies sealpg_status';
REVOKE ALL ON FUNCTION sealpg.seal_guard() FROM PUBLIC;	-- a trigger, never called directly

CREATE TRIGGER seal_guard_before BEFORE INSERT OR UPDATE ON sealpg.seals
	FOR EACH ROW EXECUTE FUNCTION sealpg.seal_guard();
CREATE TRIGGER seal_guard_after AFTER INSERT OR UPDATE OF status ON sealpg.seals
	FOR EACH ROW EXECUTE FUNCTION sealpg.seal_guard();

-- ---- membership checks ---------------------------------------------

CREATE FUNCTION sealpg.is_member(organisation uuid, admin_only boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN EXISTS (
		SELECT 1
		  FROM sealpg.organisation_members m
		  JOIN pg_catalog.pg_roles r ON r.rolname = m.member
		 WHERE m.organisation_id = organisation
		   AND (m.is_admin OR NOT admin_only)
		   AND pg_catalog.pg_has_role(sealpg.caller(), r.oid, 'MEMBER'))
		OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = sealpg.caller());
END
$$;
COMMENT ON FUNCTION sealpg.is_member(uuid, boolean) IS
	'true when the caller belongs to the organisation (as an admin, with admin_only); superusers belong everywhere';
REVOKE ALL ON FUNCTION sealpg.is_member(uuid, boolean) FROM PUBLIC;	-- only sealpg's roles ask
GRANT EXECUTE ON FUNCTION sealpg.is_member(uuid, boolean)
	TO sealpg_admin, sealpg_operator, sealpg_auditor, sealpg_agent;

CREATE FUNCTION sealpg.require_admin(organisation uuid) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT sealpg.is_member(organisation, true) THEN
		RAISE EXCEPTION 'role "%" is not an administrator of organisation %', sealpg.caller(), organisation
			USING ERRCODE = 'SE301',
				  HINT = 'An administrator of the organisation adds you with sealpg.add_member(organisation, role, true).';
	END IF;
END
$$;
COMMENT ON FUNCTION sealpg.require_admin(uuid) IS 'raises SE301 unless the caller administers the organisation';
REVOKE ALL ON FUNCTION sealpg.require_admin(uuid) FROM PUBLIC;	-- internal check

-- ---- row-level security --------------------------------------------
-- The tables' owner (the superuser who created the extension) and the
-- SECURITY DEFINER API functions see everything; every other role sees
-- the rows of its own organisations only.

ALTER TABLE sealpg.organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.organisation_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.calendars ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.seals ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.seal_operators ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.seal_status_history ENABLE ROW LEVEL SECURITY;

CREATE POLICY by_organisation ON sealpg.organisations
	USING (sealpg.is_member(organisation_id));
CREATE POLICY by_organisation ON sealpg.organisation_members
	USING (sealpg.is_member(organisation_id));
CREATE POLICY by_organisation ON sealpg.calendars
	USING (sealpg.is_member(organisation_id))
	WITH CHECK (sealpg.is_member(organisation_id, true));
CREATE POLICY by_organisation ON sealpg.seals
	USING (sealpg.is_member(organisation_id))
	WITH CHECK (sealpg.is_member(organisation_id, true));
CREATE POLICY by_organisation ON sealpg.seal_operators
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = seal_operators.seal_id)));
CREATE POLICY by_organisation ON sealpg.seal_status_history
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = seal_status_history.seal_id)));

-- Tables are read directly; they are changed through the API functions
-- below (which check who asks), so no role but the owner writes them.
REVOKE ALL ON ALL TABLES IN SCHEMA sealpg FROM PUBLIC;
GRANT SELECT ON sealpg.organisations, sealpg.organisation_members, sealpg.calendars,
	sealpg.seals, sealpg.seal_operators, sealpg.seal_status_history
	TO sealpg_admin, sealpg_operator, sealpg_auditor;

-- ---- API -----------------------------------------------------------

CREATE FUNCTION sealpg.create_organisation(name text, two_person_rule boolean DEFAULT false,
										   admin name DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
BEGIN
	IF NOT pg_catalog.pg_has_role(sealpg.caller(), 'sealpg_admin', 'MEMBER') THEN
		RAISE EXCEPTION 'role "%" may not create organisations', sealpg.caller()
			USING ERRCODE = 'SE301', HINT = 'Members of sealpg_admin create organisations.';
	END IF;
	INSERT INTO sealpg.organisations (name, two_person_rule)
		VALUES (create_organisation.name, create_organisation.two_person_rule)
		RETURNING organisation_id INTO id;
	INSERT INTO sealpg.organisation_members (organisation_id, member, is_admin)
		VALUES (id, coalesce(admin, sealpg.caller()), true);
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.create_organisation(text, boolean, name) IS
	'creates an organisation whose first administrator is the caller (or admin); members of sealpg_admin only';

CREATE FUNCTION sealpg.add_member(organisation uuid, member name, is_admin boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM sealpg.require_admin(organisation);
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = member) THEN
		RAISE EXCEPTION 'role "%" does not exist', member USING ERRCODE = '42704';
	END IF;
	INSERT INTO sealpg.organisation_members AS m (organisation_id, member, is_admin)
		VALUES (organisation, add_member.member, add_member.is_admin)
		ON CONFLICT ON CONSTRAINT organisation_members_pkey DO UPDATE SET is_admin = EXCLUDED.is_admin;
END
$$;
COMMENT ON FUNCTION sealpg.add_member(uuid, name, boolean) IS
	'adds a role to an organisation (or changes whether it is an admin); organisation admins only';

CREATE FUNCTION sealpg.create_calendar(organisation uuid, name text,
									   work_days integer[] DEFAULT '{1,2,3,4,5}',
									   day_start time DEFAULT '08:00', day_end time DEFAULT '18:00')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
BEGIN
	PERFORM sealpg.require_admin(organisation);
	IF day_start >= day_end THEN
		RAISE EXCEPTION 'working hours end (%) before they start (%)', day_end, day_start
			USING ERRCODE = '22023', HINT = 'A working day lies within one calendar day.';
	END IF;
	IF work_days IS NULL OR cardinality(work_days) = 0 OR NOT work_days <@ '{1,2,3,4,5,6,7}'::integer[] THEN
		RAISE EXCEPTION 'invalid work days %', work_days
			USING ERRCODE = '22023', DETAIL = 'Work days are ISO week days, 1 (Monday) to 7 (Sunday), at least one.';
	END IF;
	INSERT INTO sealpg.calendars (organisation_id, name, work_days, day_start, day_end)
		VALUES (organisation, create_calendar.name, create_calendar.work_days,
				create_calendar.day_start, create_calendar.day_end)
		RETURNING calendar_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.create_calendar(uuid, text, integer[], time, time) IS
	'creates a working calendar (ISO week days, working hours); organisation admins only';

CREATE FUNCTION sealpg.create_seal(es_id text, name text, kind sealpg.seal_kind,
								   organisation uuid, valid_until timestamptz,
								   holder text DEFAULT NULL,
								   time_zone text DEFAULT 'UTC',
								   valid_from timestamptz DEFAULT pg_catalog.now(),
								   home_latitude double precision DEFAULT NULL,
								   home_longitude double precision DEFAULT NULL,
								   home_radius_m double precision DEFAULT NULL,
								   device_id text DEFAULT NULL,
								   calendar uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM sealpg.organisations o WHERE o.organisation_id = organisation) THEN
		RAISE EXCEPTION 'organisation % does not exist', organisation
			USING ERRCODE = '23503', HINT = 'Create it with sealpg.create_organisation(name).';
	END IF;
	PERFORM sealpg.require_admin(organisation);
	IF calendar IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sealpg.calendars c
		WHERE c.calendar_id = calendar AND c.organisation_id = organisation) THEN
		RAISE EXCEPTION 'calendar % is not one of this organisation''s calendars', calendar
			USING ERRCODE = '23503';
	END IF;
	INSERT INTO sealpg.seals (es_id, name, kind, organisation_id, holder, valid_from, valid_until,
							  time_zone, calendar_id, home_latitude, home_longitude,
							  home_radius_m, device_id)
		VALUES (create_seal.es_id, create_seal.name, create_seal.kind, organisation,
				create_seal.holder, create_seal.valid_from, create_seal.valid_until,
				create_seal.time_zone, calendar, create_seal.home_latitude,
				create_seal.home_longitude, create_seal.home_radius_m, create_seal.device_id)
		RETURNING seal_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.create_seal(text, text, sealpg.seal_kind, uuid, timestamptz, text, text,
	timestamptz, double precision, double precision, double precision, text, uuid) IS
	'registers a seal (active, not yet enrolled); organisation admins only';

-- seal_row(es_id): the seal's row, locked FOR UPDATE, or SE007.
CREATE FUNCTION sealpg.seal_row(seal text) RETURNS sealpg.seals
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r sealpg.seals;
BEGIN
	SELECT * INTO r FROM sealpg.seals s WHERE s.es_id = seal FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'seal "%" does not exist', seal
			USING ERRCODE = 'SE007', HINT = 'Seals are named by their esID; SELECT es_id FROM sealpg.seals lists the ones you may see.';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION sealpg.seal_row(text) IS 'the seal''s row locked for update, or SQLSTATE SE007 (internal)';
REVOKE ALL ON FUNCTION sealpg.seal_row(text) FROM PUBLIC;	-- internal: locks rows

CREATE FUNCTION sealpg.grant_seal(seal text, operator name,
								  grant_from timestamptz DEFAULT NULL,
								  grant_until timestamptz DEFAULT NULL,
								  max_uses integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = operator) THEN
		RAISE EXCEPTION 'role "%" does not exist', operator USING ERRCODE = '42704';
	END IF;
	INSERT INTO sealpg.seal_operators (seal_id, operator, grant_from, grant_until, max_uses, granted_by)
		VALUES (s.seal_id, grant_seal.operator, grant_seal.grant_from, grant_seal.grant_until,
				grant_seal.max_uses, sealpg.caller())
		ON CONFLICT ON CONSTRAINT seal_operators_pkey DO UPDATE
		   SET grant_from = EXCLUDED.grant_from, grant_until = EXCLUDED.grant_until,
			   max_uses = EXCLUDED.max_uses, uses = 0,
			   granted_by = EXCLUDED.granted_by, granted_at = EXCLUDED.granted_at;
END
$$;
COMMENT ON FUNCTION sealpg.grant_seal(text, name, timestamptz, timestamptz, integer) IS
	'lets a role use a seal, optionally within a time range and up to max_uses; organisation admins only';

CREATE FUNCTION sealpg.revoke_seal_grant(seal text, operator name) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	DELETE FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id AND o.operator = revoke_seal_grant.operator;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION sealpg.revoke_seal_grant(text, name) IS
	'takes a role''s use of a seal away; true if it had one; organisation admins only';

CREATE FUNCTION sealpg.set_status(seal text, status sealpg.seal_status, reason text)
RETURNS sealpg.seal_status
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	UPDATE sealpg.seals SET status = set_status.status, status_reason = reason,
		   status_changed_at = pg_catalog.now()
	 WHERE seal_id = s.seal_id;
	RETURN set_status.status;
END
$$;
COMMENT ON FUNCTION sealpg.set_status(text, sealpg.seal_status, text) IS
	'moves a seal through its state machine (illegal moves raise SE006); organisation admins only';

CREATE FUNCTION sealpg.expire_seals() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer;
BEGIN
	UPDATE sealpg.seals SET status = 'expired', status_reason = 'validity ended',
		   status_changed_at = pg_catalog.now()
	 WHERE status IN ('active', 'frozen') AND valid_until <= pg_catalog.now();
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sealpg.expire_seals() IS
	'marks every seal whose validity has ended as expired; returns how many (run by pg_cron)';

CREATE FUNCTION sealpg.status(seal text) RETURNS sealpg.seal_status
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r sealpg.seals;
BEGIN
	SELECT * INTO r FROM sealpg.seals s WHERE s.es_id = seal;
	IF NOT FOUND OR NOT sealpg.is_member(r.organisation_id) THEN
		RAISE EXCEPTION 'seal "%" does not exist', seal USING ERRCODE = 'SE007';
	END IF;
	IF r.status IN ('active', 'frozen') AND r.valid_until <= pg_catalog.now() THEN
		RETURN 'expired';
	END IF;
	RETURN r.status;
END
$$;
COMMENT ON FUNCTION sealpg.status(text) IS
	'the seal''s status now (expired as soon as the validity window has ended)';

-- Every API function is refused to PUBLIC (PostgreSQL grants EXECUTE to
-- PUBLIC by default) and granted to the roles that need it.
REVOKE ALL ON FUNCTION
	sealpg.create_organisation(text, boolean, name),
	sealpg.add_member(uuid, name, boolean),
	sealpg.create_calendar(uuid, text, integer[], time, time),
	sealpg.create_seal(text, text, sealpg.seal_kind, uuid, timestamptz, text, text,
		timestamptz, double precision, double precision, double precision, text, uuid),
	sealpg.grant_seal(text, name, timestamptz, timestamptz, integer),
	sealpg.revoke_seal_grant(text, name),
	sealpg.set_status(text, sealpg.seal_status, text),
	sealpg.expire_seals(),
	sealpg.status(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sealpg.create_organisation(text, boolean, name),
	sealpg.add_member(uuid, name, boolean),
	sealpg.create_calendar(uuid, text, integer[], time, time),
	sealpg.create_seal(text, text, sealpg.seal_kind, uuid, timestamptz, text, text,
		timestamptz, double precision, double precision, double precision, text, uuid),
	sealpg.grant_seal(text, name, timestamptz, timestamptz, integer),
	sealpg.revoke_seal_grant(text, name),
	sealpg.set_status(text, sealpg.seal_status, text)
	TO sealpg_admin;
GRANT EXECUTE ON FUNCTION sealpg.status(text) TO sealpg_admin, sealpg_operator, sealpg_auditor;
