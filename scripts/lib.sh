#!/usr/bin/env bash
# lib.sh: what make up, make test, make demo and make down share.
#
# An "instance" is one private PostgreSQL 15 cluster with its own SoftHSM2
# tokens and its own sealpg-agent, all under one folder:
#   $RUNROOT/<name>/{data,sock,agent,softhsm,install,...}
# "dev" is the one make up starts; "test" is the one make test starts and
# stops, so a test run never disturbs a running make up.
# The cluster and the agent run as the unprivileged user "postgres".

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_SYS_BIN=/usr/lib/postgresql/15/bin
PG_USER=postgres
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so

# Debian packages sealpg needs to build, run and test.
PACKAGES=(build-essential pkg-config git ca-certificates
	postgresql-15 postgresql-server-dev-15 postgresql-client-15
	postgresql-15-cron postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
	libssl-dev openssl libpq-dev libp11-kit-dev softhsm2 opensc
	libusb-1.0-0-dev umockdev libumockdev-dev libmicrohttpd-dev
	procps iproute2 util-linux python3 xxd curl)

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install whatever of PACKAGES is missing (needs root the first time).
ensure_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them"
	say "installing ${missing[*]}"
	# Debian would create and start a default cluster on port 5432; sealpg
	# runs its own private clusters, so keep the default one from appearing.
	if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
		mkdir -p /etc/postgresql-common
		echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# as_pg CMD...: run a command as the cluster's user.
as_pg() { runuser -u "$PG_USER" -- "$@"; }

# Choose RUNROOT: the project's .run/ when the postgres user can reach it and
# socket paths stay short enough, else a folder under /var/tmp.
choose_runroot() {
	if [ -n "${SEALPG_RUNROOT:-}" ]; then
		RUNROOT=$SEALPG_RUNROOT
	else
		RUNROOT=$TOP/.run
		if [ ${#RUNROOT} -gt 60 ] || ! as_pg test -x "$TOP" 2>/dev/null; then
			RUNROOT=/var/tmp/sealpg-$(printf '%s' "$TOP" | md5sum | cut -c1-8)
		fi
	fi
	mkdir -p "$RUNROOT"
	chmod 755 "$RUNROOT"
}

# instance_vars NAME PORT: set the variables naming one instance's parts.
instance_vars() {
	NAME=$1
	choose_runroot
	DIR=$RUNROOT/$NAME
	PGDATA=$DIR/data
	SOCK=$DIR/sock
	PORT=$2
	AGENT_DIR=$DIR/agent
	AGENT_SOCKET=$AGENT_DIR/agent.sock
	AGENT_PID=$DIR/agent.pid
	AGENT_LOG=$DIR/agent.log
	PIN_FILE=$DIR/token.pins
	SOFTHSM2_CONF=$DIR/softhsm2.conf
	TOKEN_DIR=$DIR/softhsm
	PGBIN=${PGBIN:-$PG_SYS_BIN}
	AGENT_BIN=${AGENT_BIN:-$PGBIN/sealpg-agent}
	DB=sealpg
	export SOFTHSM2_CONF
}

# The tokens every instance has: the authority's chip and the seals' chip.
TOKENS=(sealpg-authority sealpg-seals)

# Create (once) the SoftHSM2 tokens, with random PINs kept in PIN_FILE.
ensure_tokens() {
	mkdir -p "$TOKEN_DIR"
	chown "$PG_USER" "$TOKEN_DIR" && chmod 700 "$TOKEN_DIR"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$TOKEN_DIR" > "$SOFTHSM2_CONF"
	chmod 644 "$SOFTHSM2_CONF"
	touch "$PIN_FILE" && chown "$PG_USER" "$PIN_FILE" && chmod 600 "$PIN_FILE"
	local label pin so
	for label in "${TOKENS[@]}"; do
		grep -q "^$label:" "$PIN_FILE" && continue
		pin=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
		so=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
		as_pg env SOFTHSM2_CONF="$SOFTHSM2_CONF" softhsm2-util --init-token --free \
			--label "$label" --so-pin "$so" --pin "$pin" >/dev/null
		echo "$label:$pin" >> "$PIN_FILE"
	done
}

# Start the agent as the cluster's user unless it already runs (the same
# binary: a rebuilt agent replaces the running one).
start_agent() {
	if [ -s "$AGENT_PID" ] && kill -0 "$(cat "$AGENT_PID")" 2>/dev/null; then
		[ "$(cat "$DIR/agent.md5" 2>/dev/null)" = "$(md5sum < "$AGENT_BIN" | cut -c1-32)" ] && return 0
		say "sealpg-agent has changed: restarting it"
		stop_agent
	fi
	[ -x "$AGENT_BIN" ] || die "sealpg-agent not built ($AGENT_BIN)"
	mkdir -p "$AGENT_DIR" && chown "$PG_USER" "$AGENT_DIR" && chmod 700 "$AGENT_DIR"
	touch "$AGENT_LOG" "$AGENT_PID" && chown "$PG_USER" "$AGENT_LOG" "$AGENT_PID"
	as_pg env SOFTHSM2_CONF="$SOFTHSM2_CONF" "$AGENT_BIN" \
		--socket "$AGENT_SOCKET" --module "$SOFTHSM_MODULE" --pin-file "$PIN_FILE" \
		--pid-file "$AGENT_PID" --foreground --log-level info >>"$AGENT_LOG" 2>&1 &
	local i
	for i in $(seq 1 100); do
		if [ -S "$AGENT_SOCKET" ]; then
			md5sum < "$AGENT_BIN" | cut -c1-32 > "$DIR/agent.md5"
			return 0
		fi
		sleep 0.05
	done
	cat "$AGENT_LOG" >&2
	die "sealpg-agent did not start"
}

# Stop the agent if it runs.
stop_agent() {
	if [ -s "$AGENT_PID" ] && kill -0 "$(cat "$AGENT_PID")" 2>/dev/null; then
		kill -TERM "$(cat "$AGENT_PID")"
		local i
		for i in $(seq 1 100); do
			kill -0 "$(cat "$AGENT_PID")" 2>/dev/null || break
			sleep 0.05
		done
	fi
	rm -f "$AGENT_PID"
}

# Create (once) the cluster and its configuration.
ensure_cluster() {
	mkdir -p "$DIR" "$SOCK"
	chown "$PG_USER" "$DIR" "$SOCK"
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		as_pg "$PGBIN/initdb" -D "$PGDATA" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
	fi
	cat > "$PGDATA/sealpg.conf" <<CONF
# written by scripts/lib.sh for the "$NAME" instance
listen_addresses = ''
port = $PORT
unix_socket_directories = '$SOCK'
shared_preload_libraries = 'sealpg,pg_cron'
cron.database_name = '$DB'
cron.use_background_workers = on
max_worker_processes = 20
sealpg.agent_socket = '$AGENT_SOCKET'
log_min_messages = warning
fsync = ${PG_FSYNC:-on}
CONF
	chown "$PG_USER" "$PGDATA/sealpg.conf"
	grep -q "^include = 'sealpg.conf'" "$PGDATA/postgresql.conf" ||
		echo "include = 'sealpg.conf'" >> "$PGDATA/postgresql.conf"
}

# library_stamp: checksum of the sealpg.so the cluster would load.
library_stamp() { md5sum "$("$PGBIN/pg_config" --pkglibdir)/sealpg.so" 2>/dev/null | cut -c1-32; }

# Start the cluster unless it runs; restart it if sealpg.so has changed
# since it started (a preloaded library is read once, at start).
start_cluster() {
	if as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
		if [ "$(cat "$DIR/library.md5" 2>/dev/null)" = "$(library_stamp)" ]; then
			as_pg "$PGBIN/pg_ctl" -D "$PGDATA" reload >/dev/null
			return 0
		fi
		say "sealpg.so has changed: restarting the cluster"
		stop_cluster
	fi
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$DIR/postgres.log" -w -t 60 start >/dev/null ||
		{ tail -20 "$DIR/postgres.log" >&2; die "the cluster did not start"; }
	library_stamp > "$DIR/library.md5"
}

# Stop the cluster if it runs.
stop_cluster() {
	[ -f "$PGDATA/PG_VERSION" ] || return 0
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 || return 0
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
}

# psql as the superuser on the instance.
pgsql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$PG_USER" "$@"; }

# Create (once) the database with pg_cron and sealpg in it.
ensure_database() {
	pgsql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
		pgsql -d postgres -c "CREATE DATABASE $DB"
	PGOPTIONS="-c client_min_messages=warning" pgsql -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" \
		-c "CREATE EXTENSION IF NOT EXISTS sealpg" \
		-c "ALTER EXTENSION sealpg UPDATE" \
		-c "SELECT sealpg.schedule_jobs()" >/dev/null
}

# Print export lines for this instance.
print_env() {
	printf 'export PGHOST=%s PGPORT=%s PGUSER=%s PGDATABASE=%s\n' "$SOCK" "$PORT" "$PG_USER" "$DB"
	printf 'export SOFTHSM2_CONF=%s SEALPG_AGENT_SOCKET=%s\n' "$SOFTHSM2_CONF" "$AGENT_SOCKET"
}
