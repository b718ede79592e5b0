/*-------------------------------------------------------------------------
 *
 * main.c
 *	  sealpg-verify PACKAGE [--document FILE] [--authority authority.pem]
 *
 * Checks a sealpg evidence package offline (no database, OpenSSL only)
 * and says in plain words what holds and what does not.  Exit status:
 * 0 when every check holds, 1 when any does not (or could not be made),
 * 2 when the command line or a file given on it is wrong.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "verify.h"

/* Print one line of the report. */
static void
report_line(const char *mark, const char *fmt, va_list ap)
{
	printf("%-10s ", mark);
	vprintf(fmt, ap);
	putchar('\n');
}

/* A check that holds. */
void
holds(Report *r, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	report_line("HOLDS", fmt, ap);
	va_end(ap);
	r->held++;
}

/* A check that does not hold. */
void
fails(Report *r, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	report_line("FAILS", fmt, ap);
	va_end(ap);
	r->failed++;
}

/* A check that could not be made (it does not count as holding). */
void
unchecked(Report *r, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	report_line("UNCHECKED", fmt, ap);
	va_end(ap);
	r->skipped++;
}

/* OpenSSL's first queued reason, as text (and the queue cleared). */
char *
openssl_reason(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_error();

	if (e == 0)
		snprintf(buf, sizeof(buf), "no reason given");
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* Read a whole file; NULL (and a message) when it cannot be read. */
static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t		cap = 0;
	size_t		n = 0;

	if (f == NULL)
	{
		fprintf(stderr, "sealpg-verify: cannot open %s\n", path);
		return NULL;
	}
	for (;;)
	{
		size_t		got;

		if (n == cap)
		{
			unsigned char *bigger;

			cap = cap ? cap * 2 : 65536;
			if (cap > (size_t) MAX_FILE_SIZE * MAX_FILES * 2 ||
				(bigger = realloc(buf, cap)) == NULL)
			{
				fprintf(stderr, "sealpg-verify: %s is too large\n", path);
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
	{
		fprintf(stderr, "sealpg-verify: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Print how to call the program. */
static void
usage(void)
{
	fprintf(stderr,
			"usage: sealpg-verify PACKAGE [--document FILE] [--authority authority.pem]\n"
			"Checks a sealpg evidence package offline and says what holds and what does not.\n"
			"Exit status: 0 when everything holds, 1 when anything does not, 2 on usage errors.\n");
}

/* The command. */
int
main(int argc, char **argv)
{
	const char *package_path = NULL;
	const char *document_path = NULL;
	const char *authority_path = NULL;
	unsigned char *tar;
	size_t		tar_len;
	unsigned char *document = NULL;
	size_t		document_len = 0;
	X509	   *authority = NULL;
	Package		pkg;
	const char *problem;
	Report		report = {0, 0, 0};
	int			i;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--document") == 0 && i + 1 < argc)
			document_path = argv[++i];
		else if (strcmp(argv[i], "--authority") == 0 && i + 1 < argc)
			authority_path = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage();
			return 0;
		}
		else if (argv[i][0] != '-' && package_path == NULL)
			package_path = argv[i];
		else
		{
			usage();
			return 2;
		}
	}
	if (package_path == NULL)
	{
		usage();
		return 2;
	}
	if ((tar = read_file(package_path, &tar_len)) == NULL)
		return 2;
	if (document_path != NULL && (document = read_file(document_path, &document_len)) == NULL)
		return 2;
	if (authority_path != NULL)
	{
		size_t		len;
		unsigned char *pem = read_file(authority_path, &len);
		BIO		   *bio = pem ? BIO_new_mem_buf(pem, (int) len) : NULL;

		authority = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		free(pem);
		if (authority == NULL)
		{
			fprintf(stderr, "sealpg-verify: %s holds no PEM certificate\n", authority_path);
			return 2;
		}
	}

	printf("sealpg-verify: %s\n", package_path);
	problem = package_read(tar, tar_len, &pkg);
	if (problem != NULL)
	{
		fails(&report, "package: %s", problem);
		printf("\nThe evidence does NOT hold: the package cannot be read.\n");
		return 1;
	}
	holds(&report, "package: a ustar archive of %d files", pkg.nfiles);
	check_package(&pkg, document, document_len, document_path != NULL, authority, &report);

	if (report.failed == 0 && report.skipped == 0)
		printf("\nThe evidence holds: all %d checks hold.\n", report.held);
	else
		printf("\nThe evidence does NOT hold in full: %d checks hold, %d do not, %d could not be made.\n",
			   report.held, report.failed, report.skipped);
	for (i = 0; i < pkg.nfiles; i++)
		free(pkg.files[i].data);
	X509_free(authority);
	free(document);
	free(tar);
	return report.failed == 0 && report.skipped == 0 ? 0 : 1;
}
