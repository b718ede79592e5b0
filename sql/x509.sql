-- x509: the certificate type sealpg.x509.
-- Fixtures come from test/fixtures/make-fixtures.sh (made once, embedded
-- here so that this file stands alone).  Most of this file is refusals:
-- each one must fail with 22P02 and a DETAIL that says what is wrong.
CREATE EXTENSION IF NOT EXISTS sealpg;
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_STOP 0
SET timezone = 'UTC';
-- the operators live in schema sealpg: put it on the search path, as an
-- application would (or write OPERATOR(sealpg.=))
SET search_path = public, sealpg;
-- binary COPY files go to the data directory (COPY TO needs an absolute path)
SELECT current_setting('data_directory') || '/sealpg_x509_test.copy' AS copy_file,
	current_setting('data_directory') || '/sealpg_x509_bad.copy' AS bad_copy_file \gset

CREATE TEMP TABLE fx (name text PRIMARY KEY, pem text NOT NULL);
INSERT INTO fx VALUES
('ca', $pem$-----BEGIN CERTIFICATE-----
MIIBtjCCAVygAwIBAgICEAAwCgYIKoZIzj0EAwIwQTEcMBoGA1UEAwwTU2VhbHBn
IFRlc3QgU2VhbCBDQTEUMBIGA1UECgwLU2VhbHBnIFRlc3QxCzAJBgNVBAYTAkZS
MCAXDTI2MDEwMTAwMDAwMFoYDzIwOTkxMjMxMjM1OTU5WjBBMRwwGgYDVQQDDBNT
ZWFscGcgVGVzdCBTZWFsIENBMRQwEgYDVQQKDAtTZWFscGcgVGVzdDELMAkGA1UE
BhMCRlIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASmUneZhGgH590JeyVcT0Hy
hXcA9LM/7wicJXNkgkA3AYHKDojyYpRIdD5FIPhOiapmvHDLwhJHePZHH2of7Hzb
o0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQU
U+F4MphrK65ZXsxYfBEw++vqM+IwCgYIKoZIzj0EAwIDSAAwRQIhAIO/X0zVMBEQ
/oUXr5iXACZZcKoZzkkgosfp9KsFoinlAiBPHN++kHHJF/7U7GkrZ2c1pnXPxKlw
qYPdtcK8KWLdzQ==
-----END CERTIFICATE-----$pem$),
('leaf', $pem$-----BEGIN CERTIFICATE-----
MIIB4TCCAYegAwIBAgIEChssPTAKBggqhkjOPQQDAjBBMRwwGgYDVQQDDBNTZWFs
cGcgVGVzdCBTZWFsIENBMRQwEgYDVQQKDAtTZWFscGcgVGVzdDELMAkGA1UEBhMC
RlIwIBcNMjYwMTAxMDAwMDAwWhgPMjA5OTEyMzEyMzU5NTlaMEwxFTATBgNVBAMM
DEZpbmFuY2UgU2VhbDEUMBIGA1UECgwLU2VhbHBnIFRlc3QxCzAJBgNVBAYTAkZS
MRAwDgYDVQQFEwdFUy0wMDAxMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2Sks
QqgGPE8BDwk1NZe++XZ8AwbXKTi67Kli9rCa7UWrYI0PFvTVcbivBKzpcI+DdLbz
ZCkKY6R6gGUFIgQm+aNgMF4wDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCBsAw
HQYDVR0OBBYEFBauMh8AYxXVGCH6ECDVkJXVMhNqMB8GA1UdIwQYMBaAFFPheDKY
ayuuWV7MWHwRMPvr6jPiMAoGCCqGSM49BAMCA0gAMEUCIE4bDiiGYQdDFlD/unML
SdnumDfGtpEc/Lsre/KtEn06AiEA/vGnexyfXd2bSTeiGkmT8gM8cp+hNN9kjtDa
qXyJBJ0=
-----END CERTIFICATE-----$pem$),
('crl', $pem$-----BEGIN X509 CRL-----
MIIBATCBqQIBATAKBggqhkjOPQQDAjBBMRwwGgYDVQQDDBNTZWFscGcgVGVzdCBT
ZWFsIENBMRQwEgYDVQQKDAtTZWFscGcgVGVzdDELMAkGA1UEBhMCRlIXDTI2MTIw
NjEyNDk0NFoYDzIxMjYxMTEyMTI0OTQ0WjAlMCMCBAobLD0XDTI2MTIwNjEyNDk0
NFowDDAKBgNVHRUEAwoBAaAOMAwwCgYDVR0UBAMCAQEwCgYIKoZIzj0EAwIDRwAw
RAIgF0AKFU56E2hHuCze3LMInFy7FrGnLMvXzBOgFxX3PngCID07oqAUFagyNTVo
7QxAAioTksHfxeEfsE4HqQLwZyZi
-----END X509 CRL-----$pem$);
CREATE TEMP VIEW fx_der AS
	SELECT name, sealpg.x509_der(pem::sealpg.x509) AS der
	FROM fx WHERE name IN ('ca', 'leaf');

-- ===================================================================
-- Accessors
-- ===================================================================
SELECT name,
	sealpg.x509_subject(pem::sealpg.x509) AS subject,
	sealpg.x509_issuer(pem::sealpg.x509) AS issuer,
	sealpg.x509_serial(pem::sealpg.x509) AS serial,
	sealpg.x509_not_before(pem::sealpg.x509) AS not_before,
	sealpg.x509_not_after(pem::sealpg.x509) AS not_after
FROM fx WHERE name IN ('ca', 'leaf') ORDER BY name;

SELECT name,
	encode(sealpg.x509_fingerprint(pem::sealpg.x509), 'hex') AS sha256,
	encode(sealpg.x509_public_key(pem::sealpg.x509), 'base64') AS spki
FROM fx WHERE name IN ('ca', 'leaf') ORDER BY name;

SELECT sealpg.x509_subject_attr(pem::sealpg.x509, 'CN') AS cn,
	sealpg.x509_subject_attr(pem::sealpg.x509, 'organizationName') AS o,
	sealpg.x509_subject_attr(pem::sealpg.x509, '2.5.4.6') AS c,
	sealpg.x509_subject_attr(pem::sealpg.x509, 'serialNumber') AS esid,
	sealpg.x509_subject_attr(pem::sealpg.x509, 'OU') AS ou_absent
FROM fx WHERE name = 'leaf';

-- an unknown attribute name is an argument error, not an input error
SELECT sealpg.x509_subject_attr(pem::sealpg.x509, 'no such attribute') FROM fx WHERE name = 'leaf';

-- STRICT: NULL in, NULL out
SELECT sealpg.x509_subject(NULL) IS NULL AS null_subject;

-- ===================================================================
-- Round trips
-- ===================================================================
-- text -> value -> text gives the same PEM (plus the final newline)
SELECT name, (pem::sealpg.x509)::text = pem || E'\n' AS text_round_trip
FROM fx WHERE name IN ('ca', 'leaf') ORDER BY name;
-- DER -> value -> DER, by function and by cast
SELECT name,
	sealpg.x509_der(sealpg.x509_from_der(der)) = der AS der_round_trip,
	(der::sealpg.x509)::bytea = der AS cast_round_trip,
	sealpg.x509_send(der::sealpg.x509) = der AS send_is_der
FROM fx_der ORDER BY name;
-- CRLF line ends and surrounding white space are accepted
SELECT (E'\n  ' || replace(pem, E'\n', E'\r\n') || E'\r\n\t')::sealpg.x509 = pem::sealpg.x509 AS crlf_ok
FROM fx WHERE name = 'leaf';
-- the fingerprint is the SHA-256 of the DER
SELECT sealpg.x509_fingerprint(der::sealpg.x509) = sha256(der) AS fingerprint_is_sha256
FROM fx_der WHERE name = 'leaf';

-- binary COPY goes through x509_send and x509_recv
CREATE TEMP TABLE copy_src (c sealpg.x509);
INSERT INTO copy_src SELECT pem::sealpg.x509 FROM fx WHERE name IN ('ca', 'leaf');
COPY copy_src TO :'copy_file' (FORMAT binary);
CREATE TEMP TABLE copy_dst (c sealpg.x509);
COPY copy_dst FROM :'copy_file' (FORMAT binary);
SELECT count(*) AS copied, count(*) FILTER (WHERE c IN (SELECT c FROM copy_src)) AS equal FROM copy_dst;

-- ===================================================================
-- Comparison, unique index, hash join, hash aggregation
-- ===================================================================
SELECT a.name, b.name,
	a.pem::sealpg.x509 = b.pem::sealpg.x509 AS eq,
	a.pem::sealpg.x509 <> b.pem::sealpg.x509 AS ne,
	(a.pem::sealpg.x509 < b.pem::sealpg.x509) = (da.der < db.der) AS lt_is_bytewise,
	sealpg.x509_cmp(a.pem::sealpg.x509, b.pem::sealpg.x509) = CASE WHEN da.der < db.der THEN -1 WHEN da.der > db.der THEN 1 ELSE 0 END AS cmp_is_bytewise
FROM fx a JOIN fx_der da USING (name), fx b JOIN fx_der db USING (name)
ORDER BY 1, 2;

CREATE TEMP TABLE seal_certs (id int, cert sealpg.x509 UNIQUE);
INSERT INTO seal_certs SELECT 1, pem::sealpg.x509 FROM fx WHERE name = 'ca';
INSERT INTO seal_certs SELECT 2, pem::sealpg.x509 FROM fx WHERE name = 'leaf';
-- the same certificate twice is refused by the unique index (23505),
-- also when its text differs only in white space
\set VERBOSITY terse
INSERT INTO seal_certs SELECT 3, pem::sealpg.x509 FROM fx WHERE name = 'leaf';
INSERT INTO seal_certs SELECT 4, (pem || E'\n\n')::sealpg.x509 FROM fx WHERE name = 'leaf';
\set VERBOSITY default
SELECT id, sealpg.x509_serial(cert) FROM seal_certs ORDER BY cert;

CREATE INDEX seal_certs_hash ON seal_certs USING hash (cert);
SET enable_mergejoin = off;
SET enable_nestloop = off;
SET enable_sort = off;
CREATE TEMP TABLE uses (cert sealpg.x509);
INSERT INTO uses SELECT pem::sealpg.x509 FROM fx, generate_series(1, 3) WHERE name IN ('ca', 'leaf');
EXPLAIN (COSTS OFF) SELECT s.id, count(*) FROM uses u JOIN seal_certs s ON u.cert = s.cert GROUP BY s.id;
SELECT s.id, count(*) FROM uses u JOIN seal_certs s ON u.cert = s.cert GROUP BY s.id ORDER BY s.id;
EXPLAIN (COSTS OFF) SELECT cert, count(*) FROM uses GROUP BY cert;
SELECT sealpg.x509_serial(cert), count(*) FROM uses GROUP BY cert ORDER BY 1;
RESET enable_mergejoin;
RESET enable_nestloop;
RESET enable_sort;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM seal_certs WHERE cert = (SELECT pem::sealpg.x509 FROM fx WHERE name = 'leaf');
SELECT id FROM seal_certs WHERE cert = (SELECT pem::sealpg.x509 FROM fx WHERE name = 'leaf');
RESET enable_seqscan;

-- ===================================================================
-- Malformed text input (each: 22P02 and a precise DETAIL)
-- ===================================================================
-- 1. empty
SELECT ''::sealpg.x509;
-- 2. only white space
SELECT E' \n\t\r\n '::sealpg.x509;
-- 3. not PEM at all
SELECT 'hello'::sealpg.x509;
-- 4. a CRL where a certificate is expected
SELECT pem::sealpg.x509 FROM fx WHERE name = 'crl';
-- 5. a private key
SELECT E'-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----'::sealpg.x509;
-- 6. a certificate request
SELECT E'-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----'::sealpg.x509;
-- 7. OpenSSL's "trusted certificate" form is not a plain certificate
SELECT replace(pem, 'CERTIFICATE', 'TRUSTED CERTIFICATE')::sealpg.x509 FROM fx WHERE name = 'leaf';
-- 8. no END line
SELECT substr(pem, 1, 200)::sealpg.x509 FROM fx WHERE name = 'leaf';
-- 9. END line with another label
SELECT replace(pem, '-----END CERTIFICATE-----', '-----END X509 CRL-----')::sealpg.x509 FROM fx WHERE name = 'leaf';
-- 10. text after the END line
SELECT (pem || E'\nissued by the finance office')::sealpg.x509 FROM fx WHERE name = 'leaf';
-- 11. two certificates in one value
SELECT (a.pem || E'\n' || b.pem)::sealpg.x509 FROM fx a, fx b WHERE a.name = 'leaf' AND b.name = 'ca';
-- 12. a character that is not base64
SELECT regexp_replace(pem, 'MIIB', 'MI!B')::sealpg.x509 FROM fx WHERE name = 'leaf';
-- 13. base64 with a character missing
SELECT regexp_replace(pem, 'MIIB', 'MIB')::sealpg.x509 FROM fx WHERE name = 'leaf';
-- 14. base64 that goes on after its padding
SELECT E'-----BEGIN CERTIFICATE-----\nMA==MAAA\n-----END CERTIFICATE-----'::sealpg.x509;
-- 15. an empty block
SELECT E'-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----'::sealpg.x509;
-- 16. PEM headers (encrypted PEM)
SELECT replace(pem, E'-----BEGIN CERTIFICATE-----\n', E'-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n')::sealpg.x509 FROM fx WHERE name = 'leaf';
-- 17. a BEGIN line that is not closed
SELECT replace(pem, '-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE')::sealpg.x509 FROM fx WHERE name = 'leaf';
-- 18. valid base64 that is not DER
SELECT E'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'::sealpg.x509;

-- ===================================================================
-- Malformed DER (x509_from_der and the bytea cast share the checker)
-- ===================================================================
-- 19. empty
SELECT sealpg.x509_from_der('');
-- 20. truncated
SELECT sealpg.x509_from_der(substr(der, 1, 300)) FROM fx_der WHERE name = 'leaf';
-- 21. trailing bytes after the certificate
SELECT sealpg.x509_from_der(der || '\x0000'::bytea) FROM fx_der WHERE name = 'leaf';
-- 22. an absurd length in the header
SELECT sealpg.x509_from_der('\x3084ffffffff0000');
-- 23. a length given in 9 bytes
SELECT sealpg.x509_from_der('\x3089010000000000000000');
-- 24. indefinite length (BER, not DER)
SELECT sealpg.x509_from_der('\x308002010000000000');
-- 25. a length not in its shortest form
SELECT sealpg.x509_from_der('\x3081050201000500');
-- 26. not a SEQUENCE
SELECT sealpg.x509_from_der('\x0401ff');
-- 27. a SEQUENCE that is not a certificate
SELECT sealpg.x509_from_der('\x3003020100');
-- 28. a CRL's DER
SELECT sealpg.x509_from_der(decode(regexp_replace(pem, '-----[^-]*-----|\s', '', 'g'), 'base64')) FROM fx WHERE name = 'crl';
-- 29. not canonical DER: the validity SEQUENCE's length in long form (81 20)
SELECT sealpg.x509_from_der('\x308201e2308201 88'::bytea || substr(der, 9, p - 9) || '\x308120'::bytea || substr(der, p + 2))
FROM (SELECT der, position('\x3020170d'::bytea IN der) AS p FROM fx_der WHERE name = 'leaf') AS validity;
-- 30. a validity time that is not a time (notBefore "2X0101000000Z")
SELECT sealpg.x509_from_der(set_byte(der, position('\x170d'::bytea IN der) + 1, ascii('X'))) FROM fx_der WHERE name = 'leaf';
-- 31. larger than any certificate
SELECT sealpg.x509_from_der('\x30' || decode(repeat('00', 1100000), 'hex'));
-- 32. the bytea cast refuses the same way
SELECT '\x3003020100'::bytea::sealpg.x509;
-- 33. binary input (x509_recv): a binary COPY whose field is not a certificate
COPY (SELECT '\x3003020100'::bytea) TO :'bad_copy_file' (FORMAT binary);
COPY copy_dst FROM :'bad_copy_file' (FORMAT binary);
SELECT count(*) AS still_two FROM copy_dst;
