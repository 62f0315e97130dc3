#!/usr/bin/env bash
# The direct path on the system topology (tests/topology): client and gateway with no NAT and then both behind cone
# NAT (port-preserving masquerade: endpoint-independent mapping, RFC 4787 §4.1), two relays joined. Ping and HTTP reach
# the CIDR resource, the 10 MB download through the tunnel keeps its SHA-256, and the client's status says `direct`:
# hole punching needs no relay when both mappings are endpoint-independent. A failure names the path expected and
# the path seen, and prints the components' logs. After each, `down` must leave no process and no namespace behind.
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

for nat in none cone; do
    TOPO_RUN=$FZ_SCRATCH/topology-$nat
    if ! TOPO_QUIET=1 topo_up --client-nat "$nat" --gateway-nat "$nat"; then
        fail "[$nat NAT] the topology comes up"
        topo_dump_logs
        topo_down
        continue
    fi
    check "[$nat NAT] ping reaches the CIDR resource" wait_until 20 topo_in_client ping -c 1 -W 1 "$RESOURCE"
    check "[$nat NAT] HTTP reaches the CIDR resource" \
        bash -c "nsenter --target $(topo_pid client) --mount --net -- curl -sf --max-time 5 \
            http://$RESOURCE/index.html | grep -q 'firezone topology'"
    check "[$nat NAT] the path is direct" topo_expect_path direct "$RESOURCE" 20
    check "[$nat NAT] a 10 MB download keeps its SHA-256" topo_download_intact "$RESOURCE"
    check "[$nat NAT] the path is still direct after the download" topo_expect_path direct "$RESOURCE" 1
    topo_check_matrix "[$nat NAT]"
    [ "$FZ_FAILURES" -eq 0 ] || topo_dump_logs
    # `down` leaves nothing of the run: no process it started, no namespace (and so no link or nftables table).
    mapfile -t started < <(awk '{ print $1 }' "$TOPO_RUN/pids")
    topo_down
    check "[$nat NAT] down stops every process it started (${#started[@]})" \
        bash -c "! ps -o pid= -p '$(IFS=,; echo "${started[*]}")' >/dev/null"
    check "[$nat NAT] down deletes every namespace of the run" \
        bash -c "! ip netns list 2>/dev/null | grep -q '^fzt$TOPO_ID-'"
done
finish
