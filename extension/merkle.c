/*-------------------------------------------------------------------------
 *
 * merkle.c
 *	  The Merkle tree over all journal entries (RFC 6962 section 2.1, RFC
 *	  9162 section 2.1): the sequencer that grows it, tree roots, and
 *	  inclusion and consistency proofs with their verification.
 *
 * Storage: sealpg.journal_tree holds every complete subtree, one row per
 * (level, node_index): level 0 are the leaf hashes, and the node at level
 * L, index i covers leaves [i * 2^L, (i + 1) * 2^L).  Every hash a proof
 * or a root needs is either such a node or, along the tree's right edge,
 * combined from at most log2(n) of them, so roots and proofs cost
 * O(log n) index lookups (O(log^2 n) at worst for consistency proofs).
 *
 * Sequencing: sealpg.journal_sequence() takes a lock on the tree table
 * that only another sequencer waits for (readers and appenders go on),
 * reads the committed entries that have no leaf yet in the order they
 * were appended, gives each the next leaf index and adds the leaf and
 * every subtree it completes.  Entries that commit while it runs are
 * left for the next run, so leaves follow commit order with a delay
 * bounded by how often the job runs (every minute, as a pg_cron job,
 * and on demand).  A seal's entries keep their order: the next cannot be
 * appended before the previous one committed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "journal.h"
#include "sealpg.h"

#define MERKLE_MAX_LEVELS	64
/* Rows fetched, and rows written, per round trip. */
#define SEQUENCE_CHUNK		2000

static SPIPlanPtr node_plan = NULL;

/* Largest power of two strictly below n (n >= 2). */
int64
merkle_split(int64 n)
{
	Assert(n >= 2);
	return (int64) 1 << pg_leftmost_one_pos64((uint64) (n - 1));
}

/* A bytea holding a 32-byte hash. */
static bytea *
hash_bytea(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + JOURNAL_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + JOURNAL_HASH_LEN);
	memcpy(VARDATA(b), hash, JOURNAL_HASH_LEN);
	return b;
}

/* Copy a 32-byte hash out of a bytea, or raise 22023 naming what it is. */
static void
bytea_hash(bytea *b, uint8 *out, const char *what)
{
	if (VARSIZE_ANY_EXHDR(b) != JOURNAL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a 32-byte SHA-256 hash", what)));
	memcpy(out, VARDATA_ANY(b), JOURNAL_HASH_LEN);
}

/* The stored hash of a complete subtree (SPI must be connected). */
static void
stored_node(int level, int64 index, uint8 *out)
{
	Datum		args[2];
	bool		isnull;
	int			rc;

	if (node_plan == NULL)
	{
		Oid			types[2] = {INT2OID, INT8OID};
		SPIPlanPtr	p = SPI_prepare("SELECT hash FROM sealpg.journal_tree "
									"WHERE level = $1 AND node_index = $2",
									2, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare tree query: %s", SPI_result_code_string(SPI_result));
		node_plan = p;
	}
	args[0] = Int16GetDatum((int16) level);
	args[1] = Int64GetDatum(index);
	rc = SPI_execute_plan(node_plan, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tree query failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the journal's tree has no node at level %d, index " INT64_FORMAT,
						level, index),
				 errhint("Run sealpg.journal_verify() to find what was changed.")));
	bytea_hash(DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
			   out, "a stored tree node");
}

/* MTH(D[lo:hi]) from stored subtrees (SPI must be connected). */
static void
subtree_hash(int64 lo, int64 hi, uint8 *out)
{
	int64		n = hi - lo;

	Assert(n >= 1);
	if ((n & (n - 1)) == 0 && lo % n == 0)
		stored_node(pg_leftmost_one_pos64((uint64) n), lo / n, out);
	else
	{
		int64		k = merkle_split(n);
		uint8		left[JOURNAL_HASH_LEN];
		uint8		right[JOURNAL_HASH_LEN];

		subtree_hash(lo, lo + k, left);
		subtree_hash(lo + k, hi, right);
		merkle_node_hash(left, right, out);
	}
}

/* Number of leaves in the tree now (SPI must be connected). */
static int64
tree_size_now(void)
{
	bool		isnull;
	Datum		d;
	int			rc = SPI_execute("SELECT max(node_index) + 1 FROM sealpg.journal_tree WHERE level = 0",
								 true, 1);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "tree size query failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/* Raise unless 1 <= size <= the tree's size (0 allowed with allow_zero). */
static void
check_tree_size(int64 size, int64 current, const char *what, bool allow_zero)
{
	if (size < (allow_zero ? 0 : 1) || size > current)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_TREE_SIZE),
				 errmsg("%s " INT64_FORMAT " is not a size of the journal's tree", what, size),
				 errdetail("The tree has " INT64_FORMAT " leaves now.", current),
				 errhint("Entries join the tree when sealpg.journal_sequence() runs.")));
}

/* ---- sequencing ---------------------------------------------------- */

/* Buffers of one sequencing round's writes. */
typedef struct SequenceBatch
{
	int			nentries;
	Datum		entry_ids[SEQUENCE_CHUNK];
	Datum		leaves[SEQUENCE_CHUNK];
	int			nnodes;
	Datum		node_levels[SEQUENCE_CHUNK * 2 + MERKLE_MAX_LEVELS];
	Datum		node_indexes[SEQUENCE_CHUNK * 2 + MERKLE_MAX_LEVELS];
	Datum		node_hashes[SEQUENCE_CHUNK * 2 + MERKLE_MAX_LEVELS];
} SequenceBatch;

/* Write a batch: leaf indexes into the journal, nodes into the tree. */
static void
flush_batch(SequenceBatch *b)
{
	Datum		args[3];
	Oid			types[3];
	int			rc;

	if (b->nentries == 0)
		return;
	types[0] = UUIDARRAYOID;
	types[1] = INT8ARRAYOID;
	args[0] = PointerGetDatum(construct_array(b->entry_ids, b->nentries, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	args[1] = PointerGetDatum(construct_array(b->leaves, b->nentries, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	rc = SPI_execute_with_args("UPDATE sealpg.journal j SET leaf_index = u.leaf "
							   "FROM unnest($1, $2) AS u(id, leaf) WHERE j.entry_id = u.id",
							   2, types, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != (uint64) b->nentries)
		elog(ERROR, "sequencer update failed: %s", SPI_result_code_string(rc));

	types[0] = INT2ARRAYOID;
	types[1] = INT8ARRAYOID;
	types[2] = BYTEAARRAYOID;
	args[0] = PointerGetDatum(construct_array(b->node_levels, b->nnodes, INT2OID, 2, true, TYPALIGN_SHORT));
	args[1] = PointerGetDatum(construct_array(b->node_indexes, b->nnodes, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(b->node_hashes, b->nnodes, BYTEAOID, -1, false, TYPALIGN_INT));
	rc = SPI_execute_with_args("INSERT INTO sealpg.journal_tree (level, node_index, hash) "
							   "SELECT * FROM unnest($1, $2, $3)",
							   3, types, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "sequencer insert failed: %s", SPI_result_code_string(rc));
	b->nentries = 0;
	b->nnodes = 0;
}

/* Add a node to the batch. */
static void
batch_node(SequenceBatch *b, int level, int64 index, const uint8 *hash)
{
	b->node_levels[b->nnodes] = Int16GetDatum((int16) level);
	b->node_indexes[b->nnodes] = Int64GetDatum(index);
	b->node_hashes[b->nnodes] = PointerGetDatum(hash_bytea(hash));
	b->nnodes++;
}

/* Assign leaves to up to max_entries committed entries; returns the count. */
static int64
sequence_entries(int64 max_entries, int64 *size_out)
{
	uint8		frontier[MERKLE_MAX_LEVELS][JOURNAL_HASH_LEN];
	int64		size;
	int64		done = 0;
	int			level;
	Portal		portal;
	SequenceBatch *b = palloc0(sizeof(SequenceBatch));
	MemoryContext rowcxt;
	MemoryContext oldcxt;

	if (SPI_execute("LOCK TABLE sealpg.journal_tree IN SHARE ROW EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock the journal's tree");
	size = tree_size_now();

	/* the right edge: one complete subtree for each bit set in size */
	for (level = 0; level < MERKLE_MAX_LEVELS - 1; level++)
		if (size & ((int64) 1 << level))
			stored_node(level, (size >> level) - 1, frontier[level]);

	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT entry_id, seal_id, seal_seq, kind, event_time, payload, prev_hash "
									   "FROM sealpg.journal WHERE leaf_index IS NULL "
									   "ORDER BY append_no LIMIT $1",
									   1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(max_entries)},
									   NULL, false, CURSOR_OPT_NO_SCROLL);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "journal sequencer", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, SEQUENCE_CHUNK);
		if (SPI_processed == 0)
			break;
		oldcxt = MemoryContextSwitchTo(rowcxt);
		for (i = 0; i < SPI_processed; i++)
		{
			JournalEntry e;
			StringInfoData data;
			uint8		hash[JOURNAL_HASH_LEN];
			const char *problem;
			int64		index = size;
			pg_uuid_t  *id;

			if (!journal_entry_from_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &e, &problem))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("journal entry cannot be sequenced: %s", problem),
						 errhint("Run sealpg.journal_verify() to find what was changed.")));
			initStringInfo(&data);
			journal_serialise(&data, &e);
			journal_hashes(&data, NULL, hash);

			id = palloc(sizeof(pg_uuid_t));
			*id = e.entry_id;
			b->entry_ids[b->nentries] = UUIDPGetDatum(id);
			b->leaves[b->nentries] = Int64GetDatum(index);
			b->nentries++;
			batch_node(b, 0, index, hash);
			/* climb while this node is a right child, completing parents */
			for (level = 0; (index >> level) & 1; level++)
			{
				merkle_node_hash(frontier[level], hash, hash);
				batch_node(b, level + 1, index >> (level + 1), hash);
			}
			memcpy(frontier[level], hash, JOURNAL_HASH_LEN);
			size++;
			done++;
		}
		MemoryContextSwitchTo(oldcxt);
		SPI_freetuptable(SPI_tuptable);
		flush_batch(b);
		MemoryContextReset(rowcxt);
	}
	SPI_cursor_close(portal);
	*size_out = size;
	return done;
}

/* sealpg.journal_sequence(max_entries): grow the tree; returns its new size. */
PG_FUNCTION_INFO_V1(sealpg_journal_sequence);
Datum
sealpg_journal_sequence(PG_FUNCTION_ARGS)
{
	int64		max_entries = PG_GETARG_INT64(0);
	int64		size = 0;
	Oid			save_userid;
	int			save_sec;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot sequence the journal on a standby"),
				 errhint("The primary sequences the journal; the standby receives the tree by replication.")));
	if (max_entries < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_entries must be at least 1")));

	journal_begin_owner(&save_userid, &save_sec);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	journal_sequencing = true;
	PG_TRY();
	{
		(void) sequence_entries(max_entries, &size);
	}
	PG_FINALLY();
	{
		journal_sequencing = false;
	}
	PG_END_TRY();
	SPI_finish();
	journal_end_owner(save_userid, save_sec);
	PG_RETURN_INT64(size);
}

/* ---- roots and proofs ------------------------------------------------ */

/* sealpg.tree_root(tree_size): MTH of the first tree_size leaves. */
PG_FUNCTION_INFO_V1(sealpg_tree_root);
Datum
sealpg_tree_root(PG_FUNCTION_ARGS)
{
	int64		size = PG_GETARG_INT64(0);
	uint8		root[JOURNAL_HASH_LEN];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_tree_size(size, tree_size_now(), "tree size", true);
	if (size == 0)
	{
		/* RFC 6962: the hash of an empty tree is the hash of no bytes */
		StringInfoData empty;

		initStringInfo(&empty);
		journal_hashes(&empty, root, NULL);
	}
	else
		subtree_hash(0, size, root);
	SPI_finish();
	PG_RETURN_BYTEA_P(hash_bytea(root));
}

/* sealpg.tree_size(): leaves in the tree now. */
PG_FUNCTION_INFO_V1(sealpg_tree_size);
Datum
sealpg_tree_size(PG_FUNCTION_ARGS)
{
	int64		size;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	size = tree_size_now();
	SPI_finish();
	PG_RETURN_INT64(size);
}

/* A growing list of proof hashes. */
typedef struct ProofPath
{
	int			n;
	uint8		hashes[2 * MERKLE_MAX_LEVELS][JOURNAL_HASH_LEN];
} ProofPath;

/* RFC 6962 PATH(m, D[lo:hi]), leaf to root. */
static void
inclusion_path(int64 m, int64 lo, int64 hi, ProofPath *path)
{
	int64		n = hi - lo;
	int64		k;

	if (n <= 1)
		return;
	k = merkle_split(n);
	if (m < k)
	{
		inclusion_path(m, lo, lo + k, path);
		subtree_hash(lo + k, hi, path->hashes[path->n++]);
	}
	else
	{
		inclusion_path(m - k, lo + k, hi, path);
		subtree_hash(lo, lo + k, path->hashes[path->n++]);
	}
}

/* RFC 6962 SUBPROOF(m, D[lo:hi], b). */
static void
consistency_subproof(int64 m, int64 lo, int64 hi, bool complete, ProofPath *path)
{
	int64		n = hi - lo;
	int64		k;

	if (m == n)
	{
		if (!complete)
			subtree_hash(lo, hi, path->hashes[path->n++]);
		return;
	}
	k = merkle_split(n);
	if (m <= k)
	{
		consistency_subproof(m, lo, lo + k, complete, path);
		subtree_hash(lo + k, hi, path->hashes[path->n++]);
	}
	else
	{
		consistency_subproof(m - k, lo + k, hi, false, path);
		subtree_hash(lo, lo + k, path->hashes[path->n++]);
	}
}

/* A proof as bytea[]. */
static ArrayType *
path_array(const ProofPath *path)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(path->n, 1));
	int			i;

	for (i = 0; i < path->n; i++)
		elems[i] = PointerGetDatum(hash_bytea(path->hashes[i]));
	return construct_array(elems, path->n, BYTEAOID, -1, false, TYPALIGN_INT);
}

/* sealpg.inclusion_proof(entry, tree_size): leaf, root and audit path. */
PG_FUNCTION_INFO_V1(sealpg_inclusion_proof);
Datum
sealpg_inclusion_proof(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *entry;
	int64		size;
	int64		current;
	int64		leaf;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	uint8		leaf_hash[JOURNAL_HASH_LEN];
	uint8		root[JOURNAL_HASH_LEN];
	ProofPath  *path = palloc0(sizeof(ProofPath));
	bool		isnull;
	HeapTuple	result;

	/* not STRICT, since tree_size may be NULL; a NULL entry has no proof */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	entry = PG_GETARG_UUID_P(0);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "inclusion_proof must return a record");
	desc = BlessTupleDesc(desc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	journal_fetch_entry(entry, "leaf_index");
	leaf = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_JOURNAL_NOT_SEQUENCED),
				 errmsg("journal entry %s is not in the tree yet",
						DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(entry)))),
				 errhint("Entries join the tree when sealpg.journal_sequence() runs (every minute).")));
	current = tree_size_now();
	size = PG_ARGISNULL(1) ? current : PG_GETARG_INT64(1);
	check_tree_size(size, current, "tree size", false);
	if (leaf >= size)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_JOURNAL_NOT_SEQUENCED),
				 errmsg("journal entry %s is not in the tree of size " INT64_FORMAT,
						DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(entry))), size),
				 errdetail("Its leaf index is " INT64_FORMAT ".", leaf)));

	stored_node(0, leaf, leaf_hash);
	subtree_hash(0, size, root);
	inclusion_path(leaf, 0, size, path);
	SPI_finish();

	values[0] = Int64GetDatum(leaf);
	values[1] = Int64GetDatum(size);
	values[2] = PointerGetDatum(hash_bytea(leaf_hash));
	values[3] = PointerGetDatum(hash_bytea(root));
	values[4] = PointerGetDatum(path_array(path));
	result = heap_form_tuple(desc, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/* sealpg.consistency_proof(old_size, new_size): RFC 6962 PROOF(m, D[n]). */
PG_FUNCTION_INFO_V1(sealpg_consistency_proof);
Datum
sealpg_consistency_proof(PG_FUNCTION_ARGS)
{
	int64		old_size = PG_GETARG_INT64(0);
	int64		new_size = PG_GETARG_INT64(1);
	ProofPath  *path = palloc0(sizeof(ProofPath));
	ArrayType  *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_tree_size(new_size, tree_size_now(), "new size", false);
	if (old_size < 1 || old_size > new_size)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_TREE_SIZE),
				 errmsg("old size " INT64_FORMAT " must be between 1 and the new size " INT64_FORMAT,
						old_size, new_size)));
	if (old_size < new_size)
		consistency_subproof(old_size, 0, new_size, true, path);
	SPI_finish();
	result = path_array(path);
	PG_RETURN_ARRAYTYPE_P(result);
}

/* The hashes of a bytea[] proof, each checked to be 32 bytes. */
static int
proof_hashes(ArrayType *arr, uint8 (**out)[JOURNAL_HASH_LEN])
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a proof is a one-dimensional bytea[]")));
	deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	*out = palloc(sizeof(**out) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a proof hash is null")));
		bytea_hash(DatumGetByteaPP(elems[i]), (*out)[i], "every proof hash");
	}
	return n;
}

/* RFC 9162 2.1.3.2: does the path prove the leaf is in the tree? */
PG_FUNCTION_INFO_V1(sealpg_verify_inclusion);
Datum
sealpg_verify_inclusion(PG_FUNCTION_ARGS)
{
	uint8		leaf[JOURNAL_HASH_LEN];
	int64		index = PG_GETARG_INT64(1);
	int64		size = PG_GETARG_INT64(2);
	uint8		(*path)[JOURNAL_HASH_LEN];
	int			n = proof_hashes(PG_GETARG_ARRAYTYPE_P(3), &path);
	uint8		root[JOURNAL_HASH_LEN];
	uint8		r[JOURNAL_HASH_LEN];
	uint64		fn;
	uint64		sn;
	int			i;

	bytea_hash(PG_GETARG_BYTEA_PP(0), leaf, "the leaf hash");
	bytea_hash(PG_GETARG_BYTEA_PP(4), root, "the root hash");
	if (index < 0 || size < 1 || index >= size)
		PG_RETURN_BOOL(false);
	fn = (uint64) index;
	sn = (uint64) size - 1;
	memcpy(r, leaf, JOURNAL_HASH_LEN);
	for (i = 0; i < n; i++)
	{
		if (sn == 0)
			PG_RETURN_BOOL(false);
		if ((fn & 1) || fn == sn)
		{
			merkle_node_hash(path[i], r, r);
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else
			merkle_node_hash(r, path[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	PG_RETURN_BOOL(sn == 0 && memcmp(r, root, JOURNAL_HASH_LEN) == 0);
}

/* RFC 9162 2.1.4.2: does the proof show the old tree is a prefix of the new? */
PG_FUNCTION_INFO_V1(sealpg_verify_consistency);
Datum
sealpg_verify_consistency(PG_FUNCTION_ARGS)
{
	int64		first = PG_GETARG_INT64(0);
	int64		second = PG_GETARG_INT64(1);
	uint8		first_hash[JOURNAL_HASH_LEN];
	uint8		second_hash[JOURNAL_HASH_LEN];
	uint8		(*given)[JOURNAL_HASH_LEN];
	int			n = proof_hashes(PG_GETARG_ARRAYTYPE_P(4), &given);
	uint8		(*c)[JOURNAL_HASH_LEN];
	uint8		fr[JOURNAL_HASH_LEN];
	uint8		sr[JOURNAL_HASH_LEN];
	uint64		fn;
	uint64		sn;
	int			i;

	bytea_hash(PG_GETARG_BYTEA_PP(2), first_hash, "the old root");
	bytea_hash(PG_GETARG_BYTEA_PP(3), second_hash, "the new root");
	if (first < 1 || second < first)
		PG_RETURN_BOOL(false);
	if (first == second)
		PG_RETURN_BOOL(n == 0 && memcmp(first_hash, second_hash, JOURNAL_HASH_LEN) == 0);
	if (n == 0)
		PG_RETURN_BOOL(false);

	/* an old tree that is a complete subtree starts the path itself */
	c = palloc(sizeof(*c) * (n + 1));
	if ((first & (first - 1)) == 0)
	{
		memcpy(c[0], first_hash, JOURNAL_HASH_LEN);
		memcpy(c + 1, given, sizeof(*c) * n);
		n++;
	}
	else
		memcpy(c, given, sizeof(*c) * n);

	fn = (uint64) first - 1;
	sn = (uint64) second - 1;
	while (fn & 1)
	{
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, c[0], JOURNAL_HASH_LEN);
	memcpy(sr, c[0], JOURNAL_HASH_LEN);
	for (i = 1; i < n; i++)
	{
		if (sn == 0)
			PG_RETURN_BOOL(false);
		if ((fn & 1) || fn == sn)
		{
			merkle_node_hash(c[i], fr, fr);
			merkle_node_hash(c[i], sr, sr);
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else
			merkle_node_hash(sr, c[i], sr);
		fn >>= 1;
		sn >>= 1;
	}
	PG_RETURN_BOOL(sn == 0 &&
				   memcmp(fr, first_hash, JOURNAL_HASH_LEN) == 0 &&
				   memcmp(sr, second_hash, JOURNAL_HASH_LEN) == 0);
}
