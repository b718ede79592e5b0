# standby.bash: a hot standby of the test instance, for the integration
# tests that check what runs there (sourced, never run by itself).
# The test sets SB (data folder), SBSOCK (socket folder), SBPORT, DB and
# defines fail(); start_standby LOG makes the standby with pg_basebackup and
# starts it, logging to LOG; stop_standby stops it, removes its folders and
# drops DB on the primary.

# Make the standby from the primary and start it.
start_standby() {
	local log=$1
	mkdir -p "$SB" "$SBSOCK"
	chown postgres "$SB" "$SBSOCK"
	chmod 700 "$SB"
	# a fast checkpoint: a spread one can hold pg_basebackup for minutes
	runuser -u postgres -- "$SEALPG_PGBIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -D "$SB" -R -c fast \
		|| fail "pg_basebackup failed"
	printf "port = %d\nunix_socket_directories = '%s'\n" "$SBPORT" "$SBSOCK" >> "$SB/postgresql.auto.conf"
	runuser -u postgres -- "$SEALPG_PGBIN/pg_ctl" -D "$SB" -l "$log" -w -t 60 start >/dev/null \
		|| { tail -20 "$log"; fail "the standby did not start"; }
	SPSQL="$SEALPG_PGBIN/psql -X -q -h $SBSOCK -p $SBPORT -d $DB"
}

# wait_standby SQL VALUE: wait (10 s at most) until the standby answers SQL
# with VALUE, then check that it is in recovery.
wait_standby() {
	local _
	for _ in $(seq 1 100); do
		[ "$($SPSQL -tA -c "$1" 2>/dev/null || true)" = "$2" ] && break
		sleep 0.1
	done
	[ "$($SPSQL -tA -c "SELECT pg_is_in_recovery()")" = t ] || fail "not a standby"
}

# Stop the standby, remove it, drop the test database on the primary.
stop_standby() {
	[ -f "$SB/postmaster.pid" ] && runuser -u postgres -- "$SEALPG_PGBIN/pg_ctl" -D "$SB" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$SB" "$SBSOCK"
	$PSQL -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
