#!/usr/bin/env bash
# `make demo`: runs what exists of the system for real. Today that is the ip-packet library against the Linux
# kernel: packets we build and NAT-rewrite go through a TUN device in a private network namespace, and the
# kernel's answers (echo replies, SYN-ACKs, ICMP errors) come back through our parser. As the relay, gateway
# and client land, this script grows into the demo topology (client → relay/gateway → resource).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root for TUN devices and network namespaces" >&2
    exit 1
fi

swift build --build-tests
echo
echo "demo: ip-packet ⇄ Linux kernel over a TUN device in a private network namespace"
FIREZONE_REQUIRE_PRIVILEGED_TESTS=1 swift test --skip-build --filter KernelCrossCheckTests
