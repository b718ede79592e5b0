/*-------------------------------------------------------------------------
 *
 * journal.h
 *	  The tamper-evident journal: entry serialisation, appends, the Merkle
 *	  tree over all entries (RFC 6962 / RFC 9162) and its proofs.
 *
 * An entry is serialised to one canonical JSON text (journal_entry.c,
 * documented in doc/JOURNAL.md).  Its SHA-256 is the entry's hash, which
 * the seal's next entry carries as prev_hash (the per-seal link); the
 * Merkle leaf is SHA-256(0x00 || the same bytes).  Interior nodes are
 * SHA-256(0x01 || left || right).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_JOURNAL_H
#define SEALPG_JOURNAL_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#define JOURNAL_HASH_LEN	32
/* Version written as "v" in every serialised entry. */
#define JOURNAL_FORMAT_VERSION	1

/* The fields of one entry that its hash covers. */
typedef struct JournalEntry
{
	pg_uuid_t	entry_id;
	pg_uuid_t	seal_id;
	int64		seal_seq;
	const char *kind;
	TimestampTz event_time;
	Jsonb	   *payload;
	bool		has_prev;
	uint8		prev_hash[JOURNAL_HASH_LEN];
} JournalEntry;

/* ---- journal_entry.c: serialisation and hashes ---- */

/* Canonical JSON text of a jsonb value (no whitespace, keys in jsonb order). */
extern void journal_canonical_jsonb(StringInfo out, JsonbContainer *jc);
/* The entry's canonical serialisation (the leaf data of the Merkle tree). */
extern void journal_serialise(StringInfo out, const JournalEntry *e);
/* entry_hash = SHA-256(data), leaf_hash = SHA-256(0x00 || data). */
extern void journal_hashes(const StringInfo data, uint8 *entry_hash,
						   uint8 *leaf_hash);
/* SHA-256(0x01 || left || right). */
extern void merkle_node_hash(const uint8 *left, const uint8 *right,
							 uint8 *out);
/*
 * Fill an entry from an SPI row whose first seven columns are entry_id,
 * seal_id, seal_seq, kind, event_time, payload, prev_hash.  Returns false
 * (with *problem set) when a stored value cannot be part of a valid entry.
 */
extern bool journal_entry_from_row(HeapTuple row, TupleDesc desc,
								   JournalEntry *e, const char **problem);
/* Lowercase hexadecimal of bytes. */
extern void journal_hex(StringInfo out, const uint8 *bytes, int len);

/* ---- journal.c: appends ---- */

/* Append an event to the seal's chain in the current transaction. */
extern pg_uuid_t sealpg_journal_append(const pg_uuid_t *seal_id,
									   const char *kind, Jsonb *payload);
/* Oid of a relation of schema sealpg (ERROR when it does not exist). */
extern Oid	journal_relid(const char *relname);
/* One journal entry's columns into SPI_tuptable, or SE402. */
extern void journal_fetch_entry(pg_uuid_t *entry, const char *columns);
/* Run SPI as the journal's owner; restore with journal_end_owner(). */
extern void journal_begin_owner(Oid *save_userid, int *save_sec);
extern void journal_end_owner(Oid save_userid, int save_sec);

/* Set while the sequencer assigns leaves (the guard lets it through). */
extern bool journal_sequencing;

/* ---- merkle.c: the tree ---- */

/* Largest power of two strictly below n (n >= 2). */
extern int64 merkle_split(int64 n);

#endif							/* SEALPG_JOURNAL_H */
