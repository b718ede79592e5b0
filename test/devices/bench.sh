# bench.sh -- sourced by the USB tests and the demo: an emulated USB bench
# (tools/usbbench under umockdev-wrapper) running sealpg-agent, driven
# through two fifos.
#
#   usb_unusable                  why umockdev cannot run here ("" if it can)
#   bench_start DIR AGENT ARGS..  start the bench and the agent in it; DIR is
#                                 the bench's own folder (TMPDIR, fifos, logs)
#   bench_cmd LINE                send a command ("add MODEL [PCAP]",
#                                 "remove MODEL"); fails on an "error" answer
#   bench_stop                    stop the agent and the bench
#   wait_until SECONDS COMMAND..  retry COMMAND until it succeeds
# BENCH_LOG is the agent's log (stderr of the bench).

DEVICES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)

usb_unusable() {
	command -v umockdev-wrapper >/dev/null 2>&1 || { echo "umockdev-wrapper is not installed (apt install umockdev)"; return; }
	[ -x "$DEVICES_DIR/tools/usbbench" ] || { echo "test/devices/tools/usbbench is not built (libumockdev-dev missing?)"; return; }
	umockdev-run --device "$DEVICES_DIR/sealchip-a1/device" -- test -e /sys/bus/usb/devices 2>/dev/null ||
		{ echo "umockdev-run cannot build a testbed here (LD_PRELOAD blocked?)"; return; }
	echo ""
}

bench_start() {
	BENCH_DIR=$1
	shift
	mkdir -p "$BENCH_DIR"
	rm -f "$BENCH_DIR/in" "$BENCH_DIR/out"
	mkfifo "$BENCH_DIR/in" "$BENCH_DIR/out"
	BENCH_LOG=$BENCH_DIR/agent.log
	TMPDIR=$BENCH_DIR umockdev-wrapper "$DEVICES_DIR/tools/usbbench" "$DEVICES_DIR" "$@" \
		<"$BENCH_DIR/in" >"$BENCH_DIR/out" 2>"$BENCH_LOG" &
	BENCH_PID=$!
	exec 7>"$BENCH_DIR/in" 8<"$BENCH_DIR/out"
	local line
	read -r -t 10 line <&8 || { cat "$BENCH_LOG" >&2; return 1; }
	case $line in "ok started"*) return 0 ;; *) echo "bench: $line" >&2; return 1 ;; esac
}

bench_cmd() {
	local line
	echo "$*" >&7
	read -r -t 10 line <&8 || { echo "bench: no answer to: $*" >&2; return 1; }
	case $line in ok*) return 0 ;; *) echo "bench: $line" >&2; return 1 ;; esac
}

bench_stop() {
	[ -n "${BENCH_PID:-}" ] || return 0
	echo quit >&7 2>/dev/null || true
	exec 7>&- 8<&-
	wait "$BENCH_PID" 2>/dev/null || true
	BENCH_PID=
}

wait_until() {
	local secs=$1 i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt $((secs * 10)) ] && return 1
		sleep 0.1
	done
}
