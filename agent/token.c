/*-------------------------------------------------------------------------
 *
 * token.c
 *	  PKCS#11 access for sealpg-agent.
 *
 * The module is loaded once with dlopen() and initialised with
 * CKF_OS_LOCKING_OK, so that it may be called from several threads.  Each
 * client connection owns a TokenSessions cache: at most one session per
 * token, opened lazily on first use and reused for the connection's life.
 * Sessions are never shared between threads, so connections that use
 * different tokens (or even the same token) never wait on each other here.
 *
 * Login state is per token in PKCS#11, not per session: the first session
 * logs in and later ones see CKR_USER_ALREADY_LOGGED_IN, which is fine.
 * A token whose PIN was refused once is not tried again until the agent is
 * restarted, so that a wrong PIN file cannot lock the token by repetition.
 *
 * Tokens are found by label (SoftHSM2 slot ids are random).  When a cached
 * session turns out to be dead (token removed, session closed, login lost)
 * it is dropped and the operation is tried once more from the label.
 *
 * SIGN also remembers, per connection, the private-key handles it found
 * (keyed by token label and CKA_ID, tied to the session they were found
 * on): looking a key up again costs SoftHSM2's file store a re-read of the
 * token's object files, ~1 ms per request once a token holds a few hundred
 * keys.  A session that is dropped or replaced takes its keys with it; a
 * handle the token no longer knows is forgotten and looked up once more.
 * KEYGEN and KEYATTRS/PUBKEY always read the token afresh.
 *
 *-------------------------------------------------------------------------
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "log.h"
#include "token.h"

#define MAX_CACHED_SESSIONS	8
#define MAX_CACHED_KEYS		64
#define MAX_PINS			64

/* DER of the named-curve OIDs used in CKA_EC_PARAMS. */
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};
static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2B, 0x65, 0x70};
static const uint8_t name_ed25519[] = {0x13, 0x0C, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};

typedef struct CachedSession
{
	bool		used;
	char		label[SEALPG_MAX_LABEL + 1];
	CK_SESSION_HANDLE handle;
	unsigned long last_use;
} CachedSession;

/* A private key found on one of the connection's sessions. */
typedef struct CachedKey
{
	bool		used;
	char		label[SEALPG_MAX_LABEL + 1];
	CK_SESSION_HANDLE session;
	uint8_t		id[SEALPG_MAX_KEY_ID];
	size_t		id_len;
	CK_OBJECT_HANDLE obj;
	uint8_t		alg;
	unsigned long last_use;
} CachedKey;

/*
 * Everything one connection keeps between requests.  A connection is served
 * by one thread only and this struct is never shared, so neither the
 * sessions nor the key handles below need a lock.
 */
struct TokenSessions
{
	CachedSession slots[MAX_CACHED_SESSIONS];
	CachedKey	keys[MAX_CACHED_KEYS];
	unsigned long clock;
};

typedef struct PinEntry
{
	char	   *label;
	char	   *pin;
} PinEntry;

static void *module_handle = NULL;
static CK_FUNCTION_LIST_PTR p11 = NULL;

static PinEntry pins[MAX_PINS];
static int	npins = 0;

/* Labels whose PIN the token refused; guarded by refused_lock. */
static pthread_mutex_t refused_lock = PTHREAD_MUTEX_INITIALIZER;
static char refused[MAX_PINS][SEALPG_MAX_LABEL + 1];
static int	nrefused = 0;

/* Format an error message into err and return code. */
static int
fail(char *err, int code, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err, TOKEN_ERRLEN, fmt, ap);
	va_end(ap);
	return code;
}

/* Symbolic name of a CK_RV, for messages. */
static const char *
ckr_name(CK_RV rv)
{
	switch (rv)
	{
		case CKR_OK:
			return "CKR_OK";
		case CKR_HOST_MEMORY:
			return "CKR_HOST_MEMORY";
		case CKR_SLOT_ID_INVALID:
			return "CKR_SLOT_ID_INVALID";
		case CKR_GENERAL_ERROR:
			return "CKR_GENERAL_ERROR";
		case CKR_FUNCTION_FAILED:
			return "CKR_FUNCTION_FAILED";
		case CKR_ARGUMENTS_BAD:
			return "CKR_ARGUMENTS_BAD";
		case CKR_ATTRIBUTE_SENSITIVE:
			return "CKR_ATTRIBUTE_SENSITIVE";
		case CKR_ATTRIBUTE_TYPE_INVALID:
			return "CKR_ATTRIBUTE_TYPE_INVALID";
		case CKR_ATTRIBUTE_VALUE_INVALID:
			return "CKR_ATTRIBUTE_VALUE_INVALID";
		case CKR_DATA_LEN_RANGE:
			return "CKR_DATA_LEN_RANGE";
		case CKR_DEVICE_ERROR:
			return "CKR_DEVICE_ERROR";
		case CKR_DEVICE_REMOVED:
			return "CKR_DEVICE_REMOVED";
		case CKR_KEY_HANDLE_INVALID:
			return "CKR_KEY_HANDLE_INVALID";
		case CKR_KEY_TYPE_INCONSISTENT:
			return "CKR_KEY_TYPE_INCONSISTENT";
		case CKR_OBJECT_HANDLE_INVALID:
			return "CKR_OBJECT_HANDLE_INVALID";
		case CKR_MECHANISM_INVALID:
			return "CKR_MECHANISM_INVALID";
		case CKR_MECHANISM_PARAM_INVALID:
			return "CKR_MECHANISM_PARAM_INVALID";
		case CKR_OPERATION_ACTIVE:
			return "CKR_OPERATION_ACTIVE";
		case CKR_PIN_INCORRECT:
			return "CKR_PIN_INCORRECT";
		case CKR_PIN_LOCKED:
			return "CKR_PIN_LOCKED";
		case CKR_SESSION_CLOSED:
			return "CKR_SESSION_CLOSED";
		case CKR_SESSION_HANDLE_INVALID:
			return "CKR_SESSION_HANDLE_INVALID";
		case CKR_TEMPLATE_INCOMPLETE:
			return "CKR_TEMPLATE_INCOMPLETE";
		case CKR_TEMPLATE_INCONSISTENT:
			return "CKR_TEMPLATE_INCONSISTENT";
		case CKR_TOKEN_NOT_PRESENT:
			return "CKR_TOKEN_NOT_PRESENT";
		case CKR_TOKEN_NOT_RECOGNIZED:
			return "CKR_TOKEN_NOT_RECOGNIZED";
		case CKR_TOKEN_WRITE_PROTECTED:
			return "CKR_TOKEN_WRITE_PROTECTED";
		case CKR_USER_NOT_LOGGED_IN:
			return "CKR_USER_NOT_LOGGED_IN";
		case CKR_BUFFER_TOO_SMALL:
			return "CKR_BUFFER_TOO_SMALL";
		case CKR_CRYPTOKI_NOT_INITIALIZED:
			return "CKR_CRYPTOKI_NOT_INITIALIZED";
		case CKR_CRYPTOKI_ALREADY_INITIALIZED:
			return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
	}
	return "CKR_(other)";
}

/* Report a PKCS#11 failure of function fn. */
static int
fail_ckr(char *err, const char *fn, CK_RV rv)
{
	return fail(err, SEALPG_ERR_PKCS11, "%s failed: %s (0x%08lx)",
				fn, ckr_name(rv), (unsigned long) rv);
}

/* Copy a blank-padded PKCS#11 text field into a NUL-terminated string. */
static void
copy_padded(char *dst, const unsigned char *src, size_t srclen)
{
	size_t		n = srclen;

	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
		n--;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Load the PKCS#11 module and initialise it for multi-threaded use. */
int
token_module_load(const char *path, char *err)
{
	CK_C_GetFunctionList get_list;
	CK_C_INITIALIZE_ARGS args;
	CK_RV		rv;

	module_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (module_handle == NULL)
		return fail(err, SEALPG_ERR_PKCS11, "cannot load PKCS#11 module \"%s\": %s",
					path, dlerror());
	get_list = (CK_C_GetFunctionList) dlsym(module_handle, "C_GetFunctionList");
	if (get_list == NULL)
	{
		dlclose(module_handle);
		module_handle = NULL;
		return fail(err, SEALPG_ERR_PKCS11, "\"%s\" has no C_GetFunctionList", path);
	}
	rv = get_list(&p11);
	if (rv != CKR_OK || p11 == NULL)
	{
		dlclose(module_handle);
		module_handle = NULL;
		p11 = NULL;
		return fail_ckr(err, "C_GetFunctionList", rv);
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = p11->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
	{
		dlclose(module_handle);
		module_handle = NULL;
		p11 = NULL;
		return fail_ckr(err, "C_Initialize", rv);
	}
	log_info("PKCS#11 module %s loaded (Cryptoki %d.%d)", path,
			 p11->version.major, p11->version.minor);
	return 0;
}

/*
 * Finalize the module (all sessions must be closed first).  The library
 * stays mapped: the process is about to exit, and leak checkers can then
 * still name the module in the stacks of allocations it never freed.
 */
void
token_module_unload(void)
{
	if (p11 != NULL)
	{
		CK_RV		rv = p11->C_Finalize(NULL);

		if (rv != CKR_OK)
			log_warning("C_Finalize failed: %s", ckr_name(rv));
		else
			log_info("PKCS#11 module finalized");
		p11 = NULL;
	}
}

/* Wipe and free the PIN table. */
void
token_pins_clear(void)
{
	for (int i = 0; i < npins; i++)
	{
		explicit_bzero(pins[i].pin, strlen(pins[i].pin));
		free(pins[i].pin);
		free(pins[i].label);
	}
	npins = 0;
}

/*
 * Read "LABEL:PIN" lines.  The file must belong to the agent's user and be
 * unreadable by group and others; blank lines and lines starting with '#'
 * are skipped.  The label ends at the first ':'.
 */
int
token_pins_load(const char *path, char *err)
{
	FILE	   *f;
	struct stat st;
	char		line[512];
	int			lineno = 0;
	int			rc = 0;

	f = fopen(path, "r");
	if (f == NULL)
		return fail(err, SEALPG_ERR_INTERNAL, "cannot open PIN file \"%s\": %s",
					path, strerror(errno));
	if (fstat(fileno(f), &st) != 0)
	{
		fclose(f);
		return fail(err, SEALPG_ERR_INTERNAL, "cannot stat PIN file \"%s\": %s",
					path, strerror(errno));
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0 || st.st_uid != geteuid())
	{
		fclose(f);
		return fail(err, SEALPG_ERR_INTERNAL,
					"PIN file \"%s\" must be owned by uid %d and not accessible "
					"to group or others (chmod 0600)", path, (int) geteuid());
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *colon;
		size_t		n = strlen(line);

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (colon == NULL || colon == line || colon - line > SEALPG_MAX_LABEL)
		{
			rc = fail(err, SEALPG_ERR_INTERNAL,
					  "PIN file \"%s\" line %d: expected TOKENLABEL:PIN", path, lineno);
			break;
		}
		if (npins >= MAX_PINS)
		{
			rc = fail(err, SEALPG_ERR_INTERNAL, "PIN file \"%s\": more than %d tokens",
					  path, MAX_PINS);
			break;
		}
		*colon = '\0';
		pins[npins].label = strdup(line);
		pins[npins].pin = strdup(colon + 1);
		if (pins[npins].label == NULL || pins[npins].pin == NULL)
		{
			free(pins[npins].label);
			free(pins[npins].pin);
			rc = fail(err, SEALPG_ERR_INTERNAL, "out of memory");
			break;
		}
		npins++;
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (rc != 0)
		token_pins_clear();
	else
		log_info("PIN file %s: %d token(s)", path, npins);
	return rc;
}

/* The PIN for a token label, or NULL. */
static const char *
pin_for(const char *label)
{
	for (int i = 0; i < npins; i++)
		if (strcmp(pins[i].label, label) == 0)
			return pins[i].pin;
	return NULL;
}

/* Has the token refused its PIN before? */
static bool
pin_refused(const char *label)
{
	bool		found = false;

	pthread_mutex_lock(&refused_lock);
	for (int i = 0; i < nrefused; i++)
		if (strcmp(refused[i], label) == 0)
			found = true;
	pthread_mutex_unlock(&refused_lock);
	return found;
}

/* Remember that the token refused its PIN. */
static void
mark_pin_refused(const char *label)
{
	pthread_mutex_lock(&refused_lock);
	if (nrefused < MAX_PINS)
		snprintf(refused[nrefused++], sizeof(refused[0]), "%s", label);
	pthread_mutex_unlock(&refused_lock);
}

/* Make an empty session cache for one connection. */
TokenSessions *
token_sessions_new(void)
{
	return calloc(1, sizeof(TokenSessions));
}

/* Close every session of a connection and free the cache. */
void
token_sessions_free(TokenSessions *ts)
{
	if (ts == NULL)
		return;
	for (int i = 0; i < MAX_CACHED_SESSIONS; i++)
		if (ts->slots[i].used && p11 != NULL)
			p11->C_CloseSession(ts->slots[i].handle);
	free(ts);
}

/* Forget every key handle found on a token's session. */
static void
forget_keys(TokenSessions *ts, const char *label)
{
	for (int i = 0; i < MAX_CACHED_KEYS; i++)
		if (ts->keys[i].used && strcmp(ts->keys[i].label, label) == 0)
			ts->keys[i].used = false;
}

/* Forget (and close) the cached session of a token, and its keys. */
static void
drop_session(TokenSessions *ts, const char *label)
{
	for (int i = 0; i < MAX_CACHED_SESSIONS; i++)
	{
		if (ts->slots[i].used && strcmp(ts->slots[i].label, label) == 0)
		{
			p11->C_CloseSession(ts->slots[i].handle);
			ts->slots[i].used = false;
		}
	}
	forget_keys(ts, label);
}

/* The cached handle of a key on this session, or NULL. */
static CachedKey *
lookup_key(TokenSessions *ts, const char *label, CK_SESSION_HANDLE h,
		   const uint8_t *id, size_t id_len)
{
	for (int i = 0; i < MAX_CACHED_KEYS; i++)
	{
		CachedKey  *k = &ts->keys[i];

		if (k->used && k->session == h && k->id_len == id_len &&
			memcmp(k->id, id, id_len) == 0 && strcmp(k->label, label) == 0)
		{
			k->last_use = ++ts->clock;
			return k;
		}
	}
	return NULL;
}

/* Remember a key handle, replacing the least recently used entry. */
static void
remember_key(TokenSessions *ts, const char *label, CK_SESSION_HANDLE h,
			 const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE obj, uint8_t alg)
{
	CachedKey  *victim = &ts->keys[0];

	if (id_len > sizeof(victim->id))
		return;
	for (int i = 0; i < MAX_CACHED_KEYS; i++)
	{
		CachedKey  *k = &ts->keys[i];

		if (!k->used)
		{
			victim = k;
			break;
		}
		if (k->last_use < victim->last_use)
			victim = k;
	}
	victim->used = true;
	snprintf(victim->label, sizeof(victim->label), "%s", label);
	victim->session = h;
	memcpy(victim->id, id, id_len);
	victim->id_len = id_len;
	victim->obj = obj;
	victim->alg = alg;
	victim->last_use = ++ts->clock;
}

/* Find the slot holding the token with this label. */
static int
find_slot(const char *label, CK_SLOT_ID *slot, CK_FLAGS *token_flags, char *err)
{
	CK_SLOT_ID *list = NULL;
	CK_ULONG	n = 0;
	CK_RV		rv;

	for (;;)
	{
		rv = p11->C_GetSlotList(CK_TRUE, NULL, &n);
		if (rv != CKR_OK)
			return fail_ckr(err, "C_GetSlotList", rv);
		if (n == 0)
			break;
		list = calloc(n, sizeof(CK_SLOT_ID));
		if (list == NULL)
			return fail(err, SEALPG_ERR_INTERNAL, "out of memory");
		rv = p11->C_GetSlotList(CK_TRUE, list, &n);
		if (rv == CKR_BUFFER_TOO_SMALL)
		{
			free(list);
			list = NULL;
			continue;
		}
		if (rv != CKR_OK)
		{
			free(list);
			return fail_ckr(err, "C_GetSlotList", rv);
		}
		break;
	}
	for (CK_ULONG i = 0; i < n; i++)
	{
		CK_TOKEN_INFO info;
		char		name[SEALPG_MAX_LABEL + 1];

		if (p11->C_GetTokenInfo(list[i], &info) != CKR_OK)
			continue;
		copy_padded(name, info.label, sizeof(info.label));
		if (strcmp(name, label) == 0)
		{
			*slot = list[i];
			*token_flags = info.flags;
			free(list);
			return 0;
		}
	}
	free(list);
	return fail(err, SEALPG_ERR_NO_TOKEN, "no token labelled \"%s\" is present", label);
}

/* The connection's session on a token, opened and logged in if needed. */
static int
get_session(TokenSessions *ts, const char *label, CK_SESSION_HANDLE *out, char *err)
{
	CachedSession *victim = NULL;
	CK_SLOT_ID	slot;
	CK_FLAGS	flags;
	CK_SESSION_HANDLE h;
	CK_RV		rv;
	int			rc;

	ts->clock++;
	for (int i = 0; i < MAX_CACHED_SESSIONS; i++)
	{
		CachedSession *c = &ts->slots[i];

		if (c->used && strcmp(c->label, label) == 0)
		{
			c->last_use = ts->clock;
			*out = c->handle;
			return 0;
		}
		if (!c->used)
		{
			if (victim == NULL || victim->used)
				victim = c;
		}
		else if (victim == NULL || (victim->used && c->last_use < victim->last_use))
			victim = c;
	}

	rc = find_slot(label, &slot, &flags, err);
	if (rc != 0)
		return rc;
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
	if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED || rv == CKR_SLOT_ID_INVALID)
		return fail(err, SEALPG_ERR_NO_TOKEN, "token \"%s\" went away: %s", label, ckr_name(rv));
	if (rv != CKR_OK)
		return fail_ckr(err, "C_OpenSession", rv);

	if (flags & CKF_LOGIN_REQUIRED)
	{
		const char *pin = pin_for(label);

		if (pin == NULL)
		{
			p11->C_CloseSession(h);
			return fail(err, SEALPG_ERR_NOT_LOGGED_IN,
						"no PIN for token \"%s\" in the agent's PIN file", label);
		}
		if (pin_refused(label))
		{
			p11->C_CloseSession(h);
			return fail(err, SEALPG_ERR_NOT_LOGGED_IN,
						"the PIN for token \"%s\" was refused earlier; fix the PIN file and restart the agent",
						label);
		}
		rv = p11->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR) pin, strlen(pin));
		if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_INVALID ||
			rv == CKR_PIN_LEN_RANGE)
		{
			mark_pin_refused(label);
			p11->C_CloseSession(h);
			log_error("token \"%s\" refused the PIN from the PIN file: %s", label, ckr_name(rv));
			return fail(err, SEALPG_ERR_NOT_LOGGED_IN, "token \"%s\" refused its PIN: %s",
						label, ckr_name(rv));
		}
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		{
			p11->C_CloseSession(h);
			return fail_ckr(err, "C_Login", rv);
		}
	}

	if (victim->used)
	{
		p11->C_CloseSession(victim->handle);
		forget_keys(ts, victim->label);
	}
	victim->used = true;
	snprintf(victim->label, sizeof(victim->label), "%s", label);
	victim->handle = h;
	victim->last_use = ts->clock;
	*out = h;
	log_debug("opened a session on token \"%s\"", label);
	return 0;
}

/* Is this a failure after which the cached session should be reopened? */
static bool
session_is_stale(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
		rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
		rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_DEVICE_ERROR;
}

/* An operation run on a session; sets *rv to the failing CK_RV if any. */
typedef int (*SessionOp) (CK_SESSION_HANDLE h, void *arg, CK_RV *rv, char *err);

/* Run op on the token's session, reopening it once if it was stale. */
static int
run_on_token(TokenSessions *ts, const char *label, SessionOp op, void *arg, char *err)
{
	int			rc = 0;

	if (p11 == NULL)
		return fail(err, SEALPG_ERR_INTERNAL, "no PKCS#11 module loaded");
	for (int attempt = 0; attempt < 2; attempt++)
	{
		CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
		CK_RV		rv = CKR_OK;

		rc = get_session(ts, label, &h, err);
		if (rc != 0)
			return rc;
		rc = op(h, arg, &rv, err);
		if (rc == SEALPG_ERR_PKCS11 && session_is_stale(rv))
		{
			log_info("session on token \"%s\" is stale (%s); reopening", label, ckr_name(rv));
			drop_session(ts, label);
			continue;
		}
		return rc;
	}
	return rc;
}

/* Find one object of a class with a given CKA_ID. */
static int
find_key(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const uint8_t *id, size_t id_len,
		 CK_OBJECT_HANDLE *obj, CK_RV *rvp, char *err)
{
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_ID, (void *) id, id_len},
	};
	CK_ULONG	found = 0;
	CK_RV		rv;

	rv = p11->C_FindObjectsInit(h, tmpl, 2);
	if (rv != CKR_OK)
	{
		*rvp = rv;
		return fail_ckr(err, "C_FindObjectsInit", rv);
	}
	rv = p11->C_FindObjects(h, obj, 1, &found);
	p11->C_FindObjectsFinal(h);
	if (rv != CKR_OK)
	{
		*rvp = rv;
		return fail_ckr(err, "C_FindObjects", rv);
	}
	if (found == 0)
		return fail(err, SEALPG_ERR_NO_KEY, "no %s key with that id on the token",
					cls == CKO_PRIVATE_KEY ? "private" : "public");
	return 0;
}

/* Read the boolean attributes of a private key into SEALPG_ATTR_* bits. */
static int
read_attrs(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, uint8_t *bits, CK_RV *rvp, char *err)
{
	CK_BBOOL	sens = CK_FALSE,
				extr = CK_TRUE,
				never = CK_FALSE,
				always = CK_FALSE,
				local = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		{CKA_SENSITIVE, &sens, sizeof(sens)},
		{CKA_EXTRACTABLE, &extr, sizeof(extr)},
		{CKA_NEVER_EXTRACTABLE, &never, sizeof(never)},
		{CKA_ALWAYS_SENSITIVE, &always, sizeof(always)},
		{CKA_LOCAL, &local, sizeof(local)},
	};
	CK_RV		rv;

	rv = p11->C_GetAttributeValue(h, priv, a, 5);
	if (rv != CKR_OK)
	{
		*rvp = rv;
		return fail_ckr(err, "C_GetAttributeValue(private key flags)", rv);
	}
	*bits = (sens ? SEALPG_ATTR_SENSITIVE : 0) |
		(extr ? SEALPG_ATTR_EXTRACTABLE : 0) |
		(never ? SEALPG_ATTR_NEVER_EXTRACTABLE : 0) |
		(always ? SEALPG_ATTR_ALWAYS_SENSITIVE : 0) |
		(local ? SEALPG_ATTR_LOCAL : 0);
	return 0;
}

/* Our algorithm number from a key type and its CKA_EC_PARAMS, or 0. */
static uint8_t
alg_from_params(CK_KEY_TYPE kt, const uint8_t *params, size_t len)
{
	if (kt == CKK_EC && len == sizeof(oid_p256) && memcmp(params, oid_p256, len) == 0)
		return SEALPG_ALG_EC_P256;
	if (kt == CKK_EC_EDWARDS &&
		((len == sizeof(oid_ed25519) && memcmp(params, oid_ed25519, len) == 0) ||
		 (len == sizeof(name_ed25519) && memcmp(params, name_ed25519, len) == 0)))
		return SEALPG_ALG_ED25519;
	return 0;
}

/*
 * Extract the raw public point from CKA_EC_POINT.  Modules return it
 * DER-wrapped in an OCTET STRING (as the standard says) or raw; accept
 * both, knowing the expected raw size of each algorithm.
 */
static bool
unwrap_point(const uint8_t *v, size_t len, size_t want, const uint8_t **pt)
{
	if (len == want)
	{
		*pt = v;
		return true;
	}
	if (want < 128 && len == want + 2 && v[0] == 0x04 && v[1] == want)
	{
		*pt = v + 2;
		return true;
	}
	return false;
}

/* Build the DER SubjectPublicKeyInfo of a public key object. */
static int
build_spki(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub, KeyInfo *out, CK_RV *rvp, char *err)
{
	uint8_t		params[64];
	uint8_t		point[160];
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE a[] = {
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_EC_PARAMS, params, sizeof(params)},
		{CKA_EC_POINT, point, sizeof(point)},
	};
	const uint8_t *raw;
	EVP_PKEY   *pkey = NULL;
	unsigned char *p;
	int			len;
	CK_RV		rv;

	rv = p11->C_GetAttributeValue(h, pub, a, 3);
	if (rv != CKR_OK)
	{
		*rvp = rv;
		return fail_ckr(err, "C_GetAttributeValue(public key)", rv);
	}
	out->alg = alg_from_params(kt, params, a[1].ulValueLen);
	if (out->alg == SEALPG_ALG_EC_P256)
	{
		OSSL_PARAM op[3];
		EVP_PKEY_CTX *ctx;

		if (!unwrap_point(point, a[2].ulValueLen, 65, &raw))
			return fail(err, SEALPG_ERR_PKCS11, "token returned a malformed P-256 point");
		op[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
												 (char *) "prime256v1", 0);
		op[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
												  (void *) raw, 65);
		op[2] = OSSL_PARAM_construct_end();
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
			EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, op) <= 0)
			pkey = NULL;
		EVP_PKEY_CTX_free(ctx);
	}
	else if (out->alg == SEALPG_ALG_ED25519)
	{
		if (!unwrap_point(point, a[2].ulValueLen, 32, &raw))
			return fail(err, SEALPG_ERR_PKCS11, "token returned a malformed Ed25519 key");
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	}
	else
		return fail(err, SEALPG_ERR_BAD_ARGS,
					"the key is neither ECDSA P-256 nor Ed25519");
	if (pkey == NULL)
		return fail(err, SEALPG_ERR_PKCS11, "the token's public key does not decode");
	len = i2d_PUBKEY(pkey, NULL);
	if (len <= 0 || len > TOKEN_SPKI_MAX)
	{
		EVP_PKEY_free(pkey);
		return fail(err, SEALPG_ERR_INTERNAL, "cannot encode the public key");
	}
	p = out->spki;
	i2d_PUBKEY(pkey, &p);
	out->spki_len = (size_t) len;
	EVP_PKEY_free(pkey);
	return 0;
}

/* The algorithm of a private key (from its type and its public twin). */
static int
private_key_alg(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, uint8_t *alg,
				CK_RV *rvp, char *err)
{
	uint8_t		params[64];
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE a[] = {
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_EC_PARAMS, params, sizeof(params)},
	};
	CK_RV		rv;

	rv = p11->C_GetAttributeValue(h, priv, a, 2);
	if (rv != CKR_OK)
	{
		*rvp = rv;
		return fail_ckr(err, "C_GetAttributeValue(private key type)", rv);
	}
	*alg = alg_from_params(kt, params, a[1].ulValueLen);
	if (*alg == 0)
		return fail(err, SEALPG_ERR_BAD_ARGS, "the key is neither ECDSA P-256 nor Ed25519");
	return 0;
}

/* Enumerate every slot, with token details where a token is present. */
int
token_list(TokenInfo **out, size_t *count, char *err)
{
	CK_SLOT_ID *list = NULL;
	CK_ULONG	n = 0;
	TokenInfo  *infos;
	CK_RV		rv;

	*out = NULL;
	*count = 0;
	if (p11 == NULL)
		return fail(err, SEALPG_ERR_INTERNAL, "no PKCS#11 module loaded");
	for (;;)
	{
		rv = p11->C_GetSlotList(CK_FALSE, NULL, &n);
		if (rv != CKR_OK)
			return fail_ckr(err, "C_GetSlotList", rv);
		if (n == 0)
			return 0;
		list = calloc(n, sizeof(CK_SLOT_ID));
		if (list == NULL)
			return fail(err, SEALPG_ERR_INTERNAL, "out of memory");
		rv = p11->C_GetSlotList(CK_FALSE, list, &n);
		if (rv == CKR_BUFFER_TOO_SMALL)
		{
			free(list);
			continue;
		}
		if (rv != CKR_OK)
		{
			free(list);
			return fail_ckr(err, "C_GetSlotList", rv);
		}
		break;
	}
	infos = calloc(n, sizeof(TokenInfo));
	if (infos == NULL)
	{
		free(list);
		return fail(err, SEALPG_ERR_INTERNAL, "out of memory");
	}
	for (CK_ULONG i = 0; i < n; i++)
	{
		CK_SLOT_INFO si;
		CK_TOKEN_INFO ti;
		TokenInfo  *t = &infos[*count];

		if (p11->C_GetSlotInfo(list[i], &si) != CKR_OK)
			continue;
		if ((si.flags & CKF_TOKEN_PRESENT) &&
			p11->C_GetTokenInfo(list[i], &ti) == CKR_OK)
		{
			copy_padded(t->label, ti.label, sizeof(ti.label));
			copy_padded(t->serial, ti.serialNumber, sizeof(ti.serialNumber));
			copy_padded(t->manufacturer, ti.manufacturerID, sizeof(ti.manufacturerID));
			copy_padded(t->model, ti.model, sizeof(ti.model));
			t->flags = SEALPG_TOKEN_PRESENT |
				((ti.flags & CKF_TOKEN_INITIALIZED) ? SEALPG_TOKEN_INITIALIZED : 0) |
				((ti.flags & CKF_LOGIN_REQUIRED) ? SEALPG_TOKEN_LOGIN_REQUIRED : 0);
		}
		else
			copy_padded(t->manufacturer, si.manufacturerID, sizeof(si.manufacturerID));
		(*count)++;
	}
	free(list);
	*out = infos;
	return 0;
}

typedef struct KeygenArgs
{
	uint8_t		alg;
	const char *label;
	KeyInfo    *out;
} KeygenArgs;

/* Generate a key pair on the token (runs on a session). */
static int
keygen_op(CK_SESSION_HANDLE h, void *arg, CK_RV *rvp, char *err)
{
	KeygenArgs *ka = arg;
	CK_BBOOL	yes = CK_TRUE,
				no = CK_FALSE;
	CK_KEY_TYPE kt = ka->alg == SEALPG_ALG_EC_P256 ? CKK_EC : CKK_EC_EDWARDS;
	CK_MECHANISM mech = {
		ka->alg == SEALPG_ALG_EC_P256 ? CKM_EC_KEY_PAIR_GEN : CKM_EC_EDWARDS_KEY_PAIR_GEN,
		NULL, 0
	};
	const uint8_t *params = ka->alg == SEALPG_ALG_EC_P256 ? oid_p256 : oid_ed25519;
	size_t		params_len = ka->alg == SEALPG_ALG_EC_P256 ? sizeof(oid_p256) : sizeof(oid_ed25519);
	uint8_t		id[SEALPG_KEY_ID_LEN];
	size_t		label_len = strlen(ka->label);
	CK_ATTRIBUTE pub_tmpl[] = {
		{CKA_TOKEN, &yes, sizeof(yes)},
		{CKA_PRIVATE, &no, sizeof(no)},
		{CKA_VERIFY, &yes, sizeof(yes)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_EC_PARAMS, (void *) params, params_len},
		{CKA_ID, id, sizeof(id)},
		{CKA_LABEL, (void *) ka->label, label_len},
	};
	CK_ATTRIBUTE priv_tmpl[] = {
		{CKA_TOKEN, &yes, sizeof(yes)},
		{CKA_PRIVATE, &yes, sizeof(yes)},
		{CKA_SENSITIVE, &yes, sizeof(yes)},
		{CKA_EXTRACTABLE, &no, sizeof(no)},
		{CKA_SIGN, &yes, sizeof(yes)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_ID, id, sizeof(id)},
		{CKA_LABEL, (void *) ka->label, label_len},
	};
	CK_OBJECT_HANDLE pub,
				priv;
	CK_RV		rv;
	int			rc;

	if (RAND_bytes(id, sizeof(id)) != 1)
		return fail(err, SEALPG_ERR_INTERNAL, "cannot draw a random key id");
	rv = p11->C_GenerateKeyPair(h, &mech, pub_tmpl, 7, priv_tmpl, 8, &pub, &priv);
	if (rv != CKR_OK)
	{
		*rvp = rv;
		return fail_ckr(err, "C_GenerateKeyPair", rv);
	}
	memcpy(ka->out->key_id, id, sizeof(id));
	ka->out->key_id_len = sizeof(id);
	rc = read_attrs(h, priv, &ka->out->attrs, rvp, err);
	if (rc == 0)
		rc = build_spki(h, pub, ka->out, rvp, err);
	return rc;
}

/* Generate a key pair on a token: CKA_TOKEN, sensitive, not extractable. */
int
token_keygen(TokenSessions *ts, const char *token, uint8_t alg, const char *label,
			 KeyInfo *out, char *err)
{
	KeygenArgs	ka = {alg, label, out};

	memset(out, 0, sizeof(*out));
	return run_on_token(ts, token, keygen_op, &ka, err);
}

typedef struct KeyRefArgs
{
	const uint8_t *id;
	size_t		id_len;
	bool		want_spki;
	KeyInfo    *out;
} KeyRefArgs;

/* Describe an existing key (runs on a session). */
static int
keyinfo_op(CK_SESSION_HANDLE h, void *arg, CK_RV *rvp, char *err)
{
	KeyRefArgs *ka = arg;
	CK_OBJECT_HANDLE priv,
				pub;
	int			rc;

	rc = find_key(h, CKO_PRIVATE_KEY, ka->id, ka->id_len, &priv, rvp, err);
	if (rc == 0)
		rc = read_attrs(h, priv, &ka->out->attrs, rvp, err);
	if (rc == 0)
		rc = private_key_alg(h, priv, &ka->out->alg, rvp, err);
	if (rc == 0 && ka->want_spki)
	{
		rc = find_key(h, CKO_PUBLIC_KEY, ka->id, ka->id_len, &pub, rvp, err);
		if (rc == 0)
			rc = build_spki(h, pub, ka->out, rvp, err);
	}
	return rc;
}

/* Report a key's algorithm, attributes and (optionally) its SPKI. */
int
token_keyinfo(TokenSessions *ts, const char *token, const uint8_t *key_id,
			  size_t key_id_len, bool want_spki, KeyInfo *out, char *err)
{
	KeyRefArgs	ka = {key_id, key_id_len, want_spki, out};

	memset(out, 0, sizeof(*out));
	memcpy(out->key_id, key_id, key_id_len);
	out->key_id_len = key_id_len;
	return run_on_token(ts, token, keyinfo_op, &ka, err);
}

typedef struct SignArgs
{
	TokenSessions *ts;
	const char *label;
	const uint8_t *id;
	size_t		id_len;
	uint8_t		mech;
	const uint8_t *input;
	size_t		input_len;
	uint8_t    *sig;
	size_t	   *sig_len;
} SignArgs;

/* Did C_SignInit fail because the key handle no longer names a key? */
static bool
key_handle_is_stale(CK_RV rv)
{
	return rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID;
}

/*
 * Sign with a private key (runs on a session).  The key's handle and
 * algorithm come from the connection's cache when this session found the
 * key before.  If C_SignInit says a cached handle is gone, the entry is
 * dropped and the key looked up once more (it may have been deleted: then
 * NO_KEY).  If it says the session or the token is gone, the entry is
 * dropped and the failure returned, so that run_on_token reopens the
 * session (forgetting all its keys) and looks the key up on the new one.
 */
static int
sign_op(CK_SESSION_HANDLE h, void *arg, CK_RV *rvp, char *err)
{
	SignArgs   *sa = arg;
	CK_MECHANISM mech = {sa->mech == SEALPG_MECH_ECDSA ? CKM_ECDSA : CKM_EDDSA, NULL, 0};
	CK_ULONG	len = SEALPG_MAX_SIGNATURE;
	CK_RV		rv;

	for (int attempt = 0; attempt < 2; attempt++)
	{
		CachedKey  *ck = lookup_key(sa->ts, sa->label, h, sa->id, sa->id_len);
		CK_OBJECT_HANDLE priv;
		uint8_t		alg;
		int			rc;

		if (ck != NULL)
		{
			priv = ck->obj;
			alg = ck->alg;
		}
		else
		{
			rc = find_key(h, CKO_PRIVATE_KEY, sa->id, sa->id_len, &priv, rvp, err);
			if (rc != 0)
				return rc;
			rc = private_key_alg(h, priv, &alg, rvp, err);
			if (rc != 0)
				return rc;
			remember_key(sa->ts, sa->label, h, sa->id, sa->id_len, priv, alg);
		}
		if ((alg == SEALPG_ALG_EC_P256) != (sa->mech == SEALPG_MECH_ECDSA))
			return fail(err, SEALPG_ERR_BAD_ARGS,
						"mechanism %s does not fit this key's algorithm",
						sa->mech == SEALPG_MECH_ECDSA ? "ECDSA" : "EDDSA");
		rv = p11->C_SignInit(h, &mech, priv);
		if (rv == CKR_OK)
			break;
		*rvp = rv;
		if (ck != NULL && (key_handle_is_stale(rv) || session_is_stale(rv)))
		{
			ck->used = false;
			if (key_handle_is_stale(rv))
			{
				log_info("cached key handle on token \"%s\" is stale (%s); looking the key up again",
						 sa->label, ckr_name(rv));
				continue;
			}
		}
		return fail_ckr(err, "C_SignInit", rv);
	}
	if (rv != CKR_OK)
		return fail_ckr(err, "C_SignInit", rv);
	rv = p11->C_Sign(h, (CK_BYTE_PTR) sa->input, sa->input_len, sa->sig, &len);
	if (rv != CKR_OK)
	{
		*rvp = rv;
		return fail_ckr(err, "C_Sign", rv);
	}
	*sa->sig_len = len;
	return 0;
}

/* Sign input with the key; sig must hold SEALPG_MAX_SIGNATURE bytes. */
int
token_sign(TokenSessions *ts, const char *token, const uint8_t *key_id,
		   size_t key_id_len, uint8_t mech, const uint8_t *input, size_t input_len,
		   uint8_t *sig, size_t *sig_len, char *err)
{
	SignArgs	sa = {ts, token, key_id, key_id_len, mech, input, input_len, sig, sig_len};

	return run_on_token(ts, token, sign_op, &sa, err);
}
