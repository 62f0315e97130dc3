#!/usr/bin/env bash
# Runs every stage of `make test`, each to the end even when an earlier one failed, then prints one line per
# stage and a closing count. Exits non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."

stages=(
    "lints: sans-IO, unordered iteration, import rules, comments, format|tests/lint/run.sh"
    "executables the tests drive|swift build --product firezone-relay"
    "container files: compose schema, compose against the topology, image libraries|tests/docker/run.sh"
    "unit and simulation tests|swift test"
    "hot-path allocations|tests/benchmarks/check-allocations.sh"
    "integration tests with real peers in network namespaces|tests/integration/run.sh"
    "fuzz smoke runs|tests/fuzz/smoke.sh 10"
)

results=()
passed=0
failed=0
for stage in "${stages[@]}"; do
    name=${stage%%|*}
    command=${stage#*|}
    echo
    echo "=== $name: $command"
    started=$SECONDS
    if bash -c "$command"; then
        results+=("PASS  $name ($((SECONDS - started)) s)")
        passed=$((passed + 1))
    else
        results+=("FAIL  $name ($((SECONDS - started)) s)")
        failed=$((failed + 1))
    fi
done

echo
echo "=== make test summary"
printf '%s\n' "${results[@]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
