#!/usr/bin/env bash
# Builds the executables and runs every integration test (root: network namespaces). Each test cleans up what
# it created; this runs them all, then reports, and fails if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "integration tests need root (network namespaces)" >&2
    exit 1
fi
swift build --product firezone-relay || exit 1
swift build --product relay-load || exit 1
swift build --product wireguard-peer || exit 1
swift build --product ice-interop || exit 1
swift build --product firezone-portal || exit 1
swift build --product firezone-gateway || exit 1
swift build --product firezone-headless-client || exit 1

failed=0
for test in tests/integration/*.sh; do
    case "$(basename "$test")" in lib.sh | run.sh) continue ;; esac
    echo "--- $test"
    timeout 600 "$test" || failed=$((failed + 1))
done
[ "$failed" -eq 0 ]
