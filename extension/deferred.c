/*-------------------------------------------------------------------------
 *
 * deferred.c
 *	  Writes that must outlive the caller's rollback.
 *
 * A refused signing must be recorded although the refusal aborts the
 * caller's transaction; an alert raised inside a transaction that later
 * rolls back must still exist.  sealpg_defer(function, json) queues a call
 * "function(payload jsonb)" in shared memory; a background worker of the
 * caller's database runs it in a transaction of its own.
 *
 * Shared memory: a header and sealpg.deferred_slots fixed-size slots.
 * Locking protocol: one LWLock (tranche "sealpg_deferred") protects the
 * whole area.  Backends take it exclusively to fill a free slot and to
 * look up (and, if needed, claim the launch of) their database's worker;
 * the worker takes it exclusively to move a READY slot of its database to
 * TAKEN, and again to free it once the call has committed (or failed and
 * been logged).  A worker that finds no READY slot for its database for
 * sealpg.deferred_idle_exit unregisters itself under the lock and exits,
 * so that DROP DATABASE is not held up; the next sealpg_defer() in that
 * database, seeing no worker under the same lock, launches a new one.
 * Slots a dead worker left TAKEN are made READY again by its successor.
 *
 * What is queued is lost if the server crashes before the worker has run
 * it (the README's Caveats say so); a full queue waits up to one second
 * for a free slot, then writes the call to the server log as a WARNING.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "deferred.h"
#include "sealpg.h"

#define DEFERRED_FUNCTION_MAX	64
#define DEFERRED_MAX_DATABASES	32

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_READY,
	SLOT_TAKEN
} SlotState;

typedef struct DeferredSlot
{
	SlotState	state;
	Oid			dboid;
	uint64		seqno;			/* queue order */
	char		function[DEFERRED_FUNCTION_MAX];
	char		payload[SEALPG_DEFER_PAYLOAD_MAX + 1];
} DeferredSlot;

typedef struct DeferredWorker
{
	Oid			dboid;			/* InvalidOid: entry unused */
	pid_t		pid;			/* 0 until the worker has started */
	Latch	   *latch;
	TimestampTz launched_at;	/* when a backend asked for it */
} DeferredWorker;

typedef struct DeferredShared
{
	LWLock	   *lock;
	uint64		next_seqno;
	uint64		done;			/* calls committed */
	uint64		failed;			/* calls that raised an error (logged) */
	DeferredWorker workers[DEFERRED_MAX_DATABASES];
	DeferredSlot slots[FLEXIBLE_ARRAY_MEMBER];
} DeferredShared;


static DeferredShared *deferred = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PGDLLEXPORT void sealpg_deferred_main(Datum main_arg);

/* Bytes of shared memory the queue needs. */
static Size
deferred_shmem_size(void)
{
	return add_size(offsetof(DeferredShared, slots),
					mul_size(sealpg_deferred_slots, sizeof(DeferredSlot)));
}

/* Ask for the shared memory and the lock (shmem_request_hook). */
static void
deferred_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(deferred_shmem_size());
	RequestNamedLWLockTranche("sealpg_deferred", 1);
}

/* Attach to (or create) the queue (shmem_startup_hook). */
static void
deferred_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	deferred = ShmemInitStruct("sealpg_deferred", deferred_shmem_size(), &found);
	if (!found)
	{
		memset(deferred, 0, deferred_shmem_size());
		deferred->lock = &(GetNamedLWLockTranche("sealpg_deferred"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Install the hooks; called from _PG_init while preloading. */
void
sealpg_deferred_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = deferred_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = deferred_shmem_startup;
}

/* Is the name a sealpg function the worker may call ("sealpg.x_y")? */
static bool
valid_function_name(const char *function)
{
	const char *p;

	if (strncmp(function, "sealpg.", 7) != 0 || function[7] == '\0' ||
		strlen(function) >= DEFERRED_FUNCTION_MAX)
		return false;
	for (p = function + 7; *p; p++)
		if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '_'))
			return false;
	return true;
}

/* Find this database's worker entry, or a free one; NULL if none left. */
static DeferredWorker *
worker_entry(Oid dboid, bool create)
{
	int			i;
	DeferredWorker *unused = NULL;

	for (i = 0; i < DEFERRED_MAX_DATABASES; i++)
	{
		if (deferred->workers[i].dboid == dboid)
			return &deferred->workers[i];
		if (unused == NULL && deferred->workers[i].dboid == InvalidOid)
			unused = &deferred->workers[i];
	}
	if (create && unused)
	{
		memset(unused, 0, sizeof(*unused));
		unused->dboid = dboid;
	}
	return create ? unused : NULL;
}

/* Start a worker for the database (called without the lock held). */
static bool
launch_worker(Oid dboid)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "sealpg");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "sealpg_deferred_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "sealpg deferred writer for database %u", dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "sealpg deferred writer");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&bgw, &handle);
}

/* Queue a call of function(payload jsonb) that survives this transaction. */
void
sealpg_defer(const char *function, const char *json)
{
	int			attempt;
	size_t		len = strlen(json);

	if (!valid_function_name(function))
		elog(ERROR, "sealpg_defer: \"%s\" is not a sealpg function name", function);
	if (len > SEALPG_DEFER_PAYLOAD_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("deferred payload of %zu bytes is too long", len),
				 errdetail("The limit is %d bytes.", SEALPG_DEFER_PAYLOAD_MAX)));
	if (deferred == NULL)
		elog(ERROR, "sealpg_defer: shared memory is not attached");
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot record \"%s\" during recovery", function),
				 errhint("Run this on the primary server.")));

	for (attempt = 0; attempt < 100; attempt++)
	{
		int			i;
		DeferredSlot *slot = NULL;
		DeferredWorker *w;
		bool		need_launch = false;
		Latch	   *latch = NULL;

		LWLockAcquire(deferred->lock, LW_EXCLUSIVE);
		for (i = 0; i < sealpg_deferred_slots; i++)
			if (deferred->slots[i].state == SLOT_FREE)
			{
				slot = &deferred->slots[i];
				break;
			}
		if (slot)
		{
			slot->dboid = MyDatabaseId;
			slot->seqno = deferred->next_seqno++;
			strlcpy(slot->function, function, sizeof(slot->function));
			memcpy(slot->payload, json, len + 1);
			slot->state = SLOT_READY;
		}
		w = worker_entry(MyDatabaseId, true);
		if (w && w->pid != 0)
			latch = w->latch;
		else if (w && (w->launched_at == 0 ||
					   TimestampDifferenceExceeds(w->launched_at, GetCurrentTimestamp(), 10000)))
		{
			w->launched_at = GetCurrentTimestamp();
			need_launch = true;
		}
		LWLockRelease(deferred->lock);

		if (latch)
			SetLatch(latch);
		if (need_launch && !launch_worker(MyDatabaseId))
		{
			LWLockAcquire(deferred->lock, LW_EXCLUSIVE);
			w->launched_at = 0;
			LWLockRelease(deferred->lock);
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start the sealpg deferred writer"),
					 errhint("Raise max_worker_processes; queued records wait until a writer starts.")));
		}
		if (slot)
			return;
		/* queue full: give the writer a moment */
		pg_usleep(10000L);
		CHECK_FOR_INTERRUPTS();
	}
	ereport(WARNING,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("sealpg deferred queue is full; call not recorded: %s(%s)", function, json),
			 errhint("Raise sealpg.deferred_slots.")));
}

/* Run one queued call in its own transaction; false if it failed. */
static bool
run_call(const char *function, const char *payload)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;
	char		sql[DEFERRED_FUNCTION_MAX + 32];

	snprintf(sql, sizeof(sql), "SELECT %s($1::jsonb)", function);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1];

		values[0] = CStringGetTextDatum(payload);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, sql);
		if (SPI_execute_with_args(sql, 1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "deferred call %s failed", function);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("sealpg deferred call %s failed: %s", function, edata->message),
				 errdetail("Payload: %s", payload)));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* Unregister this worker from shared memory when it exits. */
static void
deferred_worker_exit(int code, Datum arg)
{
	DeferredWorker *w;

	LWLockAcquire(deferred->lock, LW_EXCLUSIVE);
	w = worker_entry(MyDatabaseId, false);
	if (w && w->pid == MyProcPid)
		w->dboid = InvalidOid;
	LWLockRelease(deferred->lock);
}

/* Background worker: drain this database's calls in queue order. */
void
sealpg_deferred_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	TimestampTz idle_since = GetCurrentTimestamp();
	MemoryContext loopcxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	LWLockAcquire(deferred->lock, LW_EXCLUSIVE);
	{
		DeferredWorker *w = worker_entry(dboid, true);
		int			i;

		if (w == NULL || (w->pid != 0 && w->pid != MyProcPid))
		{
			/* another writer serves this database already */
			LWLockRelease(deferred->lock);
			proc_exit(0);
		}
		w->pid = MyProcPid;
		w->latch = MyLatch;
		/* calls a dead predecessor had taken are run again */
		for (i = 0; i < sealpg_deferred_slots; i++)
			if (deferred->slots[i].dboid == dboid && deferred->slots[i].state == SLOT_TAKEN)
				deferred->slots[i].state = SLOT_READY;
	}
	LWLockRelease(deferred->lock);
	before_shmem_exit(deferred_worker_exit, (Datum) 0);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "sealpg deferred loop",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int			i;
		DeferredSlot *next = NULL;
		char		function[DEFERRED_FUNCTION_MAX];
		char	   *payload;
		bool		ok;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loopcxt);

		LWLockAcquire(deferred->lock, LW_EXCLUSIVE);
		for (i = 0; i < sealpg_deferred_slots; i++)
		{
			DeferredSlot *s = &deferred->slots[i];

			if (s->state == SLOT_READY && s->dboid == dboid &&
				(next == NULL || s->seqno < next->seqno))
				next = s;
		}
		if (next == NULL &&
			TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), sealpg_deferred_idle_exit_ms))
		{
			DeferredWorker *w = worker_entry(dboid, false);

			if (w && w->pid == MyProcPid)
				w->dboid = InvalidOid;
			LWLockRelease(deferred->lock);
			break;
		}
		if (next)
		{
			next->state = SLOT_TAKEN;
			strlcpy(function, next->function, sizeof(function));
			payload = MemoryContextStrdup(loopcxt, next->payload);
		}
		LWLockRelease(deferred->lock);

		if (next == NULL)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(sealpg_deferred_idle_exit_ms, 1000), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}

		ok = run_call(function, payload);
		LWLockAcquire(deferred->lock, LW_EXCLUSIVE);
		next->state = SLOT_FREE;
		if (ok)
			deferred->done++;
		else
			deferred->failed++;
		LWLockRelease(deferred->lock);
		idle_since = GetCurrentTimestamp();
	}
	proc_exit(0);
}

/* sealpg.defer(function, payload): queue a call from SQL (superusers). */
PG_FUNCTION_INFO_V1(sealpg_defer_sql);
Datum
sealpg_defer_sql(PG_FUNCTION_ARGS)
{
	char	   *function = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *payload = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(1)));

	if (!valid_function_name(function))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a sealpg function name", function),
				 errdetail("Deferred calls run only functions of schema sealpg, named sealpg.lower_case.")));
	sealpg_defer(function, payload);
	PG_RETURN_VOID();
}

/* sealpg.deferred_stats(): queued, committed and failed calls. */
PG_FUNCTION_INFO_V1(sealpg_deferred_stats);
Datum
sealpg_deferred_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int64		queued = 0;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	LWLockAcquire(deferred->lock, LW_SHARED);
	for (i = 0; i < sealpg_deferred_slots; i++)
		if (deferred->slots[i].state != SLOT_FREE)
			queued++;
	values[0] = Int64GetDatum(queued);
	values[1] = Int64GetDatum((int64) deferred->done);
	values[2] = Int64GetDatum((int64) deferred->failed);
	LWLockRelease(deferred->lock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
