#!/usr/bin/env bash
# types_leak.sh (integration): the leak proof of the x509/sealsig types,
# run against the test instance.  See test/leak/types_leak.sh.
exec bash "$(dirname "$0")/../leak/types_leak.sh"
