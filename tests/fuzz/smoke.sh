#!/usr/bin/env bash
# Runs every fuzz target briefly (SECONDS_EACH, default 10) with run.sh and fails if any of them crashes.
# `make test` runs this: a smoke test that the targets build, run, and hold on their seeds plus a little more.
#
#   tests/fuzz/smoke.sh [SECONDS_EACH]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
seconds=${1:-10}

failed=()
for target in $(./run.sh --list); do
    if ! ./run.sh "$target" "$seconds"; then
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -ne 0 ]]; then
    echo "fuzz smoke runs failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz smoke runs passed: $(./run.sh --list | paste -sd ' ')"
