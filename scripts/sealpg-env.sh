#!/usr/bin/env bash
# sealpg-env.sh (make env): export lines for the dev instance.
. "$(dirname "$0")/lib.sh"

instance_vars dev "${SEALPG_DEV_PORT:-54329}"
print_env
