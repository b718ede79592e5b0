#!/usr/bin/env bash
# Nothing is lost while the database is unreachable: the agent spools the
# chip's arrival and departure to disk, keeps them across its own restart,
# and replays them in order once the database answers; the spool is then
# empty and the seal has its alert.  The database is made unreachable by
# pointing --db at a socket folder that exists only from step 3 on.
# Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/test/devices/bench.sh"
PSQL="$SEALPG_PGBIN/psql -X -q -v ON_ERROR_STOP=1"
AGENT=$TOP/agent/sealpg-agent
CLIENT=$TOP/agent/tests/usb_client
T=$(mktemp -d /tmp/sealpg-usb-spool.XXXXXX)
SEAL=IT-USB-SPOOL-$$
HOST=it-host-spool-$$
cleanup() { bench_stop; [ -n "${KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "not ok - $*"; [ -n "${BENCH_LOG:-}" ] && tail -n 25 "$BENCH_LOG"; exit 1; }
ok() { echo "ok - $*"; }
sql() { $PSQL -tAc "$1"; }
sql_is() { [ "$(sql "$1")" = "$2" ]; }
status_has() { "$CLIENT" "$T/run/agent.sock" status | grep -q "^$1\$"; }

pkg-config --exists umockdev-1.0 || { echo "SKIP: libumockdev-dev is not installed"; exit 77; }
make -s -C "$TOP/agent" sealpg-agent tests/usb_client >"$T/build.log" 2>&1 &&
	make -s -C "$TOP/test/devices" all >>"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "the agent or test/devices tools do not build"; }
why=$(usb_unusable)
[ -z "$why" ] || { echo "SKIP: $why"; exit 77; }

$PSQL >/dev/null <<SQL || fail "set-up"
SET client_min_messages = warning;
DELETE FROM sealpg.devices WHERE serial = 'SC-A1-000042';
DELETE FROM sealpg.device_presence WHERE serial = 'SC-A1-000042';
SELECT sealpg.create_organisation('IT USB Spool Org $$') AS org \gset
SELECT sealpg.create_seal('$SEAL', 'USB spool seal', 'finance', :'org', now() + interval '1 day');
SELECT sealpg.bind_device('$SEAL', 'chip', 'SC-A1-000042', '$HOST');
SQL

start_agent() {
	mkdir -p -m 700 "$T/run"
	bench_start "$T/$1" "$AGENT" --foreground --socket "$T/run/agent.sock" --allow-uid "$(id -u)" \
		--usb-device 1209:0005:chip \
		--db "host=$T/pgsock port=$PGPORT dbname=$PGDATABASE user=$PGUSER connect_timeout=2" \
		--host-name "$HOST" --usb-spool "$T/spool" --log-level debug ||
		fail "the agent does not start on the bench"
	wait_until 10 test -S "$T/run/agent.sock" || fail "agent socket"
}

# 1. the database is away: the chip comes and goes
start_agent bench1
bench_cmd add sealchip-a1 serial.pcap || fail "plug in the chip"
# the start-up scan (nothing here) is the first line, then the chip's events
wait_until 10 status_has "spooled 2" || fail "arrival spooled"
bench_cmd remove sealchip-a1 || fail "pull out the chip"
wait_until 10 status_has "spooled 3" || fail "departure spooled"
status_has "database disconnected" || fail "the agent believes it is connected"
ok "with the database unreachable, arrival and departure wait in the spool"
[ "$(sql "SELECT count(*) FROM sealpg.device_events WHERE host = '$HOST'")" = 0 ] || fail "nothing may arrive yet"

# 2. the agent stops: the spool stays on disk
bench_stop
[ "$(wc -l <"$T/spool")" -eq 3 ] || fail "the spool holds 3 lines after the agent stopped"
# (the chip may be found by the agent's first listing, "present", or arrive after it)
case "$(cut -f6 "$T/spool" | tr '\n' ' ')" in
	"scan arrived left " | "present scan left ") ;;
	*) fail "spool order: $(cat "$T/spool")" ;;
esac
ok "the agent stopped; the spool keeps both events in order"

# 3. a new agent, and the database answers again
ln -s "$PGHOST" "$T/pgsock"
start_agent bench2
wait_until 20 sql_is "SELECT count(*) FROM sealpg.device_events WHERE host = '$HOST'" 2 ||
	fail "the spooled events reach the database"
ok "the restarted agent replays the spool once the database answers"
case "$(sql "SELECT string_agg(event, ' ' ORDER BY event_id) FROM sealpg.device_events WHERE host = '$HOST'")" in
	"arrived left" | "present left") ;;
	*) fail "replayed in order" ;;
esac
ok "in the order they happened"
[ "$(sql "SELECT present FROM sealpg.device_presence WHERE serial = 'SC-A1-000042'")" = f ] || fail "presence"
ok "the chip is known to be absent"
[ "$(sql "SELECT alert_rule FROM sealpg.device_events WHERE host = '$HOST' AND event = 'left'")" = device_left ] ||
	fail "alert"
ok "and the seal has its alert"
wait_until 5 test ! -s "$T/spool" || fail "the spool is emptied"
status_has "spooled 0" && status_has "sent 4" || fail "USB_STATUS after the replay"
ok "the spool is empty again"

# 4. replaying the same lines again (a crash before truncation) stores nothing twice
printf '%s\n' "$(sql "SELECT (extract(epoch FROM occurred_at) * 1000000)::bigint FROM sealpg.device_events WHERE host = '$HOST' ORDER BY event_id LIMIT 1")" |
	awk -v OFS='\t' -v ev="$(sql "SELECT event FROM sealpg.device_events WHERE host = '$HOST' ORDER BY event_id LIMIT 1")" \
		'{ print $1, "chip", 4617, 5, "SC-A1-000042", ev }' >"$T/replay-line"
bench_stop
cp "$T/replay-line" "$T/spool"
start_agent bench3
wait_until 10 test ! -s "$T/spool" || fail "the replayed line is sent"
[ "$(sql "SELECT count(*) FROM sealpg.device_events WHERE host = '$HOST'")" = 2 ] || fail "stored twice"
ok "a line replayed twice is stored once"

# 5. a chip that leaves while no agent watches is recorded as gone at the next start
bench_stop
start_agent bench4
bench_cmd add sealchip-a1 serial.pcap || fail "plug in the chip again"
wait_until 15 sql_is "SELECT present FROM sealpg.device_presence WHERE serial = 'SC-A1-000042' AND host = '$HOST'" t ||
	fail "the chip is back"
bench_stop
start_agent bench5
wait_until 15 sql_is "SELECT present FROM sealpg.device_presence WHERE serial = 'SC-A1-000042'" f ||
	fail "the start-up scan records the chip gone"
[ "$(sql "SELECT count(*) FROM sealpg.device_events WHERE host = '$HOST' AND event = 'left' AND alert_rule = 'device_left'")" = 2 ] ||
	fail "the scan's departure raised an alert"
ok "a chip pulled out while no agent watched is found gone by the next agent's start-up scan, with its alert"
echo "all spool checks passed"
