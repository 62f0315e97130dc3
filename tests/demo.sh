#!/usr/bin/env bash
# `make demo`: runs what exists of the system for real. Today that is:
# 1. the relay carrying coturn's TURN clients: firezone-relay in one network namespace, coturn's
#    turnutils_stunclient and turnutils_uclient (with credentials from `firezone-relay credentials`) and an echo
#    peer in another; data flows client → relay → peer → relay → client over IPv4 and IPv6, and the relay's
#    Prometheus metrics are printed;
# 2. the relay's XDP fast path: two TURN clients on two hosts behind a router exchange channel data and UDP through
#    the relay with its XDP program attached, in driver and in generic mode, and its counters show that XDP, not
#    userspace, relayed every packet;
# 3. the ip-packet library against the Linux kernel: packets we build and NAT-rewrite go through a TUN device in a
#    private network namespace, and the kernel's answers come back through our parser.
# As the gateway and client land, this script grows into the demo topology (client → relay/gateway → resource).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root for TUN devices and network namespaces" >&2
    exit 1
fi

swift build --build-tests
echo
echo "demo: firezone-relay carrying coturn's TURN clients, in network namespaces"
FZ_SHOW_METRICS=1 tests/integration/relay-coturn-clients.sh
echo
echo "demo: firezone-relay's XDP fast path relaying two TURN clients' traffic in the kernel"
tests/integration/relay-xdp.sh
echo
echo "demo: ip-packet ⇄ Linux kernel over a TUN device in a private network namespace"
FIREZONE_REQUIRE_PRIVILEGED_TESTS=1 swift test --skip-build --filter KernelCrossCheckTests
