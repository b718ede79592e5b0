# Makefile for sealpg: the extension (PGXS), the agent, and the commands
# that set up, demonstrate and test the whole system.
#
#   make            build sealpg.so and agent/sealpg-agent
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
# extension/sql/; released versions and upgrade deltas are kept as files.
SQL_PIECES = $(sort $(wildcard extension/sql/[0-9]*.sql))
DATA_built = sealpg--$(EXTVERSION).sql
DATA = $(filter-out extension/sealpg--$(EXTVERSION).sql,$(wildcard extension/sealpg--*.sql))

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PG_CPPFLAGS = -Iextension -Iagent -I/usr/include/p11-kit-1
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK = -lssl -lcrypto

EXTRA_CLEAN = sealpg--$(EXTVERSION).sql

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

all: agent
install: agent-install
clean: agent-clean
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
