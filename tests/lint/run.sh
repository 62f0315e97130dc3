#!/usr/bin/env bash
# Every lint of `make test`, each to the end; fails if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
for lint in tests/lint/sans-io.sh tests/lint/unordered-fixtures.py tests/lint/imports.py tests/lint/comments.sh tests/lint/format.sh \
    tests/lint/units.sh; do
    "$lint" || status=1
done
exit $status
