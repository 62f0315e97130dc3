#!/usr/bin/env bash
# Builds the fuzz targets and runs one of them with libFuzzer.
#
#   tests/fuzz/run.sh TARGET SECONDS   fuzz TARGET for SECONDS seconds (not counting the build)
#   tests/fuzz/run.sh --list           print the targets, one per line
#
# The run starts from the committed seeds in corpus/TARGET/, copied into .corpus-work/TARGET/, where libFuzzer
# also keeps what it finds; that folder persists between runs (FUZZ_FRESH=1 starts it again from the seeds)
# and is git-ignored, as is artifacts/. A crashing input is kept in artifacts/TARGET/; the script then prints
# its path and the command that replays it, and exits 1. Exit 2: bad arguments or unknown target.
#
# Extra libFuzzer flags can be given in FUZZ_FLAGS, e.g. FUZZ_FLAGS="-jobs=2 -workers=2" or "-seed=1".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
fuzz_dir=$(pwd)

# TARGET  executable product  libFuzzer -max_len (ip-packet: the longest packet, 1280, plus a rewrite script;
# stun: a datagram the relay accepts; relay-server, snownet and gateway-policy: a sequence of records; portal-messages:
# room for an `init` with a few dozen resources; dns-message: a TCP read of a few messages; dns-tcp-server: a sequence of
# segments and timeouts)
targets=(
    "ip-packet IPPacketFuzzer 1600"
    "stun STUNFuzzer 1500"
    "relay-server RelayServerFuzzer 4096"
    "portal-messages PortalMessagesFuzzer 16384"
    "wireguard WireGuardFuzzer 1600"
    "snownet SnownetFuzzer 4096"
    "gateway-policy GatewayPolicyFuzzer 4096"
    "dns-message DNSMessageFuzzer 2048"
    "dns-tcp-server DNSTCPServerFuzzer 4096"
)

usage() {
    echo "usage: $0 TARGET SECONDS | --list" >&2
}

target_names() {
    local entry
    for entry in "${targets[@]}"; do
        echo "${entry%% *}"
    done
}

if [[ $# -eq 1 && $1 == --list ]]; then
    target_names
    exit 0
fi
if [[ $# -ne 2 ]]; then
    usage
    exit 2
fi
target=$1
seconds=$2

product= max_len=
for entry in "${targets[@]}"; do
    read -r name executable length <<<"$entry"
    if [[ $name == "$target" ]]; then
        product=$executable
        max_len=$length
    fi
done
if [[ -z $product ]]; then
    echo "run.sh: unknown fuzz target '$target'; the targets are: $(target_names | paste -sd ' ')" >&2
    exit 2
fi
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "run.sh: SECONDS must be a positive whole number, not '$seconds'" >&2
    usage
    exit 2
fi

# Coverage instrumentation and libFuzzer (-sanitize=fuzzer) plus AddressSanitizer, for every Swift module of the
# build, the library under test included. No -parse-as-library: each target's main.swift calls libFuzzer's
# driver itself, since SwiftPM links executables with `main` bound to the module's own entry point.
build_flags=(-c release --scratch-path "$fuzz_dir/.build" -Xswiftc -sanitize=fuzzer,address)
echo "=== building $product"
started=$SECONDS
swift build "${build_flags[@]}" --product "$product"
echo "=== built in $((SECONDS - started)) s"
binary="$(swift build "${build_flags[@]}" --show-bin-path)/$product"

work="$fuzz_dir/.corpus-work/$target"
artifacts="$fuzz_dir/artifacts/$target"
if [[ ${FUZZ_FRESH:-0} == 1 ]]; then
    rm -rf "$work"
fi
mkdir -p "$work" "$artifacts"
cp -R -p "$fuzz_dir/corpus/$target/." "$work/"
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT

# A fatalError traps; libFuzzer reports it and writes the input. Swift's own crash backtracer would only add
# seconds (or hang) on top of that.
export SWIFT_BACKTRACE=enable=no

echo "=== fuzzing $target for $seconds s (corpus $work, artifacts $artifacts)"
status=0
# shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
"$binary" "$work" \
    -max_total_time="$seconds" \
    -max_len="$max_len" \
    -timeout=10 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    ${FUZZ_FLAGS:-} || status=$?

if [[ $status -ne 0 ]]; then
    found=$(find "$artifacts" -type f -newer "$marker" | sort)
    echo
    echo "=== $target FAILED (libFuzzer exit status $status)"
    if [[ -n $found ]]; then
        echo "crashing input(s):"
        while read -r file; do
            echo "  $file"
        done <<<"$found"
        echo "replay: SWIFT_BACKTRACE=enable=no $binary <input>"
    fi
    exit 1
fi
echo "=== $target: no crash in $seconds s"
