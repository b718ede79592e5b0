/*-------------------------------------------------------------------------
 *
 * client_harness.c
 *	  Test-only loadable module around extension/agent_client.c: defines
 *	  the two settings the real extension defines (sealpg.agent_socket,
 *	  sealpg.agent_timeout) and SQL wrappers for keygen and sign, so that
 *	  the backend-side client can be tested before and apart from the
 *	  rest of sealpg.  Never installed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "sealpg.h"
#include "agent_client.h"

PG_MODULE_MAGIC;

char	   *sealpg_agent_socket = NULL;
int			sealpg_agent_timeout_ms = 5000;

PG_FUNCTION_INFO_V1(test_agent_keygen);
PG_FUNCTION_INFO_V1(test_agent_sign);

void		_PG_init(void);

/* Define the settings as the extension does. */
void
_PG_init(void)
{
	DefineCustomStringVariable("sealpg.agent_socket", "Socket of sealpg-agent.", NULL,
							   &sealpg_agent_socket, "/run/sealpg/agent.sock",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sealpg.agent_timeout", "Time allowed for one agent request.", NULL,
							&sealpg_agent_timeout_ms, 5000, 1, 600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
}

/* test_agent_keygen(token, alg, label) returns (key_id, spki, attrs int). */
Datum
test_agent_keygen(PG_FUNCTION_ARGS)
{
	SealKeyInfo ki;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	sealpg_agent_keygen(text_to_cstring(PG_GETARG_TEXT_PP(0)),
						text_to_cstring(PG_GETARG_TEXT_PP(1)),
						text_to_cstring(PG_GETARG_TEXT_PP(2)), &ki);
	values[0] = PointerGetDatum(ki.key_id);
	values[1] = PointerGetDatum(ki.spki);
	values[2] = Int32GetDatum(ki.attrs);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* test_agent_sign(token, key_id, mechanism, input) returns bytea. */
Datum
test_agent_sign(PG_FUNCTION_ARGS)
{
	bytea	   *id = PG_GETARG_BYTEA_PP(1);
	bytea	   *in = PG_GETARG_BYTEA_PP(3);
	size_t		len;
	unsigned char *sig;
	bytea	   *res;

	sig = sealpg_agent_sign(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							(unsigned char *) VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id),
							text_to_cstring(PG_GETARG_TEXT_PP(2)),
							(unsigned char *) VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), &len);
	res = palloc(VARHDRSZ + len);
	SET_VARSIZE(res, VARHDRSZ + len);
	memcpy(VARDATA(res), sig, len);
	PG_RETURN_BYTEA_P(res);
}
