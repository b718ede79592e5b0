/*-------------------------------------------------------------------------
 *
 * p11bench.c
 *	  The baseline of the signing benchmark: one thread signing a digest
 *	  with ECDSA P-256 directly through a PKCS#11 module, C_SignInit plus
 *	  C_Sign per signature, as fast as the token allows.
 *
 *	  p11bench MODULE TOKEN_LABEL PIN KEY_ID_HEX COUNT
 *
 * Prints "signatures=N seconds=S per_second=R".
 *
 *-------------------------------------------------------------------------
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

/* Die with a message and the PKCS#11 return value. */
static void
check(CK_RV rv, const char *what)
{
	if (rv != CKR_OK)
	{
		fprintf(stderr, "p11bench: %s failed: CKR 0x%lx\n", what, (unsigned long) rv);
		exit(1);
	}
}

/* Decode hex into bytes; returns the length or -1. */
static int
unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t		n = strlen(hex);

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++)
	{
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (unsigned char) b;
	}
	return (int) (n / 2);
}

/* Find the slot whose token carries the label (blank-padded to 32). */
static CK_SLOT_ID
find_slot(CK_FUNCTION_LIST *f, const char *label)
{
	CK_SLOT_ID	slots[64];
	CK_ULONG	n = 64;
	char		padded[32];

	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label) < 32 ? strlen(label) : 32);
	check(f->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
	for (CK_ULONG i = 0; i < n; i++)
	{
		CK_TOKEN_INFO info;

		if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
			memcmp(info.label, padded, 32) == 0)
			return slots[i];
	}
	fprintf(stderr, "p11bench: no token labelled \"%s\"\n", label);
	exit(1);
}

/* Sign COUNT digests and report the rate. */
int
main(int argc, char **argv)
{
	void	   *module;
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST *f;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE key;
	CK_ULONG	found = 0;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	unsigned char id[64];
	int			id_len;
	CK_ATTRIBUTE tmpl[2];
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	unsigned char digest[32];
	unsigned char sig[128];
	long		count;
	struct timespec t0,
				t1;
	double		secs;

	if (argc != 6)
	{
		fprintf(stderr, "usage: p11bench MODULE TOKEN_LABEL PIN KEY_ID_HEX COUNT\n");
		return 2;
	}
	count = atol(argv[5]);
	id_len = unhex(argv[4], id, sizeof(id));
	if (id_len <= 0 || count <= 0)
	{
		fprintf(stderr, "p11bench: bad key id or count\n");
		return 2;
	}
	module = dlopen(argv[1], RTLD_NOW);
	if (module == NULL)
	{
		fprintf(stderr, "p11bench: %s\n", dlerror());
		return 1;
	}
	get_list = (CK_C_GetFunctionList) dlsym(module, "C_GetFunctionList");
	if (get_list == NULL)
	{
		fprintf(stderr, "p11bench: no C_GetFunctionList in %s\n", argv[1]);
		return 1;
	}
	check(get_list(&f), "C_GetFunctionList");
	check(f->C_Initialize(NULL), "C_Initialize");
	check(f->C_OpenSession(find_slot(f, argv[2]), CKF_SERIAL_SESSION, NULL, NULL, &session),
		  "C_OpenSession");
	check(f->C_Login(session, CKU_USER, (unsigned char *) argv[3], strlen(argv[3])), "C_Login");

	tmpl[0].type = CKA_CLASS;
	tmpl[0].pValue = &cls;
	tmpl[0].ulValueLen = sizeof(cls);
	tmpl[1].type = CKA_ID;
	tmpl[1].pValue = id;
	tmpl[1].ulValueLen = (CK_ULONG) id_len;
	check(f->C_FindObjectsInit(session, tmpl, 2), "C_FindObjectsInit");
	check(f->C_FindObjects(session, &key, 1, &found), "C_FindObjects");
	check(f->C_FindObjectsFinal(session), "C_FindObjectsFinal");
	if (found != 1)
	{
		fprintf(stderr, "p11bench: key %s not found\n", argv[4]);
		return 1;
	}

	memset(digest, 0x5a, sizeof(digest));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++)
	{
		CK_ULONG	sig_len = sizeof(sig);

		digest[0] = (unsigned char) i;
		check(f->C_SignInit(session, &mech, key), "C_SignInit");
		check(f->C_Sign(session, digest, sizeof(digest), sig, &sig_len), "C_Sign");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("signatures=%ld seconds=%.3f per_second=%.0f\n", count, secs, count / secs);

	f->C_Logout(session);
	f->C_CloseSession(session);
	f->C_Finalize(NULL);
	return 0;
}
