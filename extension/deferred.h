/*-------------------------------------------------------------------------
 *
 * deferred.h
 *	  Writes that outlive the caller's rollback: a shared-memory queue
 *	  drained by one background worker per database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_DEFERRED_H
#define SEALPG_DEFERRED_H

/* Longest JSON payload one deferred call may carry. */
#define SEALPG_DEFER_PAYLOAD_MAX	4000

extern int	sealpg_deferred_slots;
extern int	sealpg_deferred_idle_exit_ms;

extern void sealpg_deferred_init(void);
extern void sealpg_defer(const char *function, const char *json);

#endif							/* SEALPG_DEFERRED_H */
