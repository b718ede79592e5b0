#!/usr/bin/env bash
# OCSP and CRLs are read-only: on a hot standby sealpg.ocsp_respond()
# answers (revoked, as the primary decided), sealpg.crl() returns the CRL
# the primary issued, and a loss report there is refused with 25006.  The
# standby is a pg_basebackup of the test instance, on a port and socket of
# its own, stopped at the end.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok - $*"; }
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root to run a second cluster as postgres"; exit 77; }
command -v openssl >/dev/null || { echo "openssl missing"; exit 77; }
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
DB=sealpg_it_rev_standby
SB=$SEALPG_TEST_DIR/standby-revocation
SBSOCK=$SEALPG_TEST_DIR/standby-revocation-sock
SBPORT=$((PGPORT + 101))
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealpg-revsb.XXXXXX")
. "$(dirname "$0")/standby.bash"
trap 'stop_standby; rm -rf "$WORK"' EXIT
stop_standby

# on the primary: a responder, a seal reported stolen, a CRL issued
$PSQL -d postgres -c "CREATE DATABASE $DB" >/dev/null
$PSQL -d $DB >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sealpg;
SELECT sealpg.authority_init('Standby Revocation Authority');
SELECT sealpg.ocsp_responder_init();
SELECT sealpg.create_organisation('Standby Revocation Org') AS org \gset
SELECT sealpg.create_seal('SBR-1', 'standby seal', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.create_seal('SBR-2', 'standby seal 2', 'contract', :'org', now() + interval '1 year');
SELECT sealpg.enroll('SBR-1');
SELECT sealpg.report_loss('SBR-1', 'stolen', 'standby test');
SELECT length(sealpg.crl());
SQL
$PSQL -d $DB -tA -c "SELECT sealpg.authority_certificate()" > "$WORK/authority.pem"
$PSQL -d $DB -tA -c "SELECT certificate FROM sealpg.certificates" > "$WORK/seal.pem"

start_standby "$SEALPG_TEST_DIR/standby-revocation.log"
wait_standby "SELECT count(*) FROM sealpg.crls" 1

# OCSP on the standby
openssl ocsp -issuer "$WORK/authority.pem" -cert "$WORK/seal.pem" -no_nonce -reqout "$WORK/req.der" 2>/dev/null
$SPSQL -tA -c "SELECT encode(sealpg.ocsp_respond(decode('$(od -An -v -tx1 "$WORK/req.der" | tr -d ' \n')', 'hex')), 'hex')" \
	| perl -0777 -ne 'print pack("H*", join("", split(/\s+/)))' > "$WORK/resp.der"
out=$(openssl ocsp -respin "$WORK/resp.der" -no_nonce -CAfile "$WORK/authority.pem" -issuer "$WORK/authority.pem" \
	-cert "$WORK/seal.pem" 2>&1 || true)
grep -q "Response verify OK" <<<"$out" && grep -q "seal.pem: revoked" <<<"$out" || fail "OCSP on the standby: $out"
pass "ocsp_respond() answers on a hot standby: revoked, signed through the token"

# the CRL the primary issued
a=$($PSQL -d $DB -tA -c "SELECT md5(sealpg.crl())")
b=$($SPSQL -tA -c "SELECT md5(sealpg.crl())")
[ "$a" = "$b" ] || fail "the standby's CRL is not the primary's"
pass "crl() on the standby returns the primary's CRL"

# writes are refused there
out=$($SPSQL -tA -c "\\set VERBOSITY sqlstate" -c "SET ROLE postgres" -c "SELECT sealpg.report_loss('SBR-2', 'lost', 'x')" 2>&1 || true)
grep -q 25006 <<<"$out" || fail "a loss report on the standby was not refused with 25006: $out"
out=$($SPSQL -tA -c "\\set VERBOSITY sqlstate" -c "SELECT sealpg.delta_crl()" 2>&1 || true)
grep -q 25006 <<<"$out" || fail "delta_crl() with none issued was not refused with 25006: $out"
pass "a loss report and an unissued delta CRL are refused on the standby with 25006"
