#!/usr/bin/env bash
# `make demo`: the whole system on this machine, for real. It builds the release binaries, brings up the system
# topology of tests/topology (Firezone's docker-compose setup out of network namespaces: an internet segment, NAT
# routers, the portal, two relays with their XDP fast path, a gateway in front of a resources network, a headless
# client), signs the client in, reaches a CIDR resource and a DNS resource through the tunnel, shows the path each
# connection took and how long setting it up took, measures the tunnel with iperf3 for 5 seconds, and takes
# everything down again. What each step ran and printed goes to a log file whose path is printed first.
#
# Options come from the environment:
#   DEMO_CLIENT_NAT, DEMO_GATEWAY_NAT   none, cone or symmetric (default: the description's, cone); symmetric on
#                                       both sides makes the connection relay to relay
#   FIREZONE_BIN_DIR                    release binaries already built (nothing is built then)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root for network namespaces, TUN devices and XDP (run: sudo make demo)" >&2
    exit 1
fi

log=$(mktemp /tmp/firezone-demo.XXXXXX.log)
echo "Firezone data plane demo (the details of every step: $log)"
echo

# Prints a step's result line; the step's own output is in the log.
say() {
    printf '  %s\n' "$*"
}

# Runs a command with its output in the log; on failure prints the last lines of the log and exits.
run_logged() {
    local what=$1
    shift
    echo "### $what: $*" >>"$log"
    if ! "$@" >>"$log" 2>&1; then
        echo "demo: $what failed; the last lines of $log:" >&2
        tail -n 25 "$log" >&2
        exit 1
    fi
}

bin=${FIREZONE_BIN_DIR:-}
if [ -z "$bin" ]; then
    echo "Building the release binaries (a few minutes the first time)"
    for product in firezone-portal firezone-relay firezone-gateway firezone-headless-client; do
        run_logged "building $product" swift build -c release --product "$product"
    done
    bin=$(swift build -c release --show-bin-path)
    say "portal, relay, gateway and headless client built in $bin"
    echo
fi
export FIREZONE_BIN_DIR=$bin

# shellcheck source=integration/lib.sh
. tests/integration/lib.sh
# shellcheck source=topology/topology.sh
. tests/topology/topology.sh
TOPO_RUN=$FZ_SCRATCH/topology
run_logs=${log%.log}
# Whatever happens, everything the topology started is stopped and its namespaces deleted; the components' logs are
# kept in a directory beside the demo's log.
take_down() {
    [ -f "${TOPO_RUN:-}/id" ] || return 0
    mkdir -p "$run_logs"
    cp "$TOPO_RUN"/*.log "$run_logs/" 2>/dev/null || true
    topo_down "$TOPO_RUN" >>"$log" 2>&1
}
finish_demo() {
    local status=$?
    take_down || true
    cleanup
    exit "$status"
}
trap finish_demo EXIT

options=()
[ -z "${DEMO_CLIENT_NAT:-}" ] || options+=(--client-nat "$DEMO_CLIENT_NAT")
[ -z "${DEMO_GATEWAY_NAT:-}" ] || options+=(--gateway-nat "$DEMO_GATEWAY_NAT")

echo "Bringing up the topology in network namespaces"
if ! TOPO_QUIET=1 topo_up "${options[@]}" >>"$log" 2>&1; then
    echo "demo: the topology did not come up:" >&2
    grep -h "FAILED\|WARNING" "$TOPO_RUN/topology.log" >&2 || tail -n 25 "$log" >&2
    exit 1
fi
nat_of() {
    local kind
    kind=$(topo_nat_kind "$1")
    case "$kind" in
    none) echo "no NAT" ;;
    cone) echo "a cone NAT" ;;
    symmetric) echo "a symmetric NAT" ;;
    *) echo "$kind" ;;
    esac
}
portal_address=$(topo_address portal-router internet ipv4)
say "portal        ws://$portal_address:8081, behind $(nat_of portal-router) with a port forward"
for relay in relay-1 relay-2; do
    mode=$(cat "$TOPO_RUN/$relay.xdp")
    case "$mode" in
    off) datapath="relaying in userspace: its XDP program did not attach (see $log)" ;;
    *) datapath="XDP fast path attached ($mode mode)" ;;
    esac
    say "$relay       public address $(topo_public_ipv4 "$relay"), $datapath"
done
grep -h "WARNING" "$TOPO_RUN/topology.log" | sed 's/^\[topology\] /  /' || true
say "gateway       behind $(nat_of gateway-router), in front of 172.20.0.0/24 (HTTP, iperf3) and DNS resources"
say "client        behind $(nat_of client-router), DNS control: /etc/resolv.conf in its own mount namespace"
echo

echo "Signing the client in"
topo_status >>"$log" 2>&1
say "$(topo_status | grep -m1 'Signed in')"
say "resources it may reach: $(jq -r '[.resources[].name] | join(", ")' "$TOPO_RUN/client-status.json")"
echo

cidr_resource=$(topo_address httpbin resources ipv4)
dns_resource=dns.httpbin.search.test
echo "Reaching resources through the tunnel"
# The first request sets the connection up: ICE, the WireGuard handshake, the gateway's authorization.
first=$(topo_in_client curl -s --max-time 20 -o /dev/null -w '%{http_code} %{time_total}' "http://$cidr_resource/")
read -r code seconds <<<"$first"
if [ "$code" != 200 ]; then
    echo "demo: the CIDR resource http://$cidr_resource/ answered '$code'" >&2
    exit 1
fi
say "http://$cidr_resource/ (CIDR resource): HTTP $code, $(awk -v s="$seconds" 'BEGIN { printf "%.0f", s * 1000 }') ms" \
    "including the connection's set-up"
proxy_address=$(topo_in_client dig +short +time=2 +tries=2 "$dns_resource" A | head -n 1)
page=$(topo_in_client curl -s --max-time 10 -w ' (HTTP %{http_code})' "http://$dns_resource/")
case "$page" in
*"(HTTP 200)") ;;
*)
    echo "demo: the DNS resource http://$dns_resource/ answered: $page" >&2
    exit 1
    ;;
esac
say "http://$dns_resource/ (DNS resource, resolved to the proxy address $proxy_address): ${page//$'\n'/ }"
echo

echo "Connections (the client's status: the path each took and its last WireGuard handshake)"
# The status file is rewritten once a second: wait until it names the connection's path (direct, relayed …, relay to
# relay), which it does once the connection is up.
if ! topo_expect_path '[dr]*' "$cidr_resource" 10 >>"$log"; then
    echo "demo: the client's status shows no established connection (see $log)" >&2
    exit 1
fi
topo_status >>"$log"
topo_status | sed -n '/^Connections/,$p' | tail -n +2
echo

echo "Throughput through the tunnel (iperf3, 5 s, one TCP stream)"
iperf_server=$(topo_address iperf3 resources ipv4)
topo_in_client iperf3 -c "$iperf_server" -t 5 --json >"$FZ_SCRATCH/iperf.json" 2>>"$log" || true
cat "$FZ_SCRATCH/iperf.json" >>"$log"
rate=$(jq -r '.end.sum_received.bits_per_second // empty' "$FZ_SCRATCH/iperf.json" 2>/dev/null || true)
if [ -z "$rate" ]; then
    echo "demo: iperf3 through the tunnel to $iperf_server failed (see $log)" >&2
    exit 1
fi
say "client → $iperf_server: $(awk -v r="$rate" 'BEGIN { printf "%.2f", r / 1e9 }') Gbit/s received"
echo

echo "Taking everything down"
# In a condition, so that a stopped process's exit status read by `wait` is not taken for the demo's failure.
if ! take_down; then
    echo "demo: taking the topology down failed (see $log)" >&2
    exit 1
fi
left=$(ip netns list 2>/dev/null | grep -c "^fzt$TOPO_ID-" || true)
if [ "$left" -ne 0 ]; then
    echo "demo: $left network namespaces of the run are left" >&2
    exit 1
fi
say "every process stopped, every namespace deleted; the components' logs are in $run_logs"
echo
echo "Done."
