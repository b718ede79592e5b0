#!/usr/bin/env bash
# The umockdev tests of the agent's USB code (test/devices/run_tests.sh):
# hotplug through the umockdev C API, and the agent listing emulated
# devices with their serial numbers.  Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
pkg-config --exists umockdev-1.0 || { echo "SKIP: libumockdev-dev is not installed"; exit 77; }
make -s -C "$TOP/agent" sealpg-agent tests/usb_client >/dev/null || { echo "FAIL: the agent does not build"; exit 1; }
make -s -C "$TOP/test/devices" all >/dev/null || { echo "FAIL: test/devices tools do not build"; exit 1; }
sh "$TOP/test/devices/run_tests.sh"
