/*-------------------------------------------------------------------------
 *
 * token.h
 *	  The PKCS#11 side of sealpg-agent: module loading, the PIN table,
 *	  per-connection session caches and the key operations.
 *
 * Every operation returns 0 or a SEALPG_ERR_* code, and on error writes a
 * message (at most TOKEN_ERRLEN bytes, PIN-free) into err.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_TOKEN_H
#define SEALPG_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define TOKEN_ERRLEN		256
#define TOKEN_SPKI_MAX		256

/* One slot as reported by LIST_TOKENS. */
typedef struct TokenInfo
{
	char		label[SEALPG_MAX_LABEL + 1];
	char		serial[17];
	char		manufacturer[33];
	char		model[17];
	uint8_t		flags;
} TokenInfo;

/* A key as reported by KEYGEN, PUBKEY and KEYATTRS. */
typedef struct KeyInfo
{
	uint8_t		alg;
	uint8_t		key_id[SEALPG_MAX_KEY_ID];
	size_t		key_id_len;
	uint8_t		spki[TOKEN_SPKI_MAX];
	size_t		spki_len;
	uint8_t		attrs;
} KeyInfo;

/* The sessions one connection has opened, one per token label. */
typedef struct TokenSessions TokenSessions;

extern int	token_module_load(const char *path, char *err);
extern void token_module_unload(void);
extern int	token_pins_load(const char *path, char *err);
extern void token_pins_clear(void);

extern TokenSessions *token_sessions_new(void);
extern void token_sessions_free(TokenSessions *ts);

extern int	token_list(TokenInfo **out, size_t *count, char *err);
extern int	token_keygen(TokenSessions *ts, const char *token, uint8_t alg,
						 const char *label, KeyInfo *out, char *err);
extern int	token_keyinfo(TokenSessions *ts, const char *token,
						  const uint8_t *key_id, size_t key_id_len,
						  bool want_spki, KeyInfo *out, char *err);
extern int	token_sign(TokenSessions *ts, const char *token,
					   const uint8_t *key_id, size_t key_id_len, uint8_t mech,
					   const uint8_t *input, size_t input_len,
					   uint8_t *sig, size_t *sig_len, char *err);

#endif							/* SEALPG_TOKEN_H */
