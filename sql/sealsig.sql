-- sealsig: the seal signature type sealpg.sealsig (CMS SignedData).
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
SELECT current_setting('data_directory') || '/sealpg_sealsig_test.copy' AS copy_file,
	current_setting('data_directory') || '/sealpg_sealsig_bad.copy' AS bad_copy_file \gset

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
('detached', $pem$-----BEGIN CMS-----
MIIFdAYJKoZIhvcNAQcCoIIFZTCCBWECAQExDTALBglghkgBZQMEAgEwCwYJKoZI
hvcNAQcBoIIDnzCCAbYwggFcoAMCAQICAhAAMAoGCCqGSM49BAMCMEExHDAaBgNV
BAMME1NlYWxwZyBUZXN0IFNlYWwgQ0ExFDASBgNVBAoMC1NlYWxwZyBUZXN0MQsw
CQYDVQQGEwJGUjAgFw0yNjAxMDEwMDAwMDBaGA8yMDk5MTIzMTIzNTk1OVowQTEc
MBoGA1UEAwwTU2VhbHBnIFRlc3QgU2VhbCBDQTEUMBIGA1UECgwLU2VhbHBnIFRl
c3QxCzAJBgNVBAYTAkZSMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEplJ3mYRo
B+fdCXslXE9B8oV3APSzP+8InCVzZIJANwGByg6I8mKUSHQ+RSD4TomqZrxwy8IS
R3j2Rx9qH+x826NCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYw
HQYDVR0OBBYEFFPheDKYayuuWV7MWHwRMPvr6jPiMAoGCCqGSM49BAMCA0gAMEUC
IQCDv19M1TAREP6FF6+YlwAmWXCqGc5JIKLH6fSrBaIp5QIgTxzfvpBxyRf+1Oxp
K2dnNaZ1z8SpcKmD3bXCvCli3c0wggHhMIIBh6ADAgECAgQKGyw9MAoGCCqGSM49
BAMCMEExHDAaBgNVBAMME1NlYWxwZyBUZXN0IFNlYWwgQ0ExFDASBgNVBAoMC1Nl
YWxwZyBUZXN0MQswCQYDVQQGEwJGUjAgFw0yNjAxMDEwMDAwMDBaGA8yMDk5MTIz
MTIzNTk1OVowTDEVMBMGA1UEAwwMRmluYW5jZSBTZWFsMRQwEgYDVQQKDAtTZWFs
cGcgVGVzdDELMAkGA1UEBhMCRlIxEDAOBgNVBAUTB0VTLTAwMDEwWTATBgcqhkjO
PQIBBggqhkjOPQMBBwNCAATZKSxCqAY8TwEPCTU1l775dnwDBtcpOLrsqWL2sJrt
RatgjQ8W9NVxuK8ErOlwj4N0tvNkKQpjpHqAZQUiBCb5o2AwXjAMBgNVHRMBAf8E
AjAAMA4GA1UdDwEB/wQEAwIGwDAdBgNVHQ4EFgQUFq4yHwBjFdUYIfoQINWQldUy
E2owHwYDVR0jBBgwFoAUU+F4MphrK65ZXsxYfBEw++vqM+IwCgYIKoZIzj0EAwID
SAAwRQIgThsOKIZhB0MWUP+6cwtJ2e6YN8a2kRz8uyt78q0SfToCIQD+8ad7HJ9d
3ZtJN6IaSZPyAzxyn6E032SO0NqpfIkEnTGCAZswggGXAgEBMEkwQTEcMBoGA1UE
AwwTU2VhbHBnIFRlc3QgU2VhbCBDQTEUMBIGA1UECgwLU2VhbHBnIFRlc3QxCzAJ
BgNVBAYTAkZSAgQKGyw9MAsGCWCGSAFlAwQCAaCB5DAYBgkqhkiG9w0BCQMxCwYJ
KoZIhvcNAQcBMBwGCSqGSIb3DQEJBTEPFw0yNjEyMDYxMjQ5NDRaMC8GCSqGSIb3
DQEJBDEiBCBIsm8dnUeh4FJFWzQj3qNL1PR3t/HANKy/ABzBzt3VqzB5BgkqhkiG
9w0BCQ8xbDBqMAsGCWCGSAFlAwQBKjALBglghkgBZQMEARYwCwYJYIZIAWUDBAEC
MAoGCCqGSIb3DQMHMA4GCCqGSIb3DQMCAgIAgDANBggqhkiG9w0DAgIBQDAHBgUr
DgMCBzANBggqhkiG9w0DAgIBKDAKBggqhkjOPQQDAgRHMEUCIQCrMYN5YcIEpTDP
mVBQbvMUr2C77h132HodbfbtlU08QAIgIvyHFpf0TrPfXiUI+S0nJ4xp+xsqekOD
NY2JktOWnd0=
-----END CMS-----$pem$),
('attached', $pem$-----BEGIN CMS-----
MIIEAgYJKoZIhvcNAQcCoIID8zCCA+8CAQExDTALBglghkgBZQMEAgEwUgYJKoZI
hvcNAQcBoEUEQ0NvbnRyYWN0IDIwMjYtMDAxOiB0aGUgZmluYW5jZSBzZWFsIGFw
cHJvdmVzIHBheW1lbnQgb2YgMSwwMDAgRVVSLgqgggHlMIIB4TCCAYegAwIBAgIE
ChssPTAKBggqhkjOPQQDAjBBMRwwGgYDVQQDDBNTZWFscGcgVGVzdCBTZWFsIENB
MRQwEgYDVQQKDAtTZWFscGcgVGVzdDELMAkGA1UEBhMCRlIwIBcNMjYwMTAxMDAw
MDAwWhgPMjA5OTEyMzEyMzU5NTlaMEwxFTATBgNVBAMMDEZpbmFuY2UgU2VhbDEU
MBIGA1UECgwLU2VhbHBnIFRlc3QxCzAJBgNVBAYTAkZSMRAwDgYDVQQFEwdFUy0w
MDAxMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2SksQqgGPE8BDwk1NZe++XZ8
AwbXKTi67Kli9rCa7UWrYI0PFvTVcbivBKzpcI+DdLbzZCkKY6R6gGUFIgQm+aNg
MF4wDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCBsAwHQYDVR0OBBYEFBauMh8A
YxXVGCH6ECDVkJXVMhNqMB8GA1UdIwQYMBaAFFPheDKYayuuWV7MWHwRMPvr6jPi
MAoGCCqGSM49BAMCA0gAMEUCIE4bDiiGYQdDFlD/unMLSdnumDfGtpEc/Lsre/Kt
En06AiEA/vGnexyfXd2bSTeiGkmT8gM8cp+hNN9kjtDaqXyJBJ0xggGcMIIBmAIB
ATBJMEExHDAaBgNVBAMME1NlYWxwZyBUZXN0IFNlYWwgQ0ExFDASBgNVBAoMC1Nl
YWxwZyBUZXN0MQswCQYDVQQGEwJGUgIEChssPTALBglghkgBZQMEAgGggeQwGAYJ
KoZIhvcNAQkDMQsGCSqGSIb3DQEHATAcBgkqhkiG9w0BCQUxDxcNMjYxMjA2MTI0
OTQ0WjAvBgkqhkiG9w0BCQQxIgQgSLJvHZ1HoeBSRVs0I96jS9T0d7fxwDSsvwAc
wc7d1asweQYJKoZIhvcNAQkPMWwwajALBglghkgBZQMEASowCwYJYIZIAWUDBAEW
MAsGCWCGSAFlAwQBAjAKBggqhkiG9w0DBzAOBggqhkiG9w0DAgICAIAwDQYIKoZI
hvcNAwICAUAwBwYFKw4DAgcwDQYIKoZIhvcNAwICASgwCgYIKoZIzj0EAwIESDBG
AiEA4YX2m8d+YGaLQnRMANyEOvAvW2cEEbnny4tnqmMRir4CIQDQyg2isUr8SDuG
wxkrQkLfOMoSx6d0xP1777KeC9vaeg==
-----END CMS-----$pem$),
('enveloped', $pem$-----BEGIN CMS-----
MIIBgwYJKoZIhvcNAQcDoIIBdDCCAXACAQIxgeyhgekCAQOgUaFPMAkGByqGSM49
AgEDQgAEhoqVHYGrUYnXr9a773m/+VeyO0rN81nYMy+H9biOMwTTu784e3jLxvFI
Ok4O7OF0O/jMswTimMvUvLjjxhjvnzAYBgkrgQUQhkg/AAIwCwYJYIZIAWUDBAEt
MHcwdTBJMEExHDAaBgNVBAMME1NlYWxwZyBUZXN0IFNlYWwgQ0ExFDASBgNVBAoM
C1NlYWxwZyBUZXN0MQswCQYDVQQGEwJGUgIEChssPQQotVXNwogWkyZCGTbdukw0
Sj9prSX5yTtdekXxHPrl4jLRz+OvERLX6zB8BgkqhkiG9w0BBwEwHQYJYIZIAWUD
BAEqBBAKoNMXwhM5gvbFydjddbO1gFAaKi3TSOOxwQXPWc2WuVeUv5yzvSf42AyV
TdytGv9VhfRi4S7jGKWH4Wl+YH/Jksb/oFiMXATTSw8MH7EjPau0ZGsmVpdKTG6v
2gEj6FXrqQ==
-----END CMS-----$pem$),
('data', $pem$-----BEGIN CMS-----
MFIGCSqGSIb3DQEHAaBFBENDb250cmFjdCAyMDI2LTAwMTogdGhlIGZpbmFuY2Ug
c2VhbCBhcHByb3ZlcyBwYXltZW50IG9mIDEsMDAwIEVVUi4K
-----END CMS-----$pem$),
('certs-only', $pem$-----BEGIN PKCS7-----
MIICEAYJKoZIhvcNAQcCoIICATCCAf0CAQExADALBgkqhkiG9w0BBwGgggHlMIIB
4TCCAYegAwIBAgIEChssPTAKBggqhkjOPQQDAjBBMRwwGgYDVQQDDBNTZWFscGcg
VGVzdCBTZWFsIENBMRQwEgYDVQQKDAtTZWFscGcgVGVzdDELMAkGA1UEBhMCRlIw
IBcNMjYwMTAxMDAwMDAwWhgPMjA5OTEyMzEyMzU5NTlaMEwxFTATBgNVBAMMDEZp
bmFuY2UgU2VhbDEUMBIGA1UECgwLU2VhbHBnIFRlc3QxCzAJBgNVBAYTAkZSMRAw
DgYDVQQFEwdFUy0wMDAxMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2SksQqgG
PE8BDwk1NZe++XZ8AwbXKTi67Kli9rCa7UWrYI0PFvTVcbivBKzpcI+DdLbzZCkK
Y6R6gGUFIgQm+aNgMF4wDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCBsAwHQYD
VR0OBBYEFBauMh8AYxXVGCH6ECDVkJXVMhNqMB8GA1UdIwQYMBaAFFPheDKYayuu
WV7MWHwRMPvr6jPiMAoGCCqGSM49BAMCA0gAMEUCIE4bDiiGYQdDFlD/unMLSdnu
mDfGtpEc/Lsre/KtEn06AiEA/vGnexyfXd2bSTeiGkmT8gM8cp+hNN9kjtDaqXyJ
BJ0xAA==
-----END PKCS7-----$pem$);
-- attached content, streamed: BER with indefinite lengths
CREATE TEMP TABLE fx_ber (name text PRIMARY KEY, ber bytea NOT NULL);
INSERT INTO fx_ber VALUES ('streamed', decode('308006092a864886f70d010702a0803080020101310d300b0609608648016503040201308006092a864886f70d010701a08024800443436f6e747261637420323032362d3030313a207468652066696e616e6365207365616c20617070726f766573207061796d656e74206f6620312c303030204555522e0a000000000000a08201e5308201e130820187a00302010202040a1b2c3d300a06082a8648ce3d0403023041311c301a06035504030c135365616c70672054657374205365616c20434131143012060355040a0c0b5365616c70672054657374310b30090603550406130246523020170d3236303130313030303030305a180f32303939313233313233353935395a304c3115301306035504030c0c46696e616e6365205365616c31143012060355040a0c0b5365616c70672054657374310b30090603550406130246523110300e0603550405130745532d303030313059301306072a8648ce3d020106082a8648ce3d03010703420004d9292c42a8063c4f010f09353597bef9767c0306d72938baeca962f6b09aed45ab608d0f16f4d571b8af04ace9708f8374b6f364290a63a47a806505220426f9a360305e300c0603551d130101ff04023000300e0603551d0f0101ff0404030206c0301d0603551d0e0416041416ae321f006315d51821fa1020d59095d532136a301f0603551d2304183016801453e17832986b2bae595ecc587c1130fbebea33e2300a06082a8648ce3d040302034800304502204e1b0e28866107431650ffba730b49d9ee9837c6b6911cfcbb2b7bf2ad127d3a022100fef1a77b1c9f5ddd9b4937a21a4993f2033c729fa134df648ed0daa97c89049d3182019b3082019702010130493041311c301a06035504030c135365616c70672054657374205365616c20434131143012060355040a0c0b5365616c70672054657374310b300906035504061302465202040a1b2c3d300b0609608648016503040201a081e4301806092a864886f70d010903310b06092a864886f70d010701301c06092a864886f70d010905310f170d3236313230363132343934345a302f06092a864886f70d0109043122042048b26f1d9d47a1e052455b3423dea34bd4f477b7f1c034acbf001cc1ceddd5ab307906092a864886f70d01090f316c306a300b060960864801650304012a300b0609608648016503040116300b0609608648016503040102300a06082a864886f70d0307300e06082a864886f70d030202020080300d06082a864886f70d0302020140300706052b0e030207300d06082a864886f70d0302020128300a06082a8648ce3d04030204473045022100cb57c1f6a97a4f089f0fac3de6445bb463e6ddac5d206387e40f72a77709b12e02207286cd6170ab8f2eb416dd396a106d9979704d17d2d5f561643a68e8717c4789000000000000', 'hex'));
CREATE TEMP VIEW fx_der AS
	SELECT name, sealpg.sealsig_der(pem::sealpg.sealsig) AS der
	FROM fx WHERE name IN ('detached', 'attached');

-- ===================================================================
-- Accessors
-- ===================================================================
SELECT name,
	sealpg.sealsig_signer_count(pem::sealpg.sealsig) AS signers,
	sealpg.sealsig_signer_serial(pem::sealpg.sealsig) AS signer_serial,
	sealpg.sealsig_signer_issuer(pem::sealpg.sealsig) AS signer_issuer,
	sealpg.sealsig_signing_time(pem::sealpg.sealsig) AS signing_time,
	sealpg.sealsig_digest_algorithm(pem::sealpg.sealsig) AS digest,
	sealpg.sealsig_is_detached(pem::sealpg.sealsig) AS detached
FROM fx WHERE name IN ('detached', 'attached') ORDER BY name;

-- the attached content; NULL when detached
SELECT name, convert_from(sealpg.sealsig_content(pem::sealpg.sealsig), 'UTF8') AS content
FROM fx WHERE name IN ('detached', 'attached') ORDER BY name;

-- embedded certificates come back as sealpg.x509 values
SELECT s.name, cardinality(sealpg.sealsig_certificates(s.pem::sealpg.sealsig)) AS ncerts,
	sealpg.sealsig_certificates(s.pem::sealpg.sealsig) @> ARRAY[l.pem::sealpg.x509] AS has_leaf,
	sealpg.sealsig_certificates(s.pem::sealpg.sealsig) @> ARRAY[c.pem::sealpg.x509] AS has_ca
FROM fx s, fx l, fx c
WHERE s.name IN ('detached', 'attached') AND l.name = 'leaf' AND c.name = 'ca'
ORDER BY s.name;
SELECT sealpg.x509_subject(unnest(sealpg.sealsig_certificates(pem::sealpg.sealsig))) AS subject
FROM fx WHERE name = 'detached' ORDER BY 1;

-- the signer named by the signature is the leaf certificate
SELECT sealpg.sealsig_signer_serial(s.pem::sealpg.sealsig) = sealpg.x509_serial(l.pem::sealpg.x509)
	AND sealpg.sealsig_signer_issuer(s.pem::sealpg.sealsig) = sealpg.x509_issuer(l.pem::sealpg.x509) AS signer_is_leaf
FROM fx s, fx l WHERE s.name = 'detached' AND l.name = 'leaf';

-- BER (indefinite lengths) is accepted and kept byte for byte
SELECT sealpg.sealsig_der(sealpg.sealsig_from_der(ber)) = ber AS ber_kept,
	sealpg.sealsig_is_detached(ber::sealpg.sealsig) AS detached,
	convert_from(sealpg.sealsig_content(ber::sealpg.sealsig), 'UTF8') AS content
FROM fx_ber;

-- STRICT: NULL in, NULL out
SELECT sealpg.sealsig_signing_time(NULL) IS NULL AS null_time;

-- ===================================================================
-- Round trips and the accepted text forms
-- ===================================================================
-- PEM CMS -> value -> PEM CMS
SELECT name, (pem::sealpg.sealsig)::text = pem || E'\n' AS text_round_trip
FROM fx WHERE name IN ('detached', 'attached') ORDER BY name;
-- DER -> value -> DER, by function and by cast
SELECT name,
	sealpg.sealsig_der(sealpg.sealsig_from_der(der)) = der AS der_round_trip,
	(der::sealpg.sealsig)::bytea = der AS cast_round_trip,
	sealpg.sealsig_send(der::sealpg.sealsig) = der AS send_is_der
FROM fx_der ORDER BY name;
-- the PKCS7 label and bare base64 are accepted and give the same value
SELECT sealpg.sealsig_der(replace(pem, 'CMS-----', 'PKCS7-----')::sealpg.sealsig) = der AS pkcs7_label,
	sealpg.sealsig_der(encode(der, 'base64')::sealpg.sealsig) = der AS bare_base64,
	sealpg.sealsig_der(('  ' || replace(encode(der, 'base64'), E'\n', '') || E'\n')::sealpg.sealsig) = der AS one_line_base64
FROM fx JOIN fx_der USING (name) WHERE name = 'detached';

-- binary COPY goes through sealsig_send and sealsig_recv
CREATE TEMP TABLE copy_src (s sealpg.sealsig);
INSERT INTO copy_src SELECT pem::sealpg.sealsig FROM fx WHERE name IN ('detached', 'attached');
INSERT INTO copy_src SELECT ber::sealpg.sealsig FROM fx_ber;
COPY copy_src TO :'copy_file' (FORMAT binary);
CREATE TEMP TABLE copy_dst (s sealpg.sealsig);
COPY copy_dst FROM :'copy_file' (FORMAT binary);
SELECT count(*) AS copied,
	count(*) FILTER (WHERE s::bytea IN (SELECT s::bytea FROM copy_src)) AS equal
FROM copy_dst;

-- ===================================================================
-- Malformed text input (each: 22P02 and a precise DETAIL)
-- ===================================================================
-- 1. empty
SELECT ''::sealpg.sealsig;
-- 2. only white space
SELECT E'\n \t \n'::sealpg.sealsig;
-- 3. not base64
SELECT 'hello, world'::sealpg.sealsig;
-- 4. base64 of bytes that are not DER
SELECT 'AAECAwQFBgcICQ=='::sealpg.sealsig;
-- 5. base64 cut short
SELECT 'MA='::sealpg.sealsig;
-- 6. a certificate where a signature is expected (PEM)
SELECT pem::sealpg.sealsig FROM fx WHERE name = 'leaf';
-- 7. a certificate where a signature is expected (bare base64 of its DER)
SELECT regexp_replace(pem, '-----[^-]*-----', '', 'g')::sealpg.sealsig FROM fx WHERE name = 'leaf';
-- 8. CMS EnvelopedData: encrypted, not signed
SELECT pem::sealpg.sealsig FROM fx WHERE name = 'enveloped';
-- 9. CMS of type data: no signature at all
SELECT pem::sealpg.sealsig FROM fx WHERE name = 'data';
-- 10. a SignedData with certificates and no signer
SELECT pem::sealpg.sealsig FROM fx WHERE name = 'certs-only';
-- 11. no END line
SELECT substr(pem, 1, 300)::sealpg.sealsig FROM fx WHERE name = 'detached';
-- 12. text after the END line
SELECT (pem || E'\n-- signed by the finance office')::sealpg.sealsig FROM fx WHERE name = 'detached';
-- 13. a PEM label that is neither CMS nor PKCS7
SELECT replace(pem, 'CMS-----', 'X509 CRL-----')::sealpg.sealsig FROM fx WHERE name = 'detached';
-- 14. BEGIN CMS ... END PKCS7
SELECT replace(pem, 'END CMS', 'END PKCS7')::sealpg.sealsig FROM fx WHERE name = 'detached';

-- ===================================================================
-- Malformed DER/BER (sealsig_from_der and the bytea cast share the checker)
-- ===================================================================
-- 15. empty
SELECT sealpg.sealsig_from_der('');
-- 16. truncated DER
SELECT sealpg.sealsig_from_der(substr(der, 1, 500)) FROM fx_der WHERE name = 'detached';
-- 17. trailing bytes after the DER
SELECT sealpg.sealsig_from_der(der || '\x00'::bytea) FROM fx_der WHERE name = 'detached';
-- 18. trailing bytes after BER with an indefinite length
SELECT sealpg.sealsig_from_der(ber || '\xdeadbeef'::bytea) FROM fx_ber;
-- 19. truncated BER with an indefinite length
SELECT sealpg.sealsig_from_der(substr(ber, 1, length(ber) - 2)) FROM fx_ber;
-- 20. an absurd length in the header
SELECT sealpg.sealsig_from_der('\x3084ffffffff0000');
-- 21. a length given in 5 bytes
SELECT sealpg.sealsig_from_der('\x30850100000000');
-- 22. not a SEQUENCE
SELECT sealpg.sealsig_from_der('\x020101');
-- 23. a signing time that is not a time ("2X1206...")
SELECT sealpg.sealsig_from_der(set_byte(der, position('\x06092a864886f70d010905310f170d'::bytea IN der) + 14, ascii('X')))
FROM fx_der WHERE name = 'detached';
-- 24. the bytea cast refuses the same way
SELECT '\x3003020100'::bytea::sealpg.sealsig;
-- 25. binary input (sealsig_recv): a binary COPY whose field is a certificate
COPY (SELECT sealpg.x509_der(pem::sealpg.x509) FROM fx WHERE name = 'leaf') TO :'bad_copy_file' (FORMAT binary);
COPY copy_dst FROM :'bad_copy_file' (FORMAT binary);
SELECT count(*) AS still_three FROM copy_dst;
