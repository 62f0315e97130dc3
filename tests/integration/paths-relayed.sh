#!/usr/bin/env bash
# The relayed path on the system topology (tests/topology): the client behind symmetric NAT (`masquerade random`, a
# new port per destination: endpoint-dependent mapping, RFC 4787 §4.1), the gateway behind cone NAT, two relays
# joined. The address the client's router gives its packets to the gateway is not the one any candidate names, and
# the gateway's router lets in only answers, so no direct pair succeeds: the client's status must say `relayed`.
# Ping and HTTP reach the CIDR resource and the 10 MB download keeps its SHA-256 over that path. A failure names the
# path expected and the path seen, and prints the components' logs.
# Then the checks every path shares (topo_check_matrix): DNS resources by name, a wildcard, DNS over TCP, a name no
# resource covers, the resource no policy grants unreachable, no WARN or ERROR line in any component's log.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
. tests/integration/lib.sh
# shellcheck source=../topology/topology.sh
. tests/topology/topology.sh
trap '[ ! -f "${TOPO_RUN:-}/id" ] || topo_down; cleanup' EXIT

RESOURCE=$(topo_address httpbin resources ipv4)
TOPO_RUN=$FZ_SCRATCH/topology
if ! TOPO_QUIET=1 topo_up --client-nat symmetric --gateway-nat cone; then
    fail "the topology comes up"
    topo_dump_logs
    finish
    exit
fi
check "ping reaches the CIDR resource" wait_until 20 topo_in_client ping -c 1 -W 1 "$RESOURCE"
check "HTTP reaches the CIDR resource" \
    bash -c "nsenter --target $(topo_pid client) --mount --net -- curl -sf --max-time 5 \
        http://$RESOURCE/index.html | grep -q 'firezone topology'"
check "the path is relayed" topo_expect_path 'relayed*' "$RESOURCE" 20
check "a 10 MB download keeps its SHA-256" topo_download_intact "$RESOURCE"
check "the path is still relayed after the download" topo_expect_path 'relayed*' "$RESOURCE" 1
topo_check_matrix
[ "$FZ_FAILURES" -eq 0 ] || topo_dump_logs
finish
