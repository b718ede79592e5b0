/*-------------------------------------------------------------------------
 *
 * sealpg.c
 *	  Module entry point: the preload check and every sealpg.* setting.
 *
 * sealpg must be loaded through shared_preload_libraries: it reserves the
 * "sealpg." setting prefix and (in later parts) registers a background
 * worker that records events which must outlive the caller's rollback.
 * All settings are defined here, in one place, so the README's table of
 * settings can be checked against a single list.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "deferred.h"
#include "sealpg.h"

PG_MODULE_MAGIC;

/* settings */
char	   *sealpg_agent_socket = NULL;
int			sealpg_agent_timeout_ms = 5000;
int			sealpg_deferred_slots = 256;
int			sealpg_deferred_idle_exit_ms = 2000;
char	   *sealpg_crl_url = NULL;
char	   *sealpg_ocsp_url = NULL;
int			sealpg_crl_validity_s = 86400;
int			sealpg_ocsp_validity_s = 300;
int			sealpg_max_clock_skew_s = 300;
char	   *sealpg_tsa_policy = NULL;

void		_PG_init(void);

/*
 * Check hook of the URL settings: empty, or an http(s) URL without
 * spaces or commas (the value goes into certificate extensions).
 */
static bool
check_certificate_url(char **newval, void **extra, GucSource source)
{
	const char *url = *newval;

	if (url == NULL || url[0] == '\0')
		return true;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
	{
		GUC_check_errdetail("The URL must start with http:// or https://.");
		return false;
	}
	if (strpbrk(url, " ,\t\r\n\"") != NULL)
	{
		GUC_check_errdetail("The URL must not contain spaces, commas or quotes.");
		return false;
	}
	return true;
}

/* Refuse to run unless preloaded, then define the settings. */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sealpg must be loaded via shared_preload_libraries"),
				 errhint("Add sealpg to shared_preload_libraries in postgresql.conf and restart the server.")));

	DefineCustomStringVariable("sealpg.agent_socket",
							   gettext_noop("Path of the sealpg-agent Unix socket."),
							   gettext_noop("The agent holds the token sessions; the database never sees key material."),
							   &sealpg_agent_socket,
							   "/run/sealpg/agent.sock",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("sealpg.agent_timeout",
							gettext_noop("Longest wait for one answer from sealpg-agent."),
							NULL,
							&sealpg_agent_timeout_ms,
							5000, 10, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("sealpg.deferred_slots",
							gettext_noop("Calls that may wait at once for the deferred writer."),
							gettext_noop("Records that must outlive the caller's rollback queue here."),
							&sealpg_deferred_slots,
							256, 16, 65536,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("sealpg.deferred_idle_exit",
							gettext_noop("Idle time after which a database's deferred writer exits."),
							gettext_noop("A writer that has exited is started again by the next deferred call."),
							&sealpg_deferred_idle_exit_ms,
							2000, 100, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("sealpg.crl_url",
							   gettext_noop("CRL distribution point written into seal certificates."),
							   gettext_noop("Empty: certificates carry no CRL distribution point."),
							   &sealpg_crl_url,
							   "",
							   PGC_SUSET,
							   0,
							   check_certificate_url, NULL, NULL);

	DefineCustomStringVariable("sealpg.ocsp_url",
							   gettext_noop("OCSP responder URL written into seal certificates (authority information access)."),
							   gettext_noop("Empty: certificates carry no OCSP URL."),
							   &sealpg_ocsp_url,
							   "",
							   PGC_SUSET,
							   0,
							   check_certificate_url, NULL, NULL);

	DefineCustomIntVariable("sealpg.crl_validity",
							gettext_noop("Time from a CRL's thisUpdate to its nextUpdate."),
							gettext_noop("CRLs are re-issued when a status changes, and past half this time."),
							&sealpg_crl_validity_s,
							86400, 60, 31 * 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("sealpg.ocsp_validity",
							gettext_noop("Time from an OCSP response's thisUpdate to its nextUpdate."),
							gettext_noop("Relying parties may cache a response until then: it bounds how long they can miss a revocation."),
							&sealpg_ocsp_validity_s,
							300, 10, 7 * 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("sealpg.tsa_policy",
							   gettext_noop("Object identifier of the policy under which the timestamp authority issues tokens."),
							   gettext_noop("RFC 3161 TSAPolicyId; the default 2.999.1 is an example arc: set your organisation's own."),
							   &sealpg_tsa_policy,
							   "2.999.1",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("sealpg.max_clock_skew",
							gettext_noop("How far ahead of the server's clock a use may be dated."),
							gettext_noop("Uses dated later than now plus this are refused (SQLSTATE SE602)."),
							&sealpg_max_clock_skew_s,
							300, 0, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("sealpg");

	sealpg_deferred_init();
}
