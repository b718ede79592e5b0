/*-------------------------------------------------------------------------
 *
 * p11shim.c
 *	  Test-only PKCS#11 module that forwards to a real one (SoftHSM2) and
 *	  simulates pulling the token out: while the file named by
 *	  SEALPG_SHIM_REMOVED exists, no token is present, new sessions fail
 *	  with CKR_TOKEN_NOT_PRESENT and existing ones with CKR_DEVICE_REMOVED.
 *	  SoftHSM2 cannot lose a token on its own, so this is how the agent's
 *	  "token went away / came back" path is tested.
 *
 *-------------------------------------------------------------------------
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST real;
static CK_FUNCTION_LIST shim;

/* Is the token "pulled out" right now? */
static bool
removed(void)
{
	const char *flag = getenv("SEALPG_SHIM_REMOVED");

	return flag != NULL && access(flag, F_OK) == 0;
}

/* No token-bearing slot while removed. */
static CK_RV
shim_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	if (removed() && present)
	{
		*count = 0;
		return CKR_OK;
	}
	return real.C_GetSlotList(present, list, count);
}

/* New sessions fail while removed. */
static CK_RV
shim_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
				 CK_SESSION_HANDLE_PTR session)
{
	if (removed())
		return CKR_TOKEN_NOT_PRESENT;
	return real.C_OpenSession(slot, flags, app, notify, session);
}

/* Existing sessions fail while removed. */
static CK_RV
shim_FindObjectsInit(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	if (removed())
		return CKR_DEVICE_REMOVED;
	return real.C_FindObjectsInit(session, tmpl, count);
}

/* Existing sessions fail while removed. */
static CK_RV
shim_SignInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	if (removed())
		return CKR_DEVICE_REMOVED;
	return real.C_SignInit(session, mech, key);
}

/* The module's entry point: the real list with four functions replaced. */
CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	const char *path = getenv("SEALPG_SHIM_MODULE");
	void	   *handle;
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR list;
	CK_RV		rv;

	handle = dlopen(path ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL)
		return CKR_GENERAL_ERROR;
	get = (CK_C_GetFunctionList) dlsym(handle, "C_GetFunctionList");
	if (get == NULL)
		return CKR_GENERAL_ERROR;
	rv = get(&list);
	if (rv != CKR_OK)
		return rv;
	real = *list;
	shim = *list;
	shim.C_GetSlotList = shim_GetSlotList;
	shim.C_OpenSession = shim_OpenSession;
	shim.C_FindObjectsInit = shim_FindObjectsInit;
	shim.C_SignInit = shim_SignInit;
	*out = &shim;
	return CKR_OK;
}
