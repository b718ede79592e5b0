/*-------------------------------------------------------------------------
 *
 * agent_client.h
 *	  Backend-side client of sealpg-agent: key generation, signing and key
 *	  reports through the agent's Unix socket (agent/PROTOCOL.md).
 *
 * Every function opens the backend's one persistent connection lazily
 * (never in the postmaster), greets the agent with HELLO, and reconnects
 * once when the connection turned out to be broken.  Results are palloc'd
 * in CurrentMemoryContext.  Failures are ereport(ERROR) with an SE1xx
 * SQLSTATE and a hint naming the socket:
 *	  SE101 agent unavailable, SE102 agent timeout (the connection is then
 *	  closed, so a late reply is never read as the next answer), SE103 token
 *	  absent, SE104 agent or token failure, SE105 protocol violation, SE107
 *	  key not found; 22023 for arguments the agent refuses.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_AGENT_CLIENT_H
#define SEALPG_AGENT_CLIENT_H

#include "postgres.h"

#include "../agent/proto.h"

/* A key on a token, as the agent reports it. */
typedef struct SealKeyInfo
{
	int			alg;			/* SEALPG_ALG_EC_P256 or SEALPG_ALG_ED25519 */
	bytea	   *key_id;			/* CKA_ID (16 random bytes for our keys) */
	bytea	   *spki;			/* DER SubjectPublicKeyInfo, NULL from keyattrs */
	uint8		attrs;			/* SEALPG_ATTR_* bits, as below */
	bool		sensitive;
	bool		extractable;
	bool		never_extractable;
	bool		always_sensitive;
	bool		local;
} SealKeyInfo;

/* A slot and its token, as LIST_TOKENS reports them. */
typedef struct SealTokenInfo
{
	char	   *label;
	char	   *serial;
	char	   *manufacturer;
	char	   *model;
	bool		present;
	bool		initialized;
	bool		login_required;
} SealTokenInfo;

/* HELLO: the agent's protocol version; *agent_name gets its version text. */
extern uint32 sealpg_agent_hello(char **agent_name);

/* Slots and tokens; *ntokens gets the count. */
extern SealTokenInfo *sealpg_agent_list_tokens(int *ntokens);

/*
 * Generate a key pair on a token.  alg: "ecdsa-p256" (also "p256",
 * "prime256v1") or "ed25519".  The private key is CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE, not CKA_EXTRACTABLE; out->attrs is what the token reports.
 * Not retried on a lost connection (the key may exist already).
 */
extern void sealpg_agent_keygen(const char *token, const char *alg,
								const char *label, SealKeyInfo *out);

/*
 * Sign with a key on a token.  mechanism: "ecdsa" (input is the digest,
 * 20..64 bytes; the result is raw r||s, 64 bytes for P-256, to be
 * DER-encoded by the caller) or "eddsa" (input is the message).
 */
extern unsigned char *sealpg_agent_sign(const char *token,
										const unsigned char *key_id,
										size_t key_id_len,
										const char *mechanism,
										const unsigned char *input,
										size_t input_len, size_t *outlen);

/* Public key (SPKI) and attributes of an existing key. */
extern void sealpg_agent_pubkey(const char *token, const unsigned char *key_id,
								size_t key_id_len, SealKeyInfo *out);

/* Attributes only (out->spki stays NULL). */
extern void sealpg_agent_keyattrs(const char *token, const unsigned char *key_id,
								  size_t key_id_len, SealKeyInfo *out);

/* Close the backend's connection (harmless when none is open). */
extern void sealpg_agent_disconnect(void);

#endif							/* SEALPG_AGENT_CLIENT_H */
