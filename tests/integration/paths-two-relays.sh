#!/usr/bin/env bash
# The relay ↔ relay path over two relays on the system topology (tests/topology): client and gateway both behind
# symmetric NAT (`masquerade random`), and the portal gives each side its own relay (`--relay-sets split`: the
# client relay-1, the gateway's site relay-2), as Firezone's portal gives each device the relays nearest to it.
# Each side's connection samples its relay from what it was given (rust/connlib/snownet/src/node.rs), so the client's
# relayed candidate is on relay-1 and the gateway's on relay-2. No direct pair and no pair of a relayed candidate with
# a server-reflexive one succeeds behind symmetric NAT, so ICE nominates the pair of both relayed candidates across
# the two relays (RFC 8445 §5.1.1.2: a relayed candidate is its own base, so that pair is redundant with none): the
# client's status must say `relay to relay`, and the 10 MB download must cross both relays (client ⇄ relay-1 as
# channel data, relay-1 ⇄ relay-2 as UDP between their allocations, relay-2 ⇄ gateway as channel data) with its
# SHA-256 intact, which both relays' counters must show. A failure names the path expected and the path seen, and
# each relay's allocations, channels and relayed packets.
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
RELAYED='relay_relayed_packets_total'
LOOPED='relay_xdp_packets_total{action="tx",reason="channel_to_channel"}'

# What each relay holds and carried so far, for the failure messages.
relays_seen() {
    local relay
    for relay in relay-1 relay-2; do
        printf '%s: %s allocations, %s channels, %s packets relayed; ' "$relay" \
            "$(topo_relay_metric "$relay" 'relay_allocations ')" "$(topo_relay_metric "$relay" 'relay_channels ')" \
            "$(topo_relay_metric "$relay" "$RELAYED")"
    done
}

# 10 MiB in TCP segments that fit the tunnel's 1280-byte MTU are more than 8,000 packets, besides the ACKs.
TOPO_RUN=$FZ_SCRATCH/topology-two-relays
if ! TOPO_QUIET=1 topo_up --client-nat symmetric --gateway-nat symmetric --relays 2 --relay-sets split; then
    fail "the topology comes up"
    topo_dump_logs
    finish
fi
check "ping reaches the CIDR resource" wait_until 20 topo_in_client ping -c 1 -W 1 "$RESOURCE"
if ! check "the path is relay to relay" topo_expect_path 'relay to relay' "$RESOURCE" 20; then
    echo "relays seen: $(relays_seen)"
fi
check "each relay has a channel bound: $(relays_seen)" \
    bash -c "[ $(topo_relay_metric relay-1 'relay_channels ') -ge 1 ] && [ $(topo_relay_metric relay-2 'relay_channels ') -ge 1 ]"
sleep 1.2
one_before=$(topo_relay_metric relay-1 "$RELAYED")
two_before=$(topo_relay_metric relay-2 "$RELAYED")
looped_before=$(($(topo_relay_metric relay-1 "$LOOPED") + $(topo_relay_metric relay-2 "$LOOPED")))
check "a 10 MB download keeps its SHA-256" topo_download_intact "$RESOURCE"
sleep 1.2
one=$(($(topo_relay_metric relay-1 "$RELAYED") - one_before))
two=$(($(topo_relay_metric relay-2 "$RELAYED") - two_before))
looped=$(($(topo_relay_metric relay-1 "$LOOPED") + $(topo_relay_metric relay-2 "$LOOPED") - looped_before))
check "relay-1 (the client's) carried the download: $one packets (at least 8000)" [ "$one" -ge 8000 ]
check "relay-2 (the gateway's) carried the download: $two packets (at least 8000)" [ "$two" -ge 8000 ]
check "neither relay looped it back to itself: $looped packets (at most 10)" [ "$looped" -le 10 ]
check "the path is still relay to relay after the download ($(relays_seen))" \
    topo_expect_path 'relay to relay' "$RESOURCE" 1
topo_check_matrix
[ "$FZ_FAILURES" -eq 0 ] || topo_dump_logs
topo_down
finish
