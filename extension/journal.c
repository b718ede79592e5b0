/*-------------------------------------------------------------------------
 *
 * journal.c
 *	  Appends to the journal, the triggers that journal other tables'
 *	  events, and the guard that keeps the journal append-only.
 *
 * An append happens in the caller's transaction.  It takes the seal's
 * journal lock (a transaction-level lock on the seal, in the advisory
 * lock space under a tag of sealpg's own, so no role's advisory locks
 * collide with it), reads the seal's last entry, and inserts the next one
 * with seal_seq + 1 and prev_hash = the last entry's hash.  Callers that
 * act on a seal hold its row lock already; the journal lock makes the
 * chain safe for any other caller too, and a unique index on
 * (seal_id, seal_seq) refuses a fork should a snapshot ever be stale
 * (REPEATABLE READ).  Nothing global is locked: the Merkle tree is built
 * later, in commit order, by the sequencer (merkle.c).
 *
 * The guard (sealpg.journal_guard) refuses UPDATE, DELETE and TRUNCATE on
 * the journal and its tree with SQLSTATE SE401, and INSERTs that do not
 * come from an append or the sequencer.  The only update it lets through
 * is the sequencer's: leaf_index from NULL to a value, nothing else
 * changed.  A superuser can still disable the triggers, or a file can be
 * edited on disk: sealpg.journal_verify() finds such changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "journal.h"
#include "sealpg.h"

/* Tag in the advisory lock space that marks sealpg's seal journal locks. */
#define JOURNAL_LOCK_CLASS	0x5345

bool		journal_sequencing = false;
static bool journal_appending = false;

static SPIPlanPtr last_entry_plan = NULL;
static SPIPlanPtr insert_entry_plan = NULL;

/* Oid of a relation of schema sealpg (ERROR when it does not exist). */
Oid
journal_relid(const char *relname)
{
	Oid			nsp = get_namespace_oid("sealpg", false);
	Oid			relid = get_relname_relid(relname, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "relation sealpg.%s does not exist", relname);
	return relid;
}

/*
 * Fetch the given columns of one journal entry into SPI_tuptable (the
 * caller is connected to SPI); SE402 when there is no such entry.
 */
void
journal_fetch_entry(pg_uuid_t *entry, const char *columns)
{
	StringInfoData sql;
	int			rc;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM sealpg.journal WHERE entry_id = $1", columns);
	rc = SPI_execute_with_args(sql.data, 1, (Oid[]) {UUIDOID}, (Datum[]) {UUIDPGetDatum(entry)},
							   NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "journal query failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_JOURNAL_NO_ENTRY),
				 errmsg("journal entry %s does not exist",
						DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(entry))))));
	pfree(sql.data);
}

/* Run SPI as the journal's owner; restore with journal_end_owner(). */
void
journal_begin_owner(Oid *save_userid, int *save_sec)
{
	HeapTuple	tup;
	Oid			owner;
	Oid			relid = journal_relid("journal");

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

/* Restore the user changed by journal_begin_owner(). */
void
journal_end_owner(Oid save_userid, int save_sec)
{
	SetUserIdAndSecContext(save_userid, save_sec);
}

/* Take the seal's journal lock until the end of the transaction. */
static void
lock_seal_journal(const pg_uuid_t *seal_id)
{
	LOCKTAG		tag;
	uint32		k1;
	uint32		k2;

	memcpy(&k1, seal_id->data, 4);
	memcpy(&k2, seal_id->data + 12, 4);
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, k1, k2, JOURNAL_LOCK_CLASS);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* Prepare (once per backend) the two statements an append runs. */
static void
prepare_append_plans(void)
{
	Oid			uuid_arg[1] = {UUIDOID};
	Oid			insert_args[8] = {UUIDOID, UUIDOID, INT8OID, TEXTOID,
	TIMESTAMPTZOID, JSONBOID, BYTEAOID, BYTEAOID};

	if (last_entry_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT seal_seq, entry_hash FROM sealpg.journal "
									"WHERE seal_id = $1 ORDER BY seal_seq DESC LIMIT 1",
									1, uuid_arg);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare journal query: %s", SPI_result_code_string(SPI_result));
		last_entry_plan = p;
	}
	if (insert_entry_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("INSERT INTO sealpg.journal (entry_id, seal_id, seal_seq, kind, "
									"event_time, payload, prev_hash, entry_hash) "
									"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
									8, insert_args);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare journal insert: %s", SPI_result_code_string(SPI_result));
		insert_entry_plan = p;
	}
}

/* A random (version 4) uuid. */
static void
random_uuid(pg_uuid_t *u)
{
	if (!pg_strong_random(u->data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random journal entry id")));
	u->data[6] = (u->data[6] & 0x0f) | 0x40;
	u->data[8] = (u->data[8] & 0x3f) | 0x80;
}

/* Append under the journal's owner, inside SPI (see sealpg_journal_append). */
static void
append_locked(JournalEntry *e)
{
	Datum		args[8];
	char		nulls[8] = "        ";
	uint8		entry_hash[JOURNAL_HASH_LEN];
	StringInfoData data;
	int			rc;

	rc = SPI_execute_plan(last_entry_plan, (Datum[]) {UUIDPGetDatum(&e->seal_id)}, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "journal query failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		seq = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		bytea	   *prev = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 2, &isnull));

		if (VARSIZE_ANY_EXHDR(prev) != JOURNAL_HASH_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the seal's last journal entry has a hash of the wrong length"),
					 errhint("Run sealpg.journal_verify() to find what was changed.")));
		e->seal_seq = DatumGetInt64(seq) + 1;
		e->has_prev = true;
		memcpy(e->prev_hash, VARDATA_ANY(prev), JOURNAL_HASH_LEN);
	}
	else
	{
		e->seal_seq = 1;
		e->has_prev = false;
	}

	initStringInfo(&data);
	journal_serialise(&data, e);
	journal_hashes(&data, entry_hash, NULL);

	args[0] = UUIDPGetDatum(&e->entry_id);
	args[1] = UUIDPGetDatum(&e->seal_id);
	args[2] = Int64GetDatum(e->seal_seq);
	args[3] = CStringGetTextDatum(e->kind);
	args[4] = TimestampTzGetDatum(e->event_time);
	args[5] = JsonbPGetDatum(e->payload);
	if (e->has_prev)
	{
		bytea	   *p = palloc(VARHDRSZ + JOURNAL_HASH_LEN);

		SET_VARSIZE(p, VARHDRSZ + JOURNAL_HASH_LEN);
		memcpy(VARDATA(p), e->prev_hash, JOURNAL_HASH_LEN);
		args[6] = PointerGetDatum(p);
	}
	else
	{
		args[6] = (Datum) 0;
		nulls[6] = 'n';
	}
	{
		bytea	   *h = palloc(VARHDRSZ + JOURNAL_HASH_LEN);

		SET_VARSIZE(h, VARHDRSZ + JOURNAL_HASH_LEN);
		memcpy(VARDATA(h), entry_hash, JOURNAL_HASH_LEN);
		args[7] = PointerGetDatum(h);
	}
	rc = SPI_execute_plan(insert_entry_plan, args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "journal insert failed: %s", SPI_result_code_string(rc));
}

/* Append an event to the seal's chain in the current transaction. */
pg_uuid_t
sealpg_journal_append(const pg_uuid_t *seal_id, const char *kind, Jsonb *payload)
{
	JournalEntry e;
	Oid			save_userid;
	int			save_sec;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot append to the journal on a standby"),
				 errhint("Events are journaled on the primary.")));
	if (kind == NULL || kind[0] == '\0' || strlen(kind) > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a journal entry kind is 1 to 64 characters")));

	memset(&e, 0, sizeof(e));
	random_uuid(&e.entry_id);
	e.seal_id = *seal_id;
	e.kind = kind;
	e.event_time = GetCurrentTimestamp();
	e.payload = payload;

	lock_seal_journal(seal_id);
	journal_begin_owner(&save_userid, &save_sec);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	prepare_append_plans();
	journal_appending = true;
	PG_TRY();
	{
		append_locked(&e);
	}
	PG_FINALLY();
	{
		journal_appending = false;
	}
	PG_END_TRY();
	SPI_finish();
	journal_end_owner(save_userid, save_sec);
	return e.entry_id;
}

/* sealpg.journal_append(seal uuid, kind text, payload jsonb) returns uuid. */
PG_FUNCTION_INFO_V1(sealpg_journal_append_sql);
Datum
sealpg_journal_append_sql(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *seal = PG_GETARG_UUID_P(0);
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb	   *payload = PG_GETARG_JSONB_P(2);
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	*id = sealpg_journal_append(seal, kind, payload);
	PG_RETURN_UUID_P(id);
}

/* Is the column's type one whose value the journal keeps only as a digest? */
static bool
digest_only_type(Oid typid, Datum value)
{
	HeapTuple	tup;
	bool		result;

	if (typid == BYTEAOID)
		return VARSIZE_ANY_EXHDR(DatumGetPointer(value)) > 64;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	{
		Form_pg_type t = (Form_pg_type) GETSTRUCT(tup);

		result = t->typnamespace == get_namespace_oid("sealpg", false) &&
			(strcmp(NameStr(t->typname), "sealsig") == 0 ||
			 strcmp(NameStr(t->typname), "x509") == 0);
	}
	ReleaseSysCache(tup);
	return result;
}

/* The JSON payload of a row: every column, large binary values as digests. */
static Jsonb *
row_payload(Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	JsonbParseState *state = NULL;
	JsonbValue	k;
	JsonbValue	v;
	int			i;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "table";
	k.val.string.len = 5;
	pushJsonbValue(&state, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = RelationGetRelationName(rel);
	v.val.string.len = strlen(v.val.string.val);
	pushJsonbValue(&state, WJB_VALUE, &v);

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		isnull;
		Datum		d;

		if (att->attisdropped)
			continue;
		d = heap_getattr(tuple, i + 1, desc, &isnull);
		k.type = jbvString;
		k.val.string.val = NameStr(att->attname);
		k.val.string.len = strlen(k.val.string.val);
		pushJsonbValue(&state, WJB_KEY, &k);
		if (isnull)
			v.type = jbvNull;
		else if (digest_only_type(att->atttypid, d))
		{
			struct varlena *b = PG_DETOAST_DATUM_PACKED(d);
			StringInfoData s;
			StringInfoData hex;
			uint8		digest[JOURNAL_HASH_LEN];

			s.data = VARDATA_ANY(b);
			s.len = VARSIZE_ANY_EXHDR(b);
			journal_hashes(&s, digest, NULL);
			initStringInfo(&hex);
			appendStringInfoString(&hex, "sha256:");
			journal_hex(&hex, digest, JOURNAL_HASH_LEN);
			v.type = jbvString;
			v.val.string.val = hex.data;
			v.val.string.len = hex.len;
		}
		else
		{
			Oid			out;
			bool		varlena;

			getTypeOutputInfo(att->atttypid, &out, &varlena);
			v.type = jbvString;
			v.val.string.val = OidOutputFunctionCall(out, d);
			v.val.string.len = strlen(v.val.string.val);
		}
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* AFTER INSERT trigger: journal the new row; args (kind [, seal column]). */
PG_FUNCTION_INFO_V1(sealpg_journal_record);
Datum
sealpg_journal_record(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *column;
	int			attno;
	bool		isnull;
	Datum		seal;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "journal_record must be an AFTER INSERT FOR EACH ROW trigger");
	if (td->tg_trigger->tgnargs < 1)
		elog(ERROR, "journal_record needs the entry kind as its first argument");
	column = td->tg_trigger->tgnargs > 1 ? td->tg_trigger->tgargs[1] : "seal_id";
	attno = SPI_fnumber(RelationGetDescr(td->tg_relation), column);
	if (attno <= 0 || TupleDescAttr(RelationGetDescr(td->tg_relation), attno - 1)->atttypid != UUIDOID)
		elog(ERROR, "journal_record: column \"%s\" is not a uuid column of %s",
			 column, RelationGetRelationName(td->tg_relation));
	seal = heap_getattr(td->tg_trigtuple, attno, RelationGetDescr(td->tg_relation), &isnull);
	if (!isnull)
		(void) sealpg_journal_append(DatumGetUUIDP(seal), td->tg_trigger->tgargs[0],
									 row_payload(td->tg_relation, td->tg_trigtuple));
	return PointerGetDatum(NULL);
}

/* Raise SE401: the journal is append-only. */
static void
refuse_change(const char *table, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_SEAL_JOURNAL_APPEND_ONLY),
			 errmsg("%s on sealpg.%s is not allowed", what, table),
			 errdetail("The journal is append-only: entries are added by sealpg's functions and triggers, never changed or removed."),
			 errhint("To record a correction, journal a new event.")));
}

/* Is the sequencer's update: leaf_index NULL -> value, nothing else changed? */
static bool
is_sequencer_update(Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			leaf_att = SPI_fnumber(desc, "leaf_index");
	int			i;
	bool		isnull;

	if (!journal_sequencing || leaf_att <= 0)
		return false;
	(void) heap_getattr(oldtup, leaf_att, desc, &isnull);
	if (!isnull)
		return false;
	(void) heap_getattr(newtup, leaf_att, desc, &isnull);
	if (isnull)
		return false;
	for (i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);
		bool		n1;
		bool		n2;
		Datum		d1;
		Datum		d2;

		if (i == leaf_att || att->attisdropped)
			continue;
		d1 = heap_getattr(oldtup, i, desc, &n1);
		d2 = heap_getattr(newtup, i, desc, &n2);
		if (n1 != n2 || (!n1 && !datumIsEqual(d1, d2, att->attbyval, att->attlen)))
			return false;
	}
	return true;
}

/* BEFORE trigger on the journal's tables: append-only, see the header. */
PG_FUNCTION_INFO_V1(sealpg_journal_guard);
Datum
sealpg_journal_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *table;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event))
		elog(ERROR, "journal_guard must be a BEFORE trigger");
	table = RelationGetRelationName(td->tg_relation);

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		refuse_change(table, "TRUNCATE");
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		refuse_change(table, "DELETE");
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		if (TRIGGER_FIRED_FOR_ROW(td->tg_event) &&
			is_sequencer_update(td->tg_relation, td->tg_trigtuple, td->tg_newtuple))
			return PointerGetDatum(td->tg_newtuple);
		refuse_change(table, "UPDATE");
	}
	/* INSERT */
	if (strcmp(table, "journal") == 0 ? !journal_appending : !journal_sequencing)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_JOURNAL_APPEND_ONLY),
				 errmsg("rows are added to sealpg.%s only by sealpg itself", table),
				 errhint("%s", strcmp(table, "journal") == 0 ?
						 "Events are journaled by sealpg's triggers and functions (sealpg.journal_append)." :
						 "The tree grows by sealpg.journal_sequence().")));
	return TRIGGER_FIRED_FOR_ROW(td->tg_event) ? PointerGetDatum(td->tg_trigtuple) : PointerGetDatum(NULL);
}
