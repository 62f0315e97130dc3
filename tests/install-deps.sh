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
    # tests/docker: YAML for the compose file's checks, a venv for the schema validator from PyPI
    python3-yaml python3-venv
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
elif [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
else
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PyPI tools, in a venv of their own (Debian 12's pip refuses to install into the system's Python): the compose
# file's schema validator of tests/docker/run.sh, at the versions tests/docker/requirements.txt pins.
tools=${FIREZONE_TEST_TOOLS:-/var/cache/firezone-tests}
requirements=$(dirname "$0")/docker/requirements.txt
if ! cmp -s "$requirements" "$tools/venv/requirements.txt" 2>/dev/null; then
    echo "install-deps: installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $tools/venv"
    rm -rf "$tools/venv"
    mkdir -p "$tools"
    /usr/bin/python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$tools/venv/requirements.txt"
fi
