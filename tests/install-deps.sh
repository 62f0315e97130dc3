#!/usr/bin/env bash
# Installs what the build and the tests need on a Debian 12 machine, as root: the C libraries we link, clang for
# the eBPF program, and the real peers the integration tests run against. Installs only what is missing.
set -euo pipefail

packages=(
    # Build
    pkg-config libsodium-dev libssl-dev libbpf-dev clang llvm
    # Real peers and network tools used by the tests
    iproute2 iputils-ping ethtool socat tcpdump bpftool xdp-tools nftables
    wireguard-go wireguard-tools iperf3 coturn
    # An independent ICE agent (RFC 5245/8445) for tests/integration/ice-aioice.sh
    python3-aioice
    # The portal's wss:// tests make a throwaway certificate
    openssl
    # systemd-analyze checks the units we ship (tests/lint/units.sh)
    systemd
    # The system topology reads its description (tests/topology/topology.json)
    jq
    # DNS servers and queries for tests/integration/headless-client-resources.sh
    dnsmasq-base bind9-dnsutils
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
