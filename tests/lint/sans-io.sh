#!/usr/bin/env bash
# The sans-IO rule, enforced: core targets never read a clock, draw their own randomness, spawn tasks or import
# an IO module; time, randomness and bytes are passed in (docs/architecture.md). Then no Dictionary or Set order
# reaches their output (tests/lint/unordered.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

# Every sans-IO core target by name, with its folder. A core that is named here but missing fails the lint.
cores=(
    FirezoneTime:platform/Sources/FirezoneTime
    FirezoneCrypto:platform/Sources/FirezoneCrypto
    IPPacket:ip-packet/Sources/IPPacket
    STUN:snownet/Sources/STUN
    WireGuard:snownet/Sources/WireGuard
    ICE:snownet/Sources/ICE
    TURNClient:snownet/Sources/TURNClient
    Snownet:snownet/Sources/Snownet
    RelayCore:relay/Sources/RelayCore
    PortalMessages:phoenix-channel/Sources/PortalMessages
    PhoenixCore:phoenix-channel/Sources/PhoenixCore
    ConnlibCore:connlib/Sources/ConnlibCore
)
forbidden=(
    'import NIOPosix' 'import Foundation$' 'import Dispatch' 'import LinuxIO' 'import CLinuxIO' 'import Glibc'
    'ContinuousClock' 'SuspendingClock' 'Date\(\)' 'clock_gettime' 'gettimeofday' 'fz_unix_time'
    'SystemRandomNumberGenerator' '\.random\((in: [^,)]*)?\)' 'arc4random' 'getrandom' 'randombytes_(buf|random|uniform)\('
    'Task \{' 'Task\.detached' 'Thread\(' 'sleep\(' 'DispatchQueue'
    'socket\(' 'recvmsg' 'sendmsg' 'recvfrom' 'sendto' 'epoll'
)

folders=()
for core in "${cores[@]}"; do
    folder=${core#*:}
    if [ ! -d "$folder" ]; then
        echo "sans-io: core target ${core%%:*} is not at $folder"
        exit 1
    fi
    folders+=("$folder")
done

failures=0
for pattern in "${forbidden[@]}"; do
    # Code only: lines that are comments may name what they avoid.
    if matches=$(grep -rnE --include='*.swift' "$pattern" "${folders[@]}" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//'); then
        echo "sans-io: forbidden in a core target: $pattern"
        echo "$matches"
        failures=$((failures + 1))
    fi
done
if [ "$failures" -ne 0 ]; then
    exit 1
fi
echo "sans-io: ${#cores[@]} core targets clean"
python3 tests/lint/unordered.py "${folders[@]}"
