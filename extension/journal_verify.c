/*-------------------------------------------------------------------------
 *
 * journal_verify.c
 *	  sealpg.journal_verify(): recompute every hash of the journal and its
 *	  tree from the stored rows and name the first entry that is wrong.
 *
 * One pass over the sequenced entries in leaf order, then one over the
 * entries not yet sequenced in (seal, seal_seq) order.  For each entry:
 *	- its canonical serialisation must hash to its entry_hash (changed);
 *	- its leaf index must be the next one (a gap: deleted);
 *	- its seal_seq must follow the seal's previous entry, and prev_hash
 *	  must be that entry's hash (deleted, inserted or reordered);
 *	- its leaf hash must be the tree's stored leaf at that index, and
 *	  every subtree it completes must equal the stored node (reordered,
 *	  inserted, or the tree itself edited);
 *	- when the count of leaves reaches the size of a stored tree head, the
 *	  recomputed root must equal the head's root.
 * The tree's stored nodes are read level by level through one cursor per
 * level, in step with the leaves, so memory stays bounded however long
 * the journal is.  Everything is read-only: it runs on a hot standby.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "journal.h"
#include "sealpg.h"

#define VERIFY_LEVELS	64
#define VERIFY_CHUNK	5000

/* The last entry seen of one seal. */
typedef struct SealLink
{
	pg_uuid_t	seal_id;		/* hash key */
	int64		last_seq;
	uint8		last_hash[JOURNAL_HASH_LEN];
} SealLink;

/* A cursor over the stored nodes of one tree level. */
typedef struct LevelReader
{
	Portal		portal;
	SPITupleTable *rows;
	uint64		pos;
	bool		done;
} LevelReader;

/* Everything a verification pass carries along. */
typedef struct VerifyState
{
	HTAB	   *links;
	LevelReader levels[VERIFY_LEVELS];
	uint8		frontier[VERIFY_LEVELS][JOURNAL_HASH_LEN];
	int64		leaves;
	int64		entries;
	int64	   *head_sizes;
	bytea	  **head_roots;
	int			nheads;
	int			next_head;
	/* the first problem found */
	bool		bad;
	pg_uuid_t	bad_entry;
	bool		bad_has_entry;
	int64		bad_leaf;
	char	   *problem;
} VerifyState;

/* Record the first problem (later ones are not reported). */
static void
report(VerifyState *st, const pg_uuid_t *entry, int64 leaf, const char *fmt,...)
	pg_attribute_printf(4, 5);

static void
report(VerifyState *st, const pg_uuid_t *entry, int64 leaf, const char *fmt,...)
{
	va_list		ap;
	StringInfoData msg;

	if (st->bad)
		return;
	st->bad = true;
	st->bad_has_entry = entry != NULL;
	if (entry)
		st->bad_entry = *entry;
	st->bad_leaf = leaf;
	initStringInfo(&msg);
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&msg, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	st->problem = MemoryContextStrdup(TopTransactionContext, msg.data);
}

/* The context of the function's whole pass (set by journal_verify). */
static MemoryContext cursor_context = NULL;

/* The next stored node of a level, or NULL when the level has no more. */
static HeapTuple
next_stored_node(LevelReader *r, int level)
{
	/* cursors live as long as the pass: never in the per-row context */
	MemoryContext oldcxt = MemoryContextSwitchTo(cursor_context);
	HeapTuple	result = NULL;

	if (r->portal == NULL && !r->done)
	{
		r->portal = SPI_cursor_open_with_args(NULL,
											  "SELECT node_index, hash FROM sealpg.journal_tree "
											  "WHERE level = $1 ORDER BY node_index",
											  1, (Oid[]) {INT2OID}, (Datum[]) {Int16GetDatum((int16) level)},
											  NULL, true, CURSOR_OPT_NO_SCROLL);
	}
	if (!r->done && (r->rows == NULL || r->pos >= r->rows->numvals))
	{
		if (r->rows)
			SPI_freetuptable(r->rows);
		SPI_cursor_fetch(r->portal, true, VERIFY_CHUNK);
		r->rows = SPI_tuptable;
		r->pos = 0;
		if (SPI_processed == 0)
			r->done = true;
	}
	if (!r->done)
		result = r->rows->vals[r->pos++];
	MemoryContextSwitchTo(oldcxt);
	return result;
}

/* Compare a recomputed node with the stored one; false after a report. */
static bool
check_node(VerifyState *st, int level, int64 index, const uint8 *hash,
		   const pg_uuid_t *entry, int64 leaf)
{
	HeapTuple	row = next_stored_node(&st->levels[level], level);
	bool		isnull;
	int64		stored_index;
	bytea	   *stored;

	if (row == NULL)
	{
		report(st, entry, leaf, "the tree has no node at level %d, index " INT64_FORMAT
			   " (the tree was cut short or this entry was inserted)", level, index);
		return false;
	}
	stored_index = DatumGetInt64(SPI_getbinval(row, st->levels[level].rows->tupdesc, 1, &isnull));
	stored = DatumGetByteaPP(SPI_getbinval(row, st->levels[level].rows->tupdesc, 2, &isnull));
	if (stored_index != index)
	{
		report(st, entry, leaf, "the tree's node at level %d, index " INT64_FORMAT
			   " is missing or out of place (stored index " INT64_FORMAT ")",
			   level, index, stored_index);
		return false;
	}
	if (VARSIZE_ANY_EXHDR(stored) != JOURNAL_HASH_LEN ||
		memcmp(VARDATA_ANY(stored), hash, JOURNAL_HASH_LEN) != 0)
	{
		if (level == 0)
			report(st, entry, leaf, "this is not the entry the tree holds at leaf " INT64_FORMAT
				   " (the entry was changed, reordered or inserted)", index);
		else
			report(st, entry, leaf, "the tree's node at level %d, index " INT64_FORMAT
				   " does not match the leaves under it (the tree was changed)", level, index);
		return false;
	}
	return true;
}

/* The root of the leaves seen so far, from the frontier. */
static void
frontier_root(VerifyState *st, uint8 *root)
{
	int			level;
	bool		have = false;

	for (level = 0; level < VERIFY_LEVELS; level++)
		if (st->leaves & ((int64) 1 << level))
		{
			if (!have)
				memcpy(root, st->frontier[level], JOURNAL_HASH_LEN);
			else
				merkle_node_hash(st->frontier[level], root, root);
			have = true;
		}
}

/* Check the per-seal link of an entry; false after a report. */
static bool
check_link(VerifyState *st, const JournalEntry *e, const uint8 *entry_hash, int64 leaf)
{
	bool		found;
	SealLink   *link = hash_search(st->links, &e->seal_id, HASH_ENTER, &found);

	if (!found)
	{
		if (e->seal_seq != 1 || e->has_prev)
		{
			report(st, &e->entry_id, leaf, "the seal's first entry is number " INT64_FORMAT
				   " (entries before it were deleted, or this one was inserted)", e->seal_seq);
			return false;
		}
	}
	else if (e->seal_seq <= link->last_seq)
	{
		report(st, &e->entry_id, leaf, "entry number " INT64_FORMAT " of its seal comes after number "
			   INT64_FORMAT " (reordered or duplicated)", e->seal_seq, link->last_seq);
		return false;
	}
	else if (e->seal_seq == link->last_seq + 2)
	{
		report(st, &e->entry_id, leaf, "entry " INT64_FORMAT " of its seal is missing (deleted)",
			   link->last_seq + 1);
		return false;
	}
	else if (e->seal_seq != link->last_seq + 1)
	{
		report(st, &e->entry_id, leaf, "entries " INT64_FORMAT " to " INT64_FORMAT
			   " of its seal are missing (deleted)", link->last_seq + 1, e->seal_seq - 1);
		return false;
	}
	else if (!e->has_prev || memcmp(e->prev_hash, link->last_hash, JOURNAL_HASH_LEN) != 0)
	{
		report(st, &e->entry_id, leaf, "its prev_hash is not the hash of its seal's entry number "
			   INT64_FORMAT " (that entry or this one was changed or replaced)", link->last_seq);
		return false;
	}
	link->last_seq = e->seal_seq;
	memcpy(link->last_hash, entry_hash, JOURNAL_HASH_LEN);
	return true;
}

/* Verify one entry row (columns as journal_entry_from_row, then entry_hash, leaf_index). */
static bool
verify_row(VerifyState *st, HeapTuple row, TupleDesc desc, bool sequenced)
{
	JournalEntry e;
	const char *problem;
	bool		isnull;
	bytea	   *stored_hash;
	StringInfoData data;
	uint8		entry_hash[JOURNAL_HASH_LEN];
	uint8		hash[JOURNAL_HASH_LEN];
	int64		leaf = -1;
	int			level;

	memset(&e, 0, sizeof(e));
	if (!journal_entry_from_row(row, desc, &e, &problem))
	{
		bool		idnull;
		Datum		id = SPI_getbinval(row, desc, 1, &idnull);

		report(st, idnull ? NULL : DatumGetUUIDP(id), -1, "%s", problem);
		return false;
	}
	st->entries++;
	if (sequenced)
	{
		leaf = DatumGetInt64(SPI_getbinval(row, desc, 9, &isnull));
		if (leaf != st->leaves)
		{
			if (leaf == st->leaves + 1)
				report(st, &e.entry_id, leaf, "leaf " INT64_FORMAT " before it is missing (deleted)",
					   st->leaves);
			else if (leaf > st->leaves)
				report(st, &e.entry_id, leaf, "leaves " INT64_FORMAT " to " INT64_FORMAT
					   " before it are missing (deleted)", st->leaves, leaf - 1);
			else
				report(st, &e.entry_id, leaf, "its leaf index " INT64_FORMAT " repeats (inserted)", leaf);
			return false;
		}
	}

	initStringInfo(&data);
	journal_serialise(&data, &e);
	journal_hashes(&data, entry_hash, sequenced ? hash : NULL);
	stored_hash = DatumGetByteaPP(SPI_getbinval(row, desc, 8, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(stored_hash) != JOURNAL_HASH_LEN ||
		memcmp(VARDATA_ANY(stored_hash), entry_hash, JOURNAL_HASH_LEN) != 0)
	{
		report(st, &e.entry_id, leaf, "its contents do not match its entry_hash (changed)");
		return false;
	}
	if (!check_link(st, &e, entry_hash, leaf))
		return false;
	if (!sequenced)
		return true;

	/* the leaf, and every subtree it completes */
	if (!check_node(st, 0, leaf, hash, &e.entry_id, leaf))
		return false;
	for (level = 0; (leaf >> level) & 1; level++)
	{
		merkle_node_hash(st->frontier[level], hash, hash);
		if (!check_node(st, level + 1, leaf >> (level + 1), hash, &e.entry_id, leaf))
			return false;
	}
	memcpy(st->frontier[level], hash, JOURNAL_HASH_LEN);
	st->leaves++;

	/* a stored tree head of this size must have this root */
	while (st->next_head < st->nheads && st->head_sizes[st->next_head] <= st->leaves)
	{
		bytea	   *root = st->head_roots[st->next_head];
		uint8		computed[JOURNAL_HASH_LEN];

		if (st->head_sizes[st->next_head] == st->leaves)
		{
			frontier_root(st, computed);
			if (VARSIZE_ANY_EXHDR(root) != JOURNAL_HASH_LEN ||
				memcmp(VARDATA_ANY(root), computed, JOURNAL_HASH_LEN) != 0)
			{
				report(st, &e.entry_id, leaf, "the tree head of size " INT64_FORMAT
					   " has another root than the entries give", st->leaves);
				return false;
			}
		}
		st->next_head++;
	}
	return true;
}

/* Run one query through a cursor, verifying each row; false once bad. */
static bool
verify_query(VerifyState *st, const char *query, bool sequenced, MemoryContext rowcxt)
{
	Portal		portal = SPI_cursor_open_with_args(NULL, query, 0, NULL, NULL, NULL,
												   true, CURSOR_OPT_NO_SCROLL);
	bool		ok = true;

	while (ok)
	{
		SPITupleTable *rows;
		uint64		i;
		MemoryContext oldcxt;

		SPI_cursor_fetch(portal, true, VERIFY_CHUNK);
		rows = SPI_tuptable;
		if (SPI_processed == 0)
			break;
		for (i = 0; i < rows->numvals && ok; i++)
		{
			oldcxt = MemoryContextSwitchTo(rowcxt);
			ok = verify_row(st, rows->vals[i], rows->tupdesc, sequenced);
			MemoryContextSwitchTo(oldcxt);
			/* per row: the memory stays in the context's first block */
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(rows);
	}
	SPI_cursor_close(portal);
	return ok;
}

/* Load the stored tree heads' sizes and roots, smallest first. */
static void
load_tree_heads(VerifyState *st)
{
	uint64		i;
	int			rc = SPI_execute("SELECT tree_size, root_hash FROM sealpg.tree_heads "
								 "WHERE tree_size > 0 ORDER BY tree_size", true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tree head query failed: %s", SPI_result_code_string(rc));
	st->nheads = (int) SPI_processed;
	st->head_sizes = palloc(sizeof(int64) * Max(st->nheads, 1));
	st->head_roots = palloc(sizeof(bytea *) * Max(st->nheads, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		st->head_sizes[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		st->head_roots[i] = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
}

/* sealpg.journal_verify(): recompute links and tree; name the first bad entry. */
PG_FUNCTION_INFO_V1(sealpg_journal_verify);
Datum
sealpg_journal_verify(PG_FUNCTION_ARGS)
{
	VerifyState *st = palloc0(sizeof(VerifyState));
	HASHCTL		ctl;
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	MemoryContext rowcxt;
	int			level;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "journal_verify must return a record");
	desc = BlessTupleDesc(desc);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(SealLink);
	ctl.hcxt = CurrentMemoryContext;
	st->links = hash_create("journal seal links", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "journal verify rows",
								   64 * 1024, 64 * 1024, ALLOCSET_DEFAULT_MAXSIZE);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cursor_context = CurrentMemoryContext;
	load_tree_heads(st);
	if (verify_query(st, "SELECT entry_id, seal_id, seal_seq, kind, event_time, payload, prev_hash, "
					 "entry_hash, leaf_index FROM sealpg.journal WHERE leaf_index IS NOT NULL "
					 "ORDER BY leaf_index", true, rowcxt))
	{
		/* nodes stored beyond the recomputed tree */
		for (level = 0; level < VERIFY_LEVELS && !st->bad; level++)
		{
			HeapTuple	extra;

			if (level > 0 && (st->leaves >> level) == 0)
				break;
			extra = next_stored_node(&st->levels[level], level);
			if (extra != NULL)
				report(st, NULL, st->leaves, "the tree has more nodes at level %d than the journal "
					   "has sequenced entries (entries were deleted)", level);
		}
		if (!st->bad && st->next_head < st->nheads)
			report(st, NULL, st->leaves, "a tree head of size " INT64_FORMAT " was stored but the "
				   "tree has only " INT64_FORMAT " leaves (entries were deleted)",
				   st->head_sizes[st->next_head], st->leaves);
		if (!st->bad)
			(void) verify_query(st, "SELECT entry_id, seal_id, seal_seq, kind, event_time, payload, "
								"prev_hash, entry_hash, NULL::bigint FROM sealpg.journal "
								"WHERE leaf_index IS NULL ORDER BY seal_id, seal_seq", false, rowcxt);
	}
	for (level = 0; level < VERIFY_LEVELS; level++)
		if (st->levels[level].portal != NULL)
			SPI_cursor_close(st->levels[level].portal);
	SPI_finish();

	values[0] = BoolGetDatum(!st->bad);
	values[1] = Int64GetDatum(st->entries);
	values[2] = Int64GetDatum(st->leaves);
	if (st->bad && st->bad_has_entry)
	{
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

		*u = st->bad_entry;
		values[3] = UUIDPGetDatum(u);
	}
	else
		nulls[3] = true;
	values[4] = Int64GetDatum(st->bad_leaf);
	nulls[4] = !st->bad || st->bad_leaf < 0;
	if (st->bad)
		values[5] = CStringGetTextDatum(st->problem);
	else
		nulls[5] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* sealpg.journal_entry_text(entry): the entry's canonical serialisation. */
PG_FUNCTION_INFO_V1(sealpg_journal_entry_text);
Datum
sealpg_journal_entry_text(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *entry = PG_GETARG_UUID_P(0);
	JournalEntry e;
	const char *problem;
	StringInfoData data;
	MemoryContext caller = CurrentMemoryContext;
	text	   *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	journal_fetch_entry(entry, "entry_id, seal_id, seal_seq, kind, event_time, payload, prev_hash");
	memset(&e, 0, sizeof(e));
	if (!journal_entry_from_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &e, &problem))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("journal entry cannot be serialised: %s", problem)));
	initStringInfo(&data);
	journal_serialise(&data, &e);
	result = (text *) MemoryContextAlloc(caller, VARHDRSZ + data.len);
	SET_VARSIZE(result, VARHDRSZ + data.len);
	memcpy(VARDATA(result), data.data, data.len);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}
