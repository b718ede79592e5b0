/*-------------------------------------------------------------------------
 *
 * checks.c
 *	  Every check sealpg-verify makes on an evidence package, in the order
 *	  doc/EVIDENCE.md lists them.  Each says in plain words what holds or
 *	  what does not; a missing or malformed part is a failure, never a
 *	  silent pass.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "verify.h"

/* What the checks learn and pass on to later ones. */
typedef struct Facts
{
	X509	   *seal;
	X509	   *authority;		/* the trust anchor used */
	STACK_OF(X509) *chain;
	unsigned char document_digest[HASH_LEN];
	bool		have_digest;
	CMS_ContentInfo *cms;
	time_t		signing_time;
	bool		have_signing_time;
	unsigned char tree_root[HASH_LEN];
	long long	tree_size;
	bool		have_tree_head;
} Facts;

/* A file's bytes as a read-only memory BIO (NULL when absent). */
static BIO *
file_bio(const PackageFile *f)
{
	return f ? BIO_new_mem_buf(f->data, (int) f->len) : NULL;
}

/* A trust store holding only the authority, checking at time t (0: now). */
static X509_STORE *
authority_store(X509 *authority, time_t t)
{
	X509_STORE *store = X509_STORE_new();

	if (store == NULL || X509_STORE_add_cert(store, authority) != 1)
	{
		X509_STORE_free(store);
		return NULL;
	}
	if (t != 0)
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), t);
	return store;
}

/* UTC text of a time_t. */
static const char *
time_text(time_t t)
{
	static char buf[64];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

/*
 * Does every certificate a signed structure carries come from the
 * authority (the authority itself, or one it signed)?  Certificates sit
 * outside what a signature covers, so without this check a package could
 * carry a changed certificate and still verify.
 */
static bool
certificates_vouched(const STACK_OF(X509) *certs, X509 *authority)
{
	EVP_PKEY   *key = X509_get0_pubkey(authority);
	int			i;

	for (i = 0; i < sk_X509_num(certs); i++)
	{
		X509	   *c = sk_X509_value(certs, i);

		if (X509_cmp(c, authority) != 0 && (key == NULL || X509_verify(c, key) != 1))
		{
			ERR_clear_error();
			return false;
		}
	}
	return true;
}

/* 1. the manifest lists every file with its SHA-256, and nothing else. */
static void
check_manifest(const Package *pkg, Report *r)
{
	const PackageFile *m = package_file(pkg, "manifest.json");
	int			i;
	int			listed = 0;
	bool		ok = true;

	if (m == NULL)
	{
		fails(r, "manifest: the package has no manifest.json");
		return;
	}
	for (i = 0; i < pkg->nfiles; i++)
	{
		const PackageFile *f = &pkg->files[i];
		char	   *want;
		unsigned char digest[HASH_LEN];
		char		hex[2 * HASH_LEN + 1];

		if (f == m)
			continue;
		want = json_string_field((const char *) m->data, m->len, f->name, "files");
		sha256(f->data, f->len, NULL, 0, digest);
		hex_encode(digest, HASH_LEN, hex);
		if (want == NULL)
		{
			fails(r, "manifest: %s is in the package but not in the manifest", f->name);
			ok = false;
		}
		else if (strcmp(want, hex) != 0)
		{
			fails(r, "manifest: %s does not have the SHA-256 the manifest gives (it was changed)", f->name);
			ok = false;
		}
		else
			listed++;
		free(want);
	}
	if (ok)
		holds(r, "manifest: all %d files have the SHA-256 the manifest gives", listed);
}

/* 2. the chain: seal certificate and authority, and which authority is trusted. */
static bool
check_chain(const Package *pkg, X509 *given, Facts *facts, Report *r)
{
	BIO		   *bio = file_bio(package_file(pkg, "chain.pem"));
	X509	   *cert;

	if (bio == NULL)
	{
		fails(r, "certificates: the package has no chain.pem");
		return false;
	}
	facts->chain = sk_X509_new_null();
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		sk_X509_push(facts->chain, cert);
	ERR_clear_error();
	BIO_free(bio);
	if (sk_X509_num(facts->chain) != 2)
	{
		fails(r, "certificates: chain.pem must hold the seal certificate and the authority certificate (it holds %d)",
			  sk_X509_num(facts->chain));
		return false;
	}
	facts->seal = sk_X509_value(facts->chain, 0);
	if (given != NULL)
	{
		if (X509_cmp(given, sk_X509_value(facts->chain, 1)) != 0)
		{
			fails(r, "authority: the package's authority certificate is not the one you gave (--authority)");
			facts->authority = given;
			return true;
		}
		holds(r, "authority: the package's authority certificate is the one you gave (--authority)");
		facts->authority = given;
	}
	else
	{
		unchecked(r, "authority: no --authority given, so the package's own authority certificate was trusted; "
				  "give the authority certificate you obtained independently");
		facts->authority = sk_X509_value(facts->chain, 1);
	}
	return true;
}

/* The signing time of the (first) signer, when it carries one. */
static bool
signer_signing_time(CMS_SignerInfo *si, time_t *t)
{
	int			idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *attr;
	ASN1_TYPE  *v;
	struct tm	tm;

	if (idx < 0 || (attr = CMS_signed_get_attr(si, idx)) == NULL ||
		(v = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL ||
		(v->type != V_ASN1_UTCTIME && v->type != V_ASN1_GENERALIZEDTIME) ||
		ASN1_TIME_to_tm((ASN1_TIME *) v->value.asn1_string, &tm) != 1)
		return false;
	*t = timegm(&tm);
	return true;
}

/* 3. the signature: made with the seal's key, over the document digest. */
static void
check_signature(const Package *pkg, const unsigned char *document, size_t document_len,
				bool have_document, Facts *facts, Report *r)
{
	const PackageFile *sig = package_file(pkg, "signature.p7s");
	const PackageFile *dd = package_file(pkg, "document-digest.hex");
	const unsigned char *p;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo *si;
	ASN1_OCTET_STRING *md;
	char		hex[2 * HASH_LEN + 1];

	if (dd == NULL || dd->len < 2 * HASH_LEN)
		fails(r, "document digest: the package has no document-digest.hex");
	else
	{
		memcpy(hex, dd->data, 2 * HASH_LEN);
		hex[2 * HASH_LEN] = '\0';
		facts->have_digest = hex_decode(hex, facts->document_digest, HASH_LEN) &&
			(dd->len == 2 * HASH_LEN || (dd->len == 2 * HASH_LEN + 1 && dd->data[2 * HASH_LEN] == '\n'));
		if (!facts->have_digest)
			fails(r, "document digest: document-digest.hex is not one SHA-256 in hex");
	}
	if (sig == NULL)
	{
		fails(r, "signature: the package has no signature.p7s");
		return;
	}
	p = sig->data;
	facts->cms = d2i_CMS_ContentInfo(NULL, &p, (long) sig->len);
	if (facts->cms == NULL || p != sig->data + sig->len ||
		OBJ_obj2nid(CMS_get0_type(facts->cms)) != NID_pkcs7_signed)
	{
		fails(r, "signature: signature.p7s is not a CMS SignedData in DER");
		return;
	}
	sis = CMS_get0_SignerInfos(facts->cms);
	if (sk_CMS_SignerInfo_num(sis) != 1)
	{
		fails(r, "signature: signature.p7s must have exactly one signer");
		return;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	facts->have_signing_time = signer_signing_time(si, &facts->signing_time);
	if (facts->seal == NULL || CMS_SignerInfo_cert_cmp(si, facts->seal) != 0)
	{
		fails(r, "signature: it was not made by the seal certificate in chain.pem");
		return;
	}
	CMS_SignerInfo_set1_signer_cert(si, facts->seal);
	if (CMS_SignerInfo_verify(si) != 1)
	{
		fails(r, "signature: the signature over its signed attributes does not verify (%s)", openssl_reason());
		return;
	}
	{
		STACK_OF(X509) *carried = CMS_get1_certs(facts->cms);
		bool		vouched = certificates_vouched(carried, facts->authority);

		sk_X509_pop_free(carried, X509_free);
		if (!vouched)
		{
			fails(r, "signature: signature.p7s carries a certificate the authority did not issue");
			return;
		}
	}
	holds(r, "signature: made with the seal certificate's key%s%s",
		  facts->have_signing_time ? ", signing time " : "",
		  facts->have_signing_time ? time_text(facts->signing_time) : "");

	md = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3, V_ASN1_OCTET_STRING);
	if (md == NULL || !facts->have_digest || ASN1_STRING_length(md) != HASH_LEN ||
		memcmp(ASN1_STRING_get0_data(md), facts->document_digest, HASH_LEN) != 0)
		fails(r, "document digest: the signature was not made over the digest in document-digest.hex");
	else
		holds(r, "document digest: the signature covers SHA-256 %.16s...", hex);

	if (!have_document)
		unchecked(r, "document: no --document given, so only its digest was checked");
	else
	{
		unsigned char digest[HASH_LEN];
		BIO		   *content = BIO_new_mem_buf(document, (int) document_len);
		X509_STORE *store = authority_store(facts->authority, facts->have_signing_time ? facts->signing_time : 0);
		STACK_OF(X509) *certs = sk_X509_new_null();

		sha256(document, document_len, NULL, 0, digest);
		if (!facts->have_digest || memcmp(digest, facts->document_digest, HASH_LEN) != 0)
			fails(r, "document: the file you gave is not the signed document (its SHA-256 differs)");
		else if (content == NULL || store == NULL || certs == NULL || !sk_X509_push(certs, facts->seal) ||
				 CMS_verify(facts->cms, certs, store, content, NULL, CMS_BINARY) != 1)
			fails(r, "document: openssl cms -verify would refuse it (%s)", openssl_reason());
		else
			holds(r, "document: the file you gave is the signed document, and the whole CMS signature verifies");
		sk_X509_free(certs);
		X509_STORE_free(store);
		BIO_free(content);
	}
}

/* 4. the seal certificate was issued by the authority and valid when it signed. */
static void
check_seal_certificate(Facts *facts, Report *r)
{
	X509_STORE *store;
	X509_STORE_CTX *ctx;

	if (facts->seal == NULL || facts->authority == NULL)
		return;
	store = authority_store(facts->authority, facts->have_signing_time ? facts->signing_time : 0);
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL || X509_STORE_CTX_init(ctx, store, facts->seal, NULL) != 1)
		fails(r, "seal certificate: could not set up the check (%s)", openssl_reason());
	else if (X509_verify_cert(ctx) != 1)
		fails(r, "seal certificate: not valid under the authority at the signing time (%s)",
			  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	else
		holds(r, "seal certificate: issued by the authority and within its validity when it signed");
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

static bool authority_signed(const PackageFile *content, const PackageFile *sig, X509 *authority);

/*
 * 5b. Without an OCSP responder, the authority's signed status statement:
 * status.json (the seal certificate's serial and its status when it
 * signed) and status.p7s, the authority's detached signature over it.
 */
static void
check_status_statement(const Package *pkg, Facts *facts, Report *r)
{
	const PackageFile *st = package_file(pkg, "status.json");
	const PackageFile *sig = package_file(pkg, "status.p7s");
	char	   *serial;
	char	   *status;
	char	   *mine;
	BIGNUM	   *bn;

	if (st == NULL || sig == NULL)
	{
		fails(r, "status: the package has neither ocsp.der nor status.json with status.p7s");
		return;
	}
	if (!authority_signed(st, sig, facts->authority))
	{
		fails(r, "status: status.p7s is not the authority's signature over status.json");
		return;
	}
	serial = json_string_field((const char *) st->data, st->len, "certificate_serial", NULL);
	status = json_string_field((const char *) st->data, st->len, "status_at_signing", NULL);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(facts->seal), NULL);
	mine = bn ? BN_bn2hex(bn) : NULL;
	if (serial == NULL || status == NULL || mine == NULL ||
		OPENSSL_strcasecmp(serial + strspn(serial, "0"), mine + strspn(mine, "0")) != 0)
		fails(r, "status: the authority's status statement is about another certificate");
	else if (strcmp(status, "good") != 0)
		fails(r, "status: the authority states the seal certificate was %s when it signed", status);
	else
		holds(r, "status: the authority's signed statement says the seal certificate was good when it signed");
	OPENSSL_free(mine);
	BN_free(bn);
	free(serial);
	free(status);
}

/* 5. the seal certificate's status at signing time: an OCSP response. */
static void
check_status(const Package *pkg, Facts *facts, Report *r)
{
	const PackageFile *f = package_file(pkg, "ocsp.der");
	const unsigned char *p;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *basic = NULL;
	X509_STORE *store = NULL;
	int			i;
	bool		found = false;

	if (f == NULL)
	{
		check_status_statement(pkg, facts, r);
		return;
	}
	p = f->data;
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long) f->len);
	if (resp == NULL || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
		(basic = OCSP_response_get1_basic(resp)) == NULL)
	{
		fails(r, "status: ocsp.der is not a successful OCSP response");
		goto done;
	}
	store = authority_store(facts->authority, facts->have_signing_time ? facts->signing_time : 0);
	if (store == NULL || OCSP_basic_verify(basic, facts->chain, store, 0) != 1)
	{
		fails(r, "status: the OCSP response is not signed by the authority (%s)", openssl_reason());
		goto done;
	}
	if (!certificates_vouched(OCSP_resp_get0_certs(basic), facts->authority))
	{
		fails(r, "status: the OCSP response carries a certificate the authority did not issue");
		goto done;
	}
	for (i = 0; i < OCSP_resp_count(basic) && !found; i++)
	{
		OCSP_SINGLERESP *single = OCSP_resp_get0(basic, i);
		const OCSP_CERTID *cid = OCSP_SINGLERESP_get0_id(single);
		ASN1_OBJECT *alg = NULL;
		OCSP_CERTID *mine;
		int			status;
		int			reason;
		ASN1_GENERALIZEDTIME *revtime = NULL;
		ASN1_GENERALIZEDTIME *thisupd = NULL;
		ASN1_GENERALIZEDTIME *nextupd = NULL;
		const EVP_MD *md;

		if (OCSP_id_get0_info(NULL, &alg, NULL, NULL, (OCSP_CERTID *) cid) != 1 ||
			(md = EVP_get_digestbyobj(alg)) == NULL ||
			(mine = OCSP_cert_to_id(md, facts->seal, facts->authority)) == NULL)
			continue;
		if (OCSP_id_cmp(mine, cid) == 0)
		{
			struct tm	tm;
			time_t		revoked_at = 0;

			found = true;
			status = OCSP_single_get0_status(single, &reason, &revtime, &thisupd, &nextupd);
			if (revtime != NULL && ASN1_TIME_to_tm(revtime, &tm) == 1)
				revoked_at = timegm(&tm);
			if (status == V_OCSP_CERTSTATUS_GOOD)
				holds(r, "status: the authority's OCSP response says the seal certificate is good");
			else if (status == V_OCSP_CERTSTATUS_REVOKED && facts->have_signing_time &&
					 revoked_at > facts->signing_time)
				holds(r, "status: the seal certificate was revoked only after it signed (at %s)",
					  time_text(revoked_at));
			else
				fails(r, "status: the authority's OCSP response says the seal certificate is %s",
					  status == V_OCSP_CERTSTATUS_REVOKED ? "revoked" : "unknown");
		}
		OCSP_CERTID_free(mine);
	}
	if (!found)
		fails(r, "status: the OCSP response does not speak of the seal certificate");
done:
	X509_STORE_free(store);
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
}

/* A detached CMS signature by the authority over a file of the package. */
static bool
authority_signed(const PackageFile *content, const PackageFile *sig, X509 *authority)
{
	const unsigned char *p;
	CMS_ContentInfo *cms;
	BIO		   *bio;
	X509_STORE *store;
	STACK_OF(X509) *certs = sk_X509_new_null();
	bool		ok = false;

	if (content == NULL || sig == NULL || certs == NULL)
	{
		sk_X509_free(certs);
		return false;
	}
	p = sig->data;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long) sig->len);
	bio = BIO_new_mem_buf(content->data, (int) content->len);
	store = authority_store(authority, 0);
	/* the authority's own certificate signs: a CA certificate, not an S/MIME signer */
	if (store != NULL && X509_STORE_set_purpose(store, X509_PURPOSE_ANY) != 1)
	{
		X509_STORE_free(store);
		store = NULL;
	}
	if (cms != NULL && bio != NULL && store != NULL && sk_X509_push(certs, authority))
		ok = CMS_verify(cms, certs, store, bio, NULL, CMS_BINARY | CMS_NOINTERN) == 1;
	if (ok)
	{
		STACK_OF(X509) *carried = CMS_get1_certs(cms);

		ok = certificates_vouched(carried, authority);
		sk_X509_pop_free(carried, X509_free);
	}
	sk_X509_free(certs);
	X509_STORE_free(store);
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	return ok;
}

/* 6. the journal entry records this signature, and the tree holds it. */
static void
check_journal(const Package *pkg, Facts *facts, Report *r)
{
	const PackageFile *entry = package_file(pkg, "journal-entry.json");
	const PackageFile *proof = package_file(pkg, "inclusion-proof.json");
	const PackageFile *head = package_file(pkg, "tree-head.json");
	const PackageFile *head_sig = package_file(pkg, "tree-head.p7s");
	const PackageFile *manifest = package_file(pkg, "manifest.json");
	const PackageFile *sig = package_file(pkg, "signature.p7s");
	unsigned char leaf[HASH_LEN];
	unsigned char given_leaf[HASH_LEN];
	unsigned char path[64][HASH_LEN];
	long long	index;
	long long	size;
	int			n;
	char	   *s;
	char	   *want;

	/* the tree head, signed by the authority */
	if (head == NULL || head_sig == NULL)
		fails(r, "tree head: the package has no tree-head.json and tree-head.p7s");
	else if (!authority_signed(head, head_sig, facts->authority))
		fails(r, "tree head: tree-head.p7s is not the authority's signature over tree-head.json (%s)",
			  openssl_reason());
	else if (!json_int_field((const char *) head->data, head->len, "tree_size", &facts->tree_size) ||
			 (s = json_string_field((const char *) head->data, head->len, "root_hash", NULL)) == NULL ||
			 !hex_decode(s, facts->tree_root, HASH_LEN))
		fails(r, "tree head: tree-head.json has no tree size and root hash");
	else
	{
		facts->have_tree_head = true;
		holds(r, "tree head: signed by the authority: %lld entries, root %.16s...", facts->tree_size, s);
		free(s);
	}

	if (entry == NULL)
	{
		fails(r, "journal entry: the package has no journal-entry.json");
		return;
	}
	/* what the entry says */
	want = manifest ? json_string_field((const char *) manifest->data, manifest->len, "signature_id", NULL) : NULL;
	s = json_string_field((const char *) entry->data, entry->len, "signature_id", "payload");
	if (want == NULL || s == NULL || strcmp(want, s) != 0)
		fails(r, "journal entry: it is not the entry of signature %s", want ? want : "(no id in the manifest)");
	else
	{
		char	   *digest = json_string_field((const char *) entry->data, entry->len, "document_digest", "payload");
		char	   *sighash = json_string_field((const char *) entry->data, entry->len, "signature", "payload");
		char		hex[2 * HASH_LEN + 1];
		char		expect[2 * HASH_LEN + 8];
		unsigned char d[HASH_LEN];

		hex_encode(facts->document_digest, HASH_LEN, hex);
		snprintf(expect, sizeof(expect), "\\x%s", hex);
		if (digest == NULL || !facts->have_digest || strcmp(digest, expect) != 0)
			fails(r, "journal entry: it records another document digest");
		else if (sig != NULL && (sha256(sig->data, sig->len, NULL, 0, d), hex_encode(d, HASH_LEN, hex),
								 snprintf(expect, sizeof(expect), "sha256:%s", hex),
								 sighash == NULL || strcmp(sighash, expect) != 0))
			fails(r, "journal entry: it records another signature than signature.p7s");
		else
			holds(r, "journal entry: records signature %s, its document digest and its signature's SHA-256", s);
		free(digest);
		free(sighash);
	}
	free(want);
	free(s);

	/* the inclusion proof */
	leaf_hash(entry->data, entry->len, leaf);
	if (proof == NULL)
	{
		fails(r, "inclusion: the package has no inclusion-proof.json");
		return;
	}
	s = json_string_field((const char *) proof->data, proof->len, "leaf_hash", NULL);
	n = json_hex_array((const char *) proof->data, proof->len, "audit_path", path, 64);
	if (!json_int_field((const char *) proof->data, proof->len, "leaf_index", &index) ||
		!json_int_field((const char *) proof->data, proof->len, "tree_size", &size) ||
		s == NULL || !hex_decode(s, given_leaf, HASH_LEN) || n < 0 || index < 0 || size < 1)
		fails(r, "inclusion: inclusion-proof.json is malformed");
	else if (memcmp(given_leaf, leaf, HASH_LEN) != 0)
		fails(r, "inclusion: the proof is for another entry than journal-entry.json");
	else if (!facts->have_tree_head)
		fails(r, "inclusion: there is no valid tree head to prove the entry against");
	else if (size != facts->tree_size)
		fails(r, "inclusion: the proof is for a tree of %lld entries, the tree head has %lld", size, facts->tree_size);
	else if (!verify_inclusion(leaf, (uint64_t) index, (uint64_t) size, path, n, facts->tree_root))
		fails(r, "inclusion: the audit path does not lead from the entry to the signed root");
	else
		holds(r, "inclusion: the entry is leaf %lld of the signed tree of %lld (audit path of %d hashes)",
			  index, size, n);
	free(s);
}

/* 7. an RFC 3161 timestamp over the given imprint, from a TSA of the authority. */
static void
check_timestamp(const Package *pkg, const char *name, const char *what,
				const unsigned char *imprint, bool have_imprint, Facts *facts, Report *r)
{
	const PackageFile *f = package_file(pkg, name);
	const unsigned char *p;
	TS_RESP    *resp;
	TS_VERIFY_CTX *ctx;
	X509_STORE *store;
	unsigned char *imp;
	STACK_OF(X509) *certs;

	if (f == NULL)
	{
		unchecked(r, "timestamp on the %s: the package has none (%s)", what, name);
		return;
	}
	if (!have_imprint)
	{
		fails(r, "timestamp on the %s: there is nothing valid to compare it with", what);
		return;
	}
	p = f->data;
	resp = d2i_TS_RESP(NULL, &p, (long) f->len);
	ctx = TS_VERIFY_CTX_new();
	store = authority_store(facts->authority, 0);
	imp = OPENSSL_malloc(HASH_LEN);
	certs = sk_X509_new_null();
	if (resp == NULL || ctx == NULL || store == NULL || imp == NULL || certs == NULL)
	{
		fails(r, "timestamp on the %s: %s is not an RFC 3161 TimeStampResp", what, name);
		X509_STORE_free(store);
		OPENSSL_free(imp);
		sk_X509_free(certs);
	}
	else
	{
		memcpy(imp, imprint, HASH_LEN);
		TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_IMPRINT);
		TS_VERIFY_CTX_set_imprint(ctx, imp, HASH_LEN);
		TS_VERIFY_CTX_set_store(ctx, store);
		TS_VERIFY_CTS_set_certs(ctx, certs);
		if (TS_RESP_verify_response(ctx, resp) != 1)
			fails(r, "timestamp on the %s: it does not verify under the authority (%s)", what, openssl_reason());
		else
		{
			const ASN1_GENERALIZEDTIME *t = TS_TST_INFO_get_time(TS_RESP_get_tst_info(resp));
			struct tm	tm;

			if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
				holds(r, "timestamp on the %s: an RFC 3161 token of the authority's TSA, time %s",
					  what, time_text(timegm(&tm)));
			else
				holds(r, "timestamp on the %s: an RFC 3161 token of the authority's TSA", what);
		}
	}
	TS_VERIFY_CTX_free(ctx);
	TS_RESP_free(resp);
}

/* Run every check of the package. */
void
check_package(const Package *pkg, const unsigned char *document, size_t document_len,
			  bool have_document, X509 *authority_given, Report *r)
{
	Facts		facts;
	unsigned char imprint[HASH_LEN];
	bool		have_imprint = false;
	const PackageFile *head = package_file(pkg, "tree-head.json");

	memset(&facts, 0, sizeof(facts));
	check_manifest(pkg, r);
	if (check_chain(pkg, authority_given, &facts, r))
	{
		check_signature(pkg, document, document_len, have_document, &facts, r);
		check_seal_certificate(&facts, r);
		check_status(pkg, &facts, r);
		check_journal(pkg, &facts, r);
		if (facts.cms != NULL)
		{
			STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(facts.cms);

			if (sk_CMS_SignerInfo_num(sis) == 1)
			{
				ASN1_OCTET_STRING *value = CMS_SignerInfo_get0_signature(sk_CMS_SignerInfo_value(sis, 0));

				sha256(ASN1_STRING_get0_data(value), ASN1_STRING_length(value), NULL, 0, imprint);
				have_imprint = true;
			}
		}
		check_timestamp(pkg, "signature-timestamp.tsr", "signature", imprint, have_imprint, &facts, r);
		if (head != NULL)
			sha256(head->data, head->len, NULL, 0, imprint);
		check_timestamp(pkg, "tree-head-timestamp.tsr", "tree head", imprint,
						head != NULL && facts.have_tree_head, &facts, r);
	}
	CMS_ContentInfo_free(facts.cms);
	if (facts.chain)
		sk_X509_pop_free(facts.chain, X509_free);
}
