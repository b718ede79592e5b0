#!/usr/bin/env bash
# sealpg-down.sh (make down): stop the dev instance (cluster and agent).
. "$(dirname "$0")/lib.sh"

instance_vars dev "${SEALPG_DEV_PORT:-54329}"
stop_cluster
stop_agent
say "sealpg is down (data kept in $DIR)"
