# Makefile for sealpg: the extension (PGXS), the agent, and the commands
# that set up, demonstrate and test the whole system.
#
#   make            build sealpg.so, agent/sealpg-agent and ocspd/sealpg-ocspd
#   make install    install both (system PostgreSQL)
#   make up         packages, build, install, private cluster, token, agent
#   make demo       make up, then the story of a seal, artifacts in demo-out/
#   make test       every test on a cluster of its own; ends "N passed, N failed"
#   make down       stop what make up started
#   make env        export lines for eval "$(make -s env)"

EXTENSION = sealpg
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" sealpg.control)

MODULE_big = sealpg
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c)))

# The install script of the current version is the ordered pieces of
# extension/sql/.  Release 0.1.0 was pieces 00-19; its install script is
# kept, frozen, in extension/.  The pieces after it (20 and up) are written
# to work both in a fresh install and as the upgrade delta from 0.1.0, so
# the delta is those pieces; the regression test "upgrade" proves that an
# upgraded database equals a fresh one.
SQL_PIECES = $(sort $(wildcard extension/sql/[0-9]*.sql))
FIRST_RELEASE = 0.1.0
FIRST_PIECES = $(filter extension/sql/0% extension/sql/1%,$(SQL_PIECES))
LATER_PIECES = $(filter-out $(FIRST_PIECES),$(SQL_PIECES))
DATA_built = sealpg--$(EXTVERSION).sql sealpg--$(FIRST_RELEASE)--$(EXTVERSION).sql
DATA = extension/sealpg--$(FIRST_RELEASE).sql

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PG_CPPFLAGS = -Iextension -Iagent -I/usr/include/p11-kit-1
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK = -lssl -lcrypto

EXTRA_CLEAN = $(DATA_built)

# No JIT bitcode: it needs clang and gains nothing for this extension.
override with_llvm = no

# On a fresh machine pg_config is not there yet: the script targets below
# (up, demo, test) install it first, then call make again.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
all install clean:
	@echo "PostgreSQL 15 server headers are missing: run 'make up' or 'make test' (they install them)" >&2; exit 1
endif

sealpg--$(EXTVERSION).sql: $(SQL_PIECES) sealpg.control
	{ printf '%s\n' '-- sealpg $(EXTVERSION): generated from extension/sql/*.sql by make; edit the pieces.' \
	  '\echo Use "CREATE EXTENSION sealpg" to load this file. \quit'; \
	  for f in $(SQL_PIECES); do printf '\n'; cat $$f; done; } > $@

sealpg--$(FIRST_RELEASE)--$(EXTVERSION).sql: $(LATER_PIECES) sealpg.control
	{ printf '%s\n' '-- sealpg $(FIRST_RELEASE) -> $(EXTVERSION): generated from extension/sql/[2-9]*.sql by make.' \
	  '\echo Use "ALTER EXTENSION sealpg UPDATE" to load this file. \quit'; \
	  for f in $(LATER_PIECES); do printf '\n'; cat $$f; done; } > $@

all: ocspd
install: ocspd-install
clean: ocspd-clean
.PHONY: ocspd ocspd-install ocspd-clean
ocspd:
	$(MAKE) -C ocspd
ocspd-install:
	$(MAKE) -C ocspd install
ocspd-clean:
	$(MAKE) -C ocspd clean

all: agent
install: agent-install
clean: agent-clean
# PGXS tracks no header dependencies here: rebuild every object when a header changes.
$(OBJS): $(wildcard extension/*.h agent/*.h)

# sealpg-listen (tools/): prints the notification channels as JSON lines
all: tools
install: tools-install
clean: tools-clean
.PHONY: tools tools-install tools-clean
tools:
	$(MAKE) -C tools
tools-install:
	$(MAKE) -C tools install
tools-clean:
	$(MAKE) -C tools clean

.PHONY: agent agent-install agent-clean up down env demo test
agent:
	$(MAKE) -C agent
agent-install:
	$(MAKE) -C agent install
agent-clean:
	$(MAKE) -C agent clean

up:
	scripts/sealpg-up.sh
down:
	scripts/sealpg-down.sh
env:
	@scripts/sealpg-env.sh
demo:
	scripts/sealpg-demo.sh
test:
	scripts/sealpg-test.sh

# sealpg-verify: the offline evidence verifier (OpenSSL only, no database).
VERIFY_SRCS = $(sort $(wildcard verify/*.c))
EXTRA_CLEAN += verify/sealpg-verify
.PHONY: verify verify-install
all: verify
install: verify-install
verify: verify/sealpg-verify
verify/sealpg-verify: $(VERIFY_SRCS) verify/verify.h
	$(CC) -O2 -g -Wall -Wextra -Werror -o $@ $(VERIFY_SRCS) -lcrypto
verify-install: verify/sealpg-verify
	$(INSTALL_PROGRAM) -D verify/sealpg-verify '$(DESTDIR)$(bindir)/sealpg-verify'
