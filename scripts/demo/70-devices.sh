# Chapter 70: the devices.  A seal's security chip and its smart seal are
# USB devices on the office PC; sealpg-agent watches them through libusb
# and tells the database.  Here the USB bus is emulated (umockdev, the
# recordings in test/devices/): the chip is unplugged and the seal gets
# an alert and cannot sign; the smart seal is plugged in and its signed
# stamps flow into the use log.
say "70. The devices: a chip pulled out, a smart seal's stamps read"
D_DEVICES=$TOP/test/devices
. "$D_DEVICES/bench.sh"
make -s -C "$TOP/agent" sealpg-agent tests/usb_client >/dev/null 2>&1 &&
	make -s -C "$D_DEVICES" all >/dev/null 2>&1 || true
# d_sql_is SQL VALUE: does SQL return VALUE now? (retried by wait_until)
d_sql_is() { [ "$(demo_value "$1")" = "$2" ]; }
D_WHY=$(usb_unusable)
if [ -n "$D_WHY" ]; then
	echo "  (chapter skipped: $D_WHY)"
else
	D_T=$(mktemp -d /tmp/sealpg-demo-usb.XXXXXX)
	D_ORG=$(demo_value "SELECT organisation_id FROM sealpg.organisations WHERE name = 'Acme Trading Co.'")
	[ -n "$D_ORG" ] || D_ORG=$(demo_value "SELECT sealpg.create_organisation('Acme Trading Co.')")
	demo_value "SELECT sealpg.create_seal('ES-ACME-BER-01', 'Acme Trading Berlin office seal', 'contract', '$D_ORG',
		valid_from => '2025-11-01', valid_until => now() + interval '2 years', time_zone => 'Europe/Berlin',
		home_latitude => 52.52, home_longitude => 13.405, home_radius_m => 500)" >/dev/null
	demo_value "UPDATE sealpg.seals SET token_label = 'acme-berlin-chip' WHERE es_id = 'ES-ACME-BER-01'" >/dev/null
	echo "  the administrator binds the seal's chip and its smart seal (with the smart seal's public key) to the office PC:"
	demo_value "SELECT sealpg.bind_device('ES-ACME-BER-01', 'chip', 'SC-A1-000042', 'office-pc-7')" >/dev/null
	demo_value "SELECT sealpg.bind_device('ES-ACME-BER-01', 'smartseal', 'SS-S1-000777', 'office-pc-7',
		decode('$(cat "$D_DEVICES/smartseal-s1/device-key.hex")', 'hex'))" >/dev/null 2>&1
	demo_sql "SELECT kind, serial, host, token_label, length(public_key) AS key_bytes FROM sealpg.devices ORDER BY kind"

	echo "  sealpg-agent on office-pc-7 watches 1209:0005 (chip) and 1209:0006 (smart seal) and reports to the database:"
	mkdir -m 700 "$D_T/run"
	bench_start "$D_T/bench" "$TOP/agent/sealpg-agent" --foreground --socket "$D_T/run/agent.sock" \
		--allow-uid "$(id -u)" --module "$SOFTHSM_MODULE" \
		--usb-device 1209:0005:chip --usb-device 1209:0006:smartseal --host-name office-pc-7 \
		--db "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER" --smartseal-poll 0 \
		--usb-spool "$D_T/spool" || die "the agent does not start on the emulated USB bench"
	bench_cmd add sealchip-a1 serial.pcap &&
		wait_until 15 d_sql_is "SELECT present FROM sealpg.device_presence WHERE serial = 'SC-A1-000042'" t ||
		{ bench_stop; die "the chip's arrival did not reach the database (log: $BENCH_LOG)"; }
	"$TOP/agent/tests/usb_client" "$D_T/run/agent.sock" list | sed 's/^/    USB_LIST: /'
	demo_sql "SELECT token_label, seal, serial, bound_host, seen_host, present FROM sealpg.token_presence"

	echo "  someone pulls the chip out of office-pc-7:"
	bench_cmd remove sealchip-a1 &&
		wait_until 15 d_sql_is "SELECT present FROM sealpg.device_presence WHERE serial = 'SC-A1-000042'" f ||
		{ bench_stop; die "the chip's departure did not reach the database (log: $BENCH_LOG)"; }
	demo_sql "SELECT occurred_at::time(0) AS at, host, kind, serial, event, alert_rule FROM sealpg.device_events
		WHERE serial = 'SC-A1-000042' ORDER BY event_id"
	if [ -n "$(demo_value "SELECT to_regclass('sealpg.alerts')")" ]; then
		demo_sql "SELECT a.rule, a.severity, a.risk_score, a.details->>'cause' AS cause, a.details->>'serial' AS serial
			FROM sealpg.alerts a JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'ES-ACME-BER-01'"
	fi
	echo "  and signing with the seal is refused: its key is in a chip that is not there"
	demo_refused "SELECT sealpg.require_token_present('ES-ACME-BER-01')"

	echo "  the smart seal is plugged in; its log holds three stamps, each signed by the device's own key:"
	bench_cmd add smartseal-s1 session.pcap || { bench_stop; die "the smart seal cannot be plugged in"; }
	if [ -z "$(demo_value "SELECT to_regclass('sealpg.use_events')")" ]; then
		echo "  (anomaly detection, piece 50, is not installed: there is no use log to put stamps in, so the"
		echo "   database takes none and the smart seal keeps them, unacknowledged, until it is)"
		sleep 2
	elif ! wait_until 15 d_sql_is "SELECT count(*) FROM sealpg.device_records r JOIN sealpg.devices d USING (device_id)
		WHERE d.serial = 'SS-S1-000777'" 3; then
		bench_stop
		die "the smart seal's records did not reach the database (log: $BENCH_LOG)"
	fi
	demo_sql "SELECT r.seq, r.verified, length(r.record) AS record_bytes, length(r.signature) AS sig_bytes,
		r.use_event_id IS NOT NULL AS became_a_use, r.refusal
		FROM sealpg.device_records r JOIN sealpg.devices d USING (device_id) WHERE d.serial = 'SS-S1-000777' ORDER BY r.seq"
	if [ -n "$(demo_value "SELECT to_regclass('sealpg.use_events')")" ]; then
		echo "  the stamps are now uses of the seal, and pass the anomaly rules like any other:"
		demo_sql "SELECT u.occurred_at AT TIME ZONE 'Europe/Berlin' AS local_time, u.latitude, u.longitude, u.force_n, u.operator,
			u.device_id, u.device_seq FROM sealpg.use_events u JOIN sealpg.seals s USING (seal_id)
			WHERE s.es_id = 'ES-ACME-BER-01' ORDER BY u.device_seq"
	fi
	"$TOP/agent/tests/usb_client" "$D_T/run/agent.sock" status | grep -E '^(database|spooled|records|refused) ' | sed 's/^/    USB_STATUS: /'
	bench_stop
	cp "$BENCH_LOG" "$DEMO_OUT/70-agent-usb.log"
	rm -rf "$D_T"
fi
