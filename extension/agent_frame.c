/*-------------------------------------------------------------------------
 *
 * agent_frame.c
 *	  The agent's frame codec (agent/frame.c), compiled into sealpg.so so
 *	  that the backend decodes replies with the same unit-tested and fuzzed
 *	  code the agent uses.
 *
 * The symbols are hidden: PostgreSQL loads libraries with RTLD_GLOBAL, and
 * the codec's short names must not meet another library's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#pragma GCC visibility push(hidden)
#include "../agent/frame.c"
#pragma GCC visibility pop
