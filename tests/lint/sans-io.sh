#!/usr/bin/env bash
# The sans-IO rule, enforced: core targets never read a clock, draw their own randomness, spawn tasks or import
# an IO module. Time, randomness and bytes are passed in (ARCHITECTURE.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

cores=(
    ip-packet/Sources
    snownet/Sources/WireGuard snownet/Sources/STUN snownet/Sources/Snownet
    relay/Sources/RelayCore
    connlib/Sources/ConnlibCore
    phoenix-channel/Sources/PhoenixCore
)
forbidden=(
    'import NIOPosix' 'import Foundation' 'import Dispatch'
    'ContinuousClock' 'SuspendingClock' 'Date\(\)' 'clock_gettime' 'gettimeofday'
    'SystemRandomNumberGenerator' '\.random\((in: [^,)]*)?\)' 'arc4random' 'getrandom'
    'Task \{' 'Task\.detached' 'Thread\(' 'sleep\('
    'socket\(' 'recvmsg' 'sendmsg'
)

existing=()
for directory in "${cores[@]}"; do
    [ -d "$directory" ] && existing+=("$directory")
done

failures=0
for pattern in "${forbidden[@]}"; do
    if matches=$(grep -rnE --include='*.swift' "$pattern" "${existing[@]}"); then
        echo "sans-io: forbidden in a core target: $pattern"
        echo "$matches"
        failures=$((failures + 1))
    fi
done

if [ "$failures" -ne 0 ]; then
    exit 1
fi
echo "sans-io: ${#existing[@]} core source folders clean"
