/*-------------------------------------------------------------------------
 *
 * agent_sql.c
 *	  SQL-callable views of sealpg-agent: ping, the token list and the
 *	  attributes of a key.  Read-only; key generation and signing are not
 *	  exposed here (they go through the registry's policy checks).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "sealpg.h"
#include "agent_client.h"

PG_FUNCTION_INFO_V1(sealpg_agent_ping);
PG_FUNCTION_INFO_V1(sealpg_agent_tokens);
PG_FUNCTION_INFO_V1(sealpg_agent_key);

/* sealpg.agent_ping() returns text: the agent's version and protocol. */
Datum
sealpg_agent_ping(PG_FUNCTION_ARGS)
{
	char	   *name = NULL;
	uint32		version = sealpg_agent_hello(&name);

	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s (protocol %u)", name, version)));
}

/*
 * sealpg.agent_tokens() returns setof (label, serial, manufacturer, model,
 * present, initialized): every slot of the agent's PKCS#11 module.
 */
Datum
sealpg_agent_tokens(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SealTokenInfo *tokens;
	int			ntokens;

	InitMaterializedSRF(fcinfo, 0);
	tokens = sealpg_agent_list_tokens(&ntokens);
	for (int i = 0; i < ntokens; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = CStringGetTextDatum(tokens[i].label);
		values[1] = CStringGetTextDatum(tokens[i].serial);
		values[2] = CStringGetTextDatum(tokens[i].manufacturer);
		values[3] = CStringGetTextDatum(tokens[i].model);
		values[4] = BoolGetDatum(tokens[i].present);
		values[5] = BoolGetDatum(tokens[i].initialized);
		if (!tokens[i].present)
			nulls[0] = nulls[1] = nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * sealpg.agent_key(token text, key_id bytea) returns (algorithm, spki,
 * sensitive, extractable, never_extractable, always_sensitive, local).
 */
Datum
sealpg_agent_key(PG_FUNCTION_ARGS)
{
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bytea	   *key_id = PG_GETARG_BYTEA_PP(1);
	SealKeyInfo ki;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	sealpg_agent_pubkey(token, (const unsigned char *) VARDATA_ANY(key_id),
						VARSIZE_ANY_EXHDR(key_id), &ki);
	values[0] = CStringGetTextDatum(ki.alg == SEALPG_ALG_EC_P256 ? "ecdsa-p256" : "ed25519");
	values[1] = PointerGetDatum(ki.spki);
	values[2] = BoolGetDatum(ki.sensitive);
	values[3] = BoolGetDatum(ki.extractable);
	values[4] = BoolGetDatum(ki.never_extractable);
	values[5] = BoolGetDatum(ki.always_sensitive);
	values[6] = BoolGetDatum(ki.local);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
