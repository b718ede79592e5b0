#!/usr/bin/env bash
# sealpg-up.sh (make up): packages, build, install, then the "dev" instance:
# a private cluster, its SoftHSM2 tokens and the agent.  Idempotent.
. "$(dirname "$0")/lib.sh"

ensure_packages
say "building and installing sealpg"
make -C "$TOP" -s >/dev/null
make -C "$TOP" -s install >/dev/null
instance_vars dev "${SEALPG_DEV_PORT:-54329}"
say "cluster in $DIR"
ensure_cluster
ensure_tokens
start_agent
start_cluster
ensure_database
say "sealpg is up; connect with:"
echo '  eval "$(make -s env)"; psql'
print_env | sed 's/^/  /'
