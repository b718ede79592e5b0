#!/usr/bin/env bash
# The backend-side agent client inside a PostgreSQL backend of its own:
# keygen, sign, error SQLSTATEs, reconnect, timeout, cancel, peer refusal
# (agent/tests/backend/run_backend_tests.sh; its own cluster and agents).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$top/agent" backend-test
