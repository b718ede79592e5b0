#!/usr/bin/env bash
# sealpg-test.sh (make test): every test, on an instance of its own.
#
# The extension is installed into a private copy of the PostgreSQL tree
# (like PostgreSQL's own "make check"), so a test run touches neither the
# system installation nor a running "make up".  Suites:
#   1. pg_regress: sql/*.sql against expected/*.out
#   2. pgTAP: test/pgtap/*.sql through pg_prove
#   3. the agent's own tests (make -C agent test)
#   4. integration tests: test/integration/*.sh (exit 0 pass, 77 skip)
# The last line is "N passed, N failed"; the exit status is non-zero on
# any failure.  For quicker rounds while developing:
#   SUITES="regress pgtap"  run only those suites (default: all four)
#   ONLY="x509 registry"    run only tests (of any suite) with these names
. "$(dirname "$0")/lib.sh"

ensure_packages
PGBIN=
instance_vars test "${SEALPG_TEST_PORT:-54328}"
INSTALL=$DIR/install
PGBIN=$INSTALL/usr/lib/postgresql/15/bin
AGENT_BIN=$TOP/agent/sealpg-agent
RESULTS=$DIR/results
export SEALPG_TEST_DIR=$DIR

SUITES=${SUITES:-regress pgtap agent integration}
ONLY=${ONLY:-}
passed=0 failed=0 skipped=0
failures=()
# wanted SUITE [NAME]: is this suite (and this test of it) to run?
wanted() {
	case " $SUITES " in *" $1 "*) ;; *) return 1 ;; esac
	[ -z "$ONLY" ] || [ -z "${2:-}" ] && return 0
	case " $ONLY " in *" $2 "*) return 0 ;; esac
	return 1
}
t0=$SECONDS
count() {	# count SUITE NAME STATUS
	echo "-- $1 $2: $3 ($((SECONDS - t0)) s)"
	t0=$SECONDS
	case $3 in
		pass) passed=$((passed + 1)) ;;
		skip) skipped=$((skipped + 1)); echo "SKIPPED: $1 $2" ;;
		*) failed=$((failed + 1)); failures+=("$1 $2") ;;
	esac
}

say "building"
make -C "$TOP" -s >/dev/null

say "installing into a private PostgreSQL tree ($INSTALL)"
mkdir -p "$DIR"
# Stop a previous run's instance before its files are replaced.
stop_cluster 2>/dev/null || true
stop_agent
rm -rf "$INSTALL" "$PGDATA" "$RESULTS" "$TOKEN_DIR" "$PIN_FILE"
mkdir -p "$INSTALL/usr/lib/postgresql" "$INSTALL/usr/share/postgresql" "$RESULTS"
cp -a /usr/lib/postgresql/15 "$INSTALL/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$INSTALL/usr/share/postgresql/"
make -C "$TOP" -s install DESTDIR="$INSTALL" >/dev/null

cleanup() {
	stop_cluster 2>/dev/null || true
	stop_agent 2>/dev/null || true
}
trap cleanup EXIT

say "starting the test instance"
PG_FSYNC=off ensure_cluster
ensure_tokens
start_agent
start_cluster
ensure_database
export PGHOST=$SOCK PGPORT=$PORT PGUSER=$PG_USER PGDATABASE=$DB
export SEALPG_AGENT_SOCKET=$AGENT_SOCKET SEALPG_PIN_FILE=$PIN_FILE SEALPG_PGBIN=$PGBIN

# 1. pg_regress
tests=()
for f in "$TOP"/sql/*.sql; do
	[ -e "$f" ] && wanted regress "$(basename "$f" .sql)" && tests+=("$(basename "$f" .sql)")
done
if [ ${#tests[@]} -gt 0 ]; then
	say "pg_regress: ${#tests[@]} tests"
	cd "$TOP"
	"$INSTALL/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress" \
		--bindir="$PGBIN" --host="$SOCK" --port="$PORT" --user="$PG_USER" \
		--inputdir="$TOP" --outputdir="$RESULTS/regress" --dbname=contrib_regression --load-extension=sealpg \
		"${tests[@]}" > "$RESULTS/regress.log" 2>&1 || true
	cat "$RESULTS/regress.log"
	for t in "${tests[@]}"; do
		if grep -qE "^(test |ok |     )?[ ]*$t +\.\.\. ok|^ok [0-9]+ +[-+] $t " "$RESULTS/regress.log"; then
			count regress "$t" pass
		else
			count regress "$t" fail
		fi
	done
	[ -f "$RESULTS/regress/regression.diffs" ] && head -200 "$RESULTS/regress/regression.diffs"
fi

# 2. pgTAP
for f in "$TOP"/test/pgtap/*.sql; do
	[ -e "$f" ] && wanted pgtap "$(basename "$f" .sql)" || continue
	say "pgTAP: $(basename "$f")"
	if pg_prove -h "$SOCK" -p "$PORT" -U "$PG_USER" -d "$DB" "$f"; then
		count pgtap "$(basename "$f")" pass
	else
		count pgtap "$(basename "$f")" fail
	fi
done

# 3. the agent's own tests
if [ -f "$TOP/agent/Makefile" ] && wanted agent agent; then
	say "agent tests"
	if make -C "$TOP/agent" -s test 2>&1 | tee "$RESULTS/agent.log"; then
		count agent tests pass
	else
		count agent tests fail
	fi
fi

# 4. integration tests
for f in "$TOP"/test/integration/*.sh; do
	name=$(basename "$f" .sh)
	[ -e "$f" ] && wanted integration "$name" || continue
	say "integration: $name"
	# the test's own status, not tee's (set -e is off inside the || list)
	{ bash "$f" 2>&1 | tee "$RESULTS/$name.log"; rc=${PIPESTATUS[0]}; } || true
	case $rc in
		0) count integration "$name" pass ;;
		77) count integration "$name" skip ;;
		*) count integration "$name" fail ;;
	esac
done

echo
[ ${#failures[@]} -gt 0 ] && printf 'FAILED: %s\n' "${failures[@]}"
[ "$skipped" -gt 0 ] && echo "($skipped skipped, named above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
