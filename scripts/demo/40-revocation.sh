# Chapter 40: the physical seal is stolen.  One call revokes it; the next
# signature is refused; the world is told by NOTIFY, by a CRL and by OCSP,
# each checked with the openssl command line.  Sourced by
# scripts/sealpg-demo.sh after chapter 30 (which enrolled ES-NW-0001,
# granted it to demo_clerk, signed, then froze it for an audit).

# demo40_bytes: hex on stdin, bytes on stdout
demo40_bytes() { perl -0777 -ne 'print pack("H*", join("", split(/\s+/)))'; }

say "40.1 The audit is over: the seal is unfrozen and signs again"
demo_value "SELECT sealpg.unfreeze('ES-NW-0001', 'audit closed, nothing found')" >/dev/null
demo_value "SET ROLE demo_clerk; SELECT sealpg.sign('ES-NW-0001', 'delivery note 17') IS NOT NULL" >/dev/null
demo_sql "SELECT es_id, status FROM sealpg.seals WHERE es_id = 'ES-NW-0001'"

say "40.2 The physical seal is stolen: one call, and it is revoked at once (keyCompromise)"
# CMS signing times and OCSP revocation times have whole seconds: a
# verifier can tell that a signature came before a revocation only when
# they fall in different seconds, and this demo runs faster than that.
sleep 1
echo "  (this psql session LISTENs on sealpg_revocation, as any application can)"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -P footer=off \
	-c "LISTEN sealpg_revocation" \
	-c "SELECT sealpg.report_loss('ES-NW-0001', 'stolen', 'safe of the contracts office forced open',
		noticed_at => now() - interval '1 second') IS NOT NULL AS reported" 2>&1 |
	sed 's/^/    /; s/received from server process with PID [0-9]*/received/'
demo_sql "SELECT sealpg.reason_name(r.reason_code) AS reason, r.actor, date_trunc('second', r.revoked_at)::timestamp AS revoked_at,
	date_trunc('second', r.invalidity_date)::timestamp AS invalid_since, r.note
	FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id)
	WHERE s.es_id = 'ES-NW-0001' AND r.ended_at IS NULL"

say "40.3 The next signature is refused with the revoked SQLSTATE, and the refusal is recorded"
demo_refused "SET ROLE demo_clerk; SELECT sealpg.sign('ES-NW-0001', 'a forged contract')"
for i in $(seq 1 50); do
	[ "$(demo_value "SELECT count(*) FROM sealpg.refused_signings WHERE sqlstate = 'SE001'")" -ge 1 ] && break
	sleep 0.1
done
demo_sql "SELECT es_id, operator, sqlstate, reason FROM sealpg.refused_signings WHERE sqlstate = 'SE001'"

say "40.4 The CRL, signed by the authority through its chip, says so"
demo_value "SELECT encode(sealpg.crl(), 'hex')" | demo40_bytes > "$DEMO_OUT/authority.crl"
echo "  \$ openssl crl -inform DER -in authority.crl -CAfile authority.pem -noout"
openssl crl -inform DER -in "$DEMO_OUT/authority.crl" -CAfile "$DEMO_OUT/authority.pem" -noout 2>&1 | sed 's/^/    /'
openssl crl -inform DER -in "$DEMO_OUT/authority.crl" -text -noout |
	grep -E 'CRL Number|Serial Number|Reason|Key Compromise|Invalidity|Hold|Superseded' -A1 | grep -v '^--' | sed 's/^/    /'
openssl crl -inform DER -in "$DEMO_OUT/authority.crl" -out "$DEMO_OUT/authority-crl.pem"
echo "  \$ openssl verify -crl_check -CAfile authority.pem -CRLfile authority-crl.pem seal.pem"
openssl verify -crl_check -CAfile "$DEMO_OUT/authority.pem" -CRLfile "$DEMO_OUT/authority-crl.pem" \
	"$DEMO_OUT/seal.pem" 2>&1 | sed "s|$DEMO_OUT/||g; s/^/    /" || true
rm -f "$DEMO_OUT/authority-crl.pem"

say "40.5 OCSP over HTTP (sealpg-ocspd on loopback) says so too"
demo_value "SELECT sealpg.ocsp_responder_init()" > "$DEMO_OUT/ocsp-responder.pem"
if [ -x "$PGBIN/sealpg-ocspd" ]; then
	OCSP_PORT40=$((20000 + RANDOM % 20000))
	"$PGBIN/sealpg-ocspd" --listen 127.0.0.1 --port "$OCSP_PORT40" > "$DEMO_OUT/.ocspd.log" 2>&1 &
	OCSPD40=$!
	for i in $(seq 1 50); do grep -q listening "$DEMO_OUT/.ocspd.log" && break; sleep 0.1; done
	echo "  \$ openssl ocsp -url http://127.0.0.1:$OCSP_PORT40 -issuer authority.pem -cert seal.pem -CAfile authority.pem"
	openssl ocsp -url "http://127.0.0.1:$OCSP_PORT40" -issuer "$DEMO_OUT/authority.pem" -cert "$DEMO_OUT/seal.pem" \
		-CAfile "$DEMO_OUT/authority.pem" -respout "$DEMO_OUT/seal-ocsp.der" 2>&1 | sed "s|$DEMO_OUT/||g; s/^/    /"
	kill "$OCSPD40" 2>/dev/null || true
	wait "$OCSPD40" 2>/dev/null || true
	rm -f "$DEMO_OUT/.ocspd.log"
else
	echo "  (sealpg-ocspd is not installed: asking sealpg.ocsp_respond() directly)"
	openssl ocsp -issuer "$DEMO_OUT/authority.pem" -cert "$DEMO_OUT/seal.pem" -reqout "$DEMO_OUT/.req" 2>/dev/null
	demo_value "SELECT encode(sealpg.ocsp_respond(decode('$(od -An -v -tx1 "$DEMO_OUT/.req" | tr -d ' \n')', 'hex')), 'hex')" |
		demo40_bytes > "$DEMO_OUT/seal-ocsp.der"
	rm -f "$DEMO_OUT/.req"
	openssl ocsp -respin "$DEMO_OUT/seal-ocsp.der" -no_nonce -issuer "$DEMO_OUT/authority.pem" -cert "$DEMO_OUT/seal.pem" \
		-CAfile "$DEMO_OUT/authority.pem" 2>&1 | sed "s|$DEMO_OUT/||g; s/^/    /"
fi
echo "  artifacts: authority.crl (DER), seal-ocsp.der, ocsp-responder.pem in demo-out/"
