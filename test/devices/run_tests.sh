#!/bin/sh
# run_tests.sh -- the umockdev tests of the agent's USB code (make -C
# test/devices test): the hotplug test through the umockdev C API under
# umockdev-wrapper, then the real sealpg-agent under umockdev-run listing
# both emulated devices with their serial numbers (USB_LIST).  Exits 77,
# saying why, when umockdev cannot run here; "N passed, N failed" last.
HERE=$(cd "$(dirname "$0")" && pwd)
AGENT=$HERE/../../agent/sealpg-agent
CLIENT=$HERE/../../agent/tests/usb_client
SYS=/sys/devices/pci0000:00/0000:00:14.0/usb1

if ! command -v umockdev-wrapper >/dev/null 2>&1 || ! command -v umockdev-run >/dev/null 2>&1; then
	echo "SKIP: umockdev is not installed (apt install umockdev libumockdev-dev)"
	exit 77
fi
if ! umockdev-run --device "$HERE/sealchip-a1/device" -- test -e /sys/bus/usb/devices 2>/dev/null; then
	echo "SKIP: umockdev-run cannot build a testbed here (is LD_PRELOAD blocked?)"
	exit 77
fi
T=$(mktemp -d /tmp/sealpg-usb-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
PASS=0
FAIL=0

# 1. hotplug through the umockdev C API, in process
TMPDIR=$T umockdev-wrapper "$HERE/tools/hotplug_test" "$HERE" >"$T/hotplug.out" 2>"$T/hotplug.err"
rc=$?
cat "$T/hotplug.out"
[ $rc -eq 77 ] && exit 77
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$T/hotplug.out" | tail -n 1)
if [ -z "$line" ]; then
	cat "$T/hotplug.err"
	echo "not ok - hotplug_test printed no summary"
	FAIL=$((FAIL + 1))
else
	PASS=$((PASS + ${line%% passed*}))
	f=${line#*, }
	FAIL=$((FAIL + ${f%% failed}))
fi

# 2. the agent binary lists both emulated devices with their serials
mkdir -m 700 "$T/run"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$T" >"$T/softhsm2.conf"
SOFTHSM2_CONF=$T/softhsm2.conf TMPDIR=$T timeout 60 umockdev-run \
	--device "$HERE/sealchip-a1/device" --device "$HERE/smartseal-s1/device" \
	--pcap "$SYS/1-1=$HERE/sealchip-a1/serial.pcap" \
	--pcap "$SYS/1-2=$HERE/smartseal-s1/session.pcap" -- sh -c '
		"$1" --foreground --socket "$2/run/agent.sock" --allow-uid "$(id -u)" \
			--usb-device 1209:0005:chip --usb-device 1209:0006:smartseal 2>"$2/agent.log" &
		agent=$!
		i=0
		while [ $i -lt 50 ]; do
			"$3" "$2/run/agent.sock" list 2>/dev/null | grep -c -e "SC-A1-000042" -e "SS-S1-000777" | grep -q 2 && break
			i=$((i + 1))
			sleep 0.1
		done
		"$3" "$2/run/agent.sock" list >"$2/list.out"
		"$3" "$2/run/agent.sock" status >"$2/status.out"
		kill -TERM $agent
		wait $agent' sh "$AGENT" "$T" "$CLIENT"
if grep -q '^1209:0005 001/002 chip SC-A1-000042$' "$T/list.out"; then
	echo "ok - USB_LIST shows the emulated chip with its serial"
	PASS=$((PASS + 1))
else
	echo "not ok - USB_LIST shows the emulated chip with its serial"
	cat "$T/list.out" "$T/agent.log"
	FAIL=$((FAIL + 1))
fi
if grep -q '^1209:0006 001/003 smartseal SS-S1-000777$' "$T/list.out"; then
	echo "ok - and the emulated smart seal with its serial"
	PASS=$((PASS + 1))
else
	echo "not ok - and the emulated smart seal with its serial"
	FAIL=$((FAIL + 1))
fi
if grep -q '^usb on$' "$T/status.out" && grep -q '^database disconnected$' "$T/status.out"; then
	echo "ok - USB_STATUS: USB on, no database configured"
	PASS=$((PASS + 1))
else
	echo "not ok - USB_STATUS: USB on, no database configured"
	cat "$T/status.out"
	FAIL=$((FAIL + 1))
fi
echo "$PASS passed, $FAIL failed"
[ $FAIL -eq 0 ]
