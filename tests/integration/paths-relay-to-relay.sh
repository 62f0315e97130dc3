#!/usr/bin/env bash
# The relay ↔ relay path over one relay on the system topology (tests/topology), as Firezone's
# download-double-symmetric-nat integration run sets it up (#10286): client and gateway both behind symmetric NAT
# (`masquerade random`), one relay in the portal's configuration. No direct pair and no pair of a relayed candidate
# with a server-reflexive one succeeds, so ICE nominates the pair of both relayed candidates, both allocated on the
# same relay: the client's status must say `relay to relay`, and what the client sends as channel data to the relay
# is addressed to the relay's own public address.
#
# With XDP, the relay's program loops it back as channel data to the gateway (channel_to_channel): the 10 MB
# download must be carried that way, with its SHA-256 intact. Without XDP, userspace loops it back the same way: sent
# as UDP to its own public address, it would come back through the relay's router without the source translated
# (masquerade applies only toward the internet), from an address no channel is bound to.
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
LOOPED='relay_xdp_packets_total{action="tx",reason="channel_to_channel"}'
USERSPACE='relay_relayed_packets_total{datapath="userspace"}'

# 10 MiB in TCP segments that fit the tunnel's 1280-byte MTU are more than 8,000 packets, besides the ACKs.
for xdp in driver off; do
    TOPO_RUN=$FZ_SCRATCH/topology-$xdp
    if ! TOPO_QUIET=1 topo_up --client-nat symmetric --gateway-nat symmetric --relays 1 --relay-xdp "$xdp"; then
        fail "[XDP $xdp] the topology comes up"
        topo_dump_logs
        topo_down
        continue
    fi
    mode=$(cat "$TOPO_RUN/relay-1.xdp")
    if [ "$xdp" = driver ]; then
        check "[XDP $xdp] the relay runs its XDP program (mode: $mode)" [ "$mode" != off ]
    fi
    check "[XDP $xdp] ping reaches the CIDR resource" wait_until 20 topo_in_client ping -c 1 -W 1 "$RESOURCE"
    check "[XDP $xdp] the path is relay to relay" topo_expect_path 'relay to relay' "$RESOURCE" 20
    # The relay publishes its counters once a second.
    sleep 1.2
    looped_before=$(topo_relay_metric relay-1 "$LOOPED")
    userspace_before=$(topo_relay_metric relay-1 "$USERSPACE")
    check "[XDP $xdp] a 10 MB download keeps its SHA-256" topo_download_intact "$RESOURCE"
    sleep 1.2
    looped=$(($(topo_relay_metric relay-1 "$LOOPED") - looped_before))
    userspace=$(($(topo_relay_metric relay-1 "$USERSPACE") - userspace_before))
    if [ "$xdp" = driver ]; then
        check "[XDP $xdp] XDP looped the download's packets back as channel data: $looped (at least 8000)" \
            [ "$looped" -ge 8000 ]
        check "[XDP $xdp] userspace relayed next to none of them: $userspace (at most 10)" [ "$userspace" -le 10 ]
    else
        check "[XDP $xdp] userspace relayed the download: $userspace packets (at least 8000)" \
            [ "$userspace" -ge 8000 ]
    fi
    check "[XDP $xdp] the path is still relay to relay after the download" \
        topo_expect_path 'relay to relay' "$RESOURCE" 1
    topo_check_matrix "[XDP $xdp]"
    [ "$FZ_FAILURES" -eq 0 ] || topo_dump_logs
    topo_down
done
finish
