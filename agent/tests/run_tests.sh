#!/bin/sh
# run_tests.sh -- unit and integration tests of sealpg-agent.
#
#   sh tests/run_tests.sh ./sealpg-agent
#
# Builds a private SoftHSM2 token in a temporary directory (SOFTHSM2_CONF
# points at a config of its own), starts the agent in the foreground on a
# temporary socket and drives it with tests/agent_client_test.  Checks that
# cannot run here say SKIPPED.  The last line is "N passed, N failed"; the
# exit status is non-zero when anything failed.
#
# AGENT_WRAPPER (e.g. "valgrind --error-exitcode=99 --leak-check=full")
# runs the main agent instance under a checker; its exit status on SIGTERM
# is then part of the verdict.

AGENT=$(readlink -f "${1:-./sealpg-agent}")
HERE=$(dirname "$(readlink -f "$0")")
CLIENT="$HERE/agent_client_test"
UNIT="$HERE/test_frame"
MODULE=${SEALPG_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
WRAPPER=${AGENT_WRAPPER:-}

PASS=0
FAIL=0
SKIP=0

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
notok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
skip() { SKIP=$((SKIP + 1)); echo "SKIPPED - $*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() { d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }

# Add the "N passed, N failed" summary printed into file $1 to our counts.
add_counts() {
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1)
	if [ -z "$line" ]; then
		notok "$2 printed no summary"
		return
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed}
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
}

# Wait up to $2 tenths of a second for socket $1 to appear.
wait_socket() {
	i=0
	while [ ! -S "$1" ]; do
		i=$((i + 1))
		[ $i -gt "$2" ] && return 1
		sleep 0.1
	done
	return 0
}

# Wait up to $2 tenths of a second for process $1 to end.
wait_gone() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt "$2" ] && return 1
		sleep 0.1
	done
	return 0
}

finish() {
	[ -n "${T:-}" ] && [ -d "$T" ] && {
		for p in $(cat "$T"/pids 2>/dev/null); do kill "$p" 2>/dev/null; done
		rm -rf "$T"
	}
	if [ $SKIP -gt 0 ]; then echo "# $SKIP check(s) SKIPPED"; fi
	echo "$PASS passed, $FAIL failed"
	[ $FAIL -eq 0 ]
	exit $?
}

T=$(mktemp -d /tmp/sealpg-agent-test.XXXXXX)
trap finish EXIT
trap 'exit 1' INT TERM

# ---- unit tests of the frame codec ----
echo "# unit tests (frame codec)"
"$UNIT" >"$T/unit.out" 2>&1
cat "$T/unit.out"
add_counts "$T/unit.out" "unit tests"

# ---- unit tests of the smart-seal protocol (emulated device, no USB) ----
echo "# unit tests (smart-seal protocol)"
"$HERE/test_smartseal" >"$T/ssp.out" 2>&1
cat "$T/ssp.out"
add_counts "$T/ssp.out" "smart-seal unit tests"

# ---- integration tests ----
if ! command -v softhsm2-util >/dev/null 2>&1 || [ ! -r "$MODULE" ]; then
	skip "integration tests: softhsm2-util or $MODULE missing"
	exit 0
fi

echo "# integration tests (SoftHSM2 in $T)"
mkdir -p "$T/tokens"
cat >"$T/softhsm2.conf" <<CONF
directories.tokendir = $T/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF="$T/softhsm2.conf"
softhsm2-util --init-token --free --label sealtest --so-pin 87654321 --pin 123456 >/dev/null &&
	softhsm2-util --init-token --free --label nopin --so-pin 87654321 --pin 654321 >/dev/null
check "two SoftHSM2 tokens initialised" [ $? -eq 0 ]
printf '# test PINs\nsealtest:123456\n' >"$T/pins"
chmod 600 "$T/pins"
MYUID=$(id -u)
SOCK="$T/run/agent.sock"
LOG="$T/agent.log"

$WRAPPER "$AGENT" --foreground --socket "$SOCK" --module "$MODULE" --pin-file "$T/pins" \
	--allow-uid "$MYUID" --io-timeout 1000 --pid-file "$T/agent.pid" --log-level info 2>"$LOG" &
PID=$!
echo $PID >>"$T/pids"
if [ -n "$WRAPPER" ]; then wait_socket "$SOCK" 300; else wait_socket "$SOCK" 50; fi
check "agent starts and creates its socket" [ -S "$SOCK" ]
check "socket directory created with mode 0700" [ "$(stat -c %a "$T/run")" = 700 ]
check "socket has mode 0600 (umask 0177)" [ "$(stat -c %a "$SOCK")" = 600 ]
check "pid file holds the agent's pid" [ "$(cat "$T/agent.pid" 2>/dev/null)" = "$PID" ]

timeout 10 "$AGENT" --foreground --socket "$SOCK" --module "$MODULE" --allow-uid "$MYUID" 2>"$T/second.log"
check "a second agent on a live socket refuses to start" [ $? -eq 1 ]
check "... saying another agent is listening" grep -q "another agent is listening" "$T/second.log"

"$CLIENT" full "$SOCK" sealtest nopin >"$T/client.out" 2>&1
cat "$T/client.out"
add_counts "$T/client.out" "protocol tests"

# the key-handle cache; pkcs11-tool (OpenSC) deletes a key behind the agent
if command -v pkcs11-tool >/dev/null 2>&1; then
	"$CLIENT" cache "$SOCK" sealtest "pkcs11-tool --module '$MODULE' --token-label sealtest --login --pin 123456 --delete-object --type privkey --id %s >/dev/null 2>&1" \
		>"$T/cache.out" 2>&1
	cat "$T/cache.out"
	add_counts "$T/cache.out" "key-handle cache tests"
	check "the agent logged the stale key handle" grep -q "cached key handle on token \"sealtest\" is stale" "$LOG"
else
	skip "key-handle cache tests: pkcs11-tool (OpenSC) missing"
fi

check "agent process alive after the hostile clients" kill -0 $PID
check "agent logged the oversized frame" grep -q "outside 1..65536" "$LOG"
kill -TERM $PID
if [ -n "$WRAPPER" ]; then wait_gone $PID 600; else wait_gone $PID 100; fi
wait $PID
RC=$?
check "SIGTERM: agent exits with status 0 (got $RC)" [ $RC -eq 0 ]
check "SIGTERM: socket unlinked" [ ! -e "$SOCK" ]
check "SIGTERM: pid file removed" [ ! -e "$T/agent.pid" ]
check "SIGTERM: C_Finalize called" grep -q "PKCS#11 module finalized" "$LOG"
check "no PIN in the agent's log" sh -c "! grep -q 123456 '$LOG'"

# ---- a token pulled out and put back (through tests/libp11shim.so) ----
SEALPG_SHIM_MODULE="$MODULE" SEALPG_SHIM_REMOVED="$T/removed" "$AGENT" --foreground \
	--socket "$T/run6/agent.sock" --module "$HERE/libp11shim.so" --pin-file "$T/pins" \
	--allow-uid "$MYUID" 2>"$T/shim.log" &
P6=$!
echo $P6 >>"$T/pids"
wait_socket "$T/run6/agent.sock" 50
"$CLIENT" removal "$T/run6/agent.sock" sealtest "$T/removed" >"$T/removal.out" 2>&1
cat "$T/removal.out"
add_counts "$T/removal.out" "token removal tests"
check "the agent logged the stale session and reopened it" grep -q "is stale (CKR_DEVICE_REMOVED); reopening" "$T/shim.log"
kill -TERM $P6
wait $P6
check "agent on the shim module stops cleanly" [ $? -eq 0 ]

# ---- refusals at start ----
chmod 644 "$T/pins"
timeout 10 "$AGENT" --foreground --socket "$T/run2/a.sock" --pin-file "$T/pins" 2>"$T/pin.log"
check "PIN file readable by others: agent refuses to start" [ $? -eq 1 ]
check "... naming the PIN file" grep -q "not accessible to group or others" "$T/pin.log"
chmod 600 "$T/pins"
mkdir -m 755 "$T/open"
timeout 10 "$AGENT" --foreground --socket "$T/open/a.sock" --pin-file "$T/pins" 2>"$T/dir.log"
check "socket directory 0755: agent refuses to start" [ $? -eq 1 ]
check "... and creates no socket" [ ! -e "$T/open/a.sock" ]

# ---- config file and daemon mode ----
cat >"$T/agent.conf" <<CONF
# sealpg-agent test configuration
socket = $T/run3/agent.sock
module = $MODULE
pin_file = $T/pins
allow_uid = $MYUID
log_level = warning
pid_file = $T/daemon.pid
CONF
"$AGENT" --config "$T/agent.conf"
check "daemon mode: the launcher returns 0" [ $? -eq 0 ]
wait_socket "$T/run3/agent.sock" 50
DPID=$(cat "$T/daemon.pid" 2>/dev/null)
[ -n "$DPID" ] && echo "$DPID" >>"$T/pids"
check "daemon mode: config file read, pid file written" [ -n "$DPID" ]
"$CLIENT" hello "$T/run3/agent.sock"
check "daemon mode: HELLO answered" [ $? -eq 0 ]
[ -n "$DPID" ] && kill -TERM "$DPID"
[ -n "$DPID" ] && wait_gone "$DPID" 100
check "daemon mode: SIGTERM removes the socket" [ ! -e "$T/run3/agent.sock" ]
check "daemon mode: SIGTERM removes the pid file" [ ! -e "$T/daemon.pid" ]

"$AGENT" --socket "$T/run5/agent.sock" --module "$T/no-such-module.so" --allow-uid "$MYUID" \
	--log-level error 2>/dev/null
check "daemon mode: the launcher exits 1 when the module cannot be loaded" [ $? -eq 1 ]
check "... and the socket is removed" [ ! -e "$T/run5/agent.sock" ]

# ---- peer uid checks ----
PGUID=$(id -u postgres 2>/dev/null)
if [ -z "$PGUID" ] || [ "$MYUID" -ne 0 ]; then
	skip "peer uid checks need root and a postgres user"
	exit 0
fi

# Agent as root allowing only postgres: root is refused.
"$AGENT" --foreground --socket "$T/run4/agent.sock" --module "$MODULE" --pin-file "$T/pins" \
	--allow-uid postgres 2>"$T/peer.log" &
P4=$!
echo $P4 >>"$T/pids"
wait_socket "$T/run4/agent.sock" 50
"$CLIENT" hello "$T/run4/agent.sock"
check "peer uid 0 refused by an agent allowing only postgres" [ $? -eq 3 ]
check "... and the refusal is logged" grep -q "refused connection from uid 0" "$T/peer.log"
kill -TERM $P4
wait $P4

# Agent running as postgres with a token store of its own.
chmod 711 "$T"
mkdir -p "$T/pg/tokens"
cat >"$T/pg/softhsm2.conf" <<CONF
directories.tokendir = $T/pg/tokens
objectstore.backend = file
log.level = ERROR
CONF
chown -R postgres "$T/pg"
chmod 700 "$T/pg"
AS_PG="setpriv --reuid=postgres --regid=$(id -g postgres) --init-groups --"

SOFTHSM2_CONF="$T/pg/softhsm2.conf" $AS_PG "$AGENT" --foreground --socket "$T/pg/run/agent.sock" \
	--module "$MODULE" 2>"$T/pg/agent.log" &
P5=$!
echo $P5 >>"$T/pids"
wait_socket "$T/pg/run/agent.sock" 50
$AS_PG "$CLIENT" hello "$T/pg/run/agent.sock"
check "agent as postgres, default allow list: postgres peer allowed" [ $? -eq 0 ]
"$CLIENT" hello "$T/pg/run/agent.sock"
check "agent as postgres, default allow list: root peer refused" [ $? -eq 3 ]
kill -TERM $P5
wait $P5

SOFTHSM2_CONF="$T/pg/softhsm2.conf" $AS_PG "$AGENT" --foreground --socket "$T/pg/run/agent.sock" \
	--module "$MODULE" --allow-uid 0 2>>"$T/pg/agent.log" &
P6=$!
echo $P6 >>"$T/pids"
wait_socket "$T/pg/run/agent.sock" 50
"$CLIENT" hello "$T/pg/run/agent.sock"
check "agent as postgres with --allow-uid 0: root peer allowed" [ $? -eq 0 ]
$AS_PG "$CLIENT" hello "$T/pg/run/agent.sock"
check "agent as postgres with --allow-uid 0: postgres peer refused" [ $? -eq 3 ]
kill -TERM $P6
wait $P6
check "agent as postgres stops cleanly" [ $? -eq 0 ]
