#!/usr/bin/env bash
# Throughput of the full tunnel (firezone-headless-client → firezone-gateway, a direct path on one veth link, with
# firezone-portal and firezone-relay beside the gateway) against userspace WireGuard between the same two network
# namespaces, in one run: our bare `wireguard-peer`, a current wireguard-go (UDP GSO/GRO and TUN offloads) when
# WIREGUARD_GO_CURRENT names its binary, and Debian's /usr/bin/wireguard-go. Every implementation runs at the MTU
# of tun-firezone (1280). Per round and implementation: iperf3 TCP client → server, server → client (-R), and UDP
# client → server (unlimited rate, 1200-byte datagrams, the rate received). Prints each round's figures and the
# ratios of the full tunnel to each other implementation, then every figure's spread over the rounds.
#
# Usage: tests/perf/tunnel.sh [SECONDS] [ROUNDS]   (defaults 10 and 1; release builds are made first)
#   WIREGUARD_GO_CURRENT=/path/to/wireguard-go   a current wireguard-go (0.0.20250522); skipped when unset
#   FIREZONE_BIN_DIR=DIR                        release binaries built already (nothing is built then)
#   TUNNEL_PERF_PROFILE=DIR                     perf record -g of the client and the gateway during TCP
#                                               transfers of their own before the rounds, into DIR
#   TUNNEL_PERF_ONLY="firezone wireguard-go-current"   measure only these (names as printed)
# Beside the throughput it prints the CPU time the two tunnel endpoints (client and gateway, or the two WireGuard
# processes) spent per GB received: on a machine where other work competes for the cores, that figure moves far
# less than the throughput does.
# A perf script: run by hand, not by `make test`. Every process it starts is stopped by PID, its namespaces are
# deleted, and each step has a timeout.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../integration/lib.sh
source tests/integration/lib.sh
trap cleanup EXIT

seconds=${1:-10}
rounds=${2:-1}
mtu=1280
current_go=${WIREGUARD_GO_CURRENT:-}
debian_go=/usr/bin/wireguard-go
profile_dir=${TUNNEL_PERF_PROFILE:-}

bin=${FIREZONE_BIN_DIR:-}
if [ -z "$bin" ]; then
    for product in firezone-portal firezone-relay firezone-gateway firezone-headless-client wireguard-peer; do
        swift build -c release --product "$product" >/dev/null
    done
    bin=$(swift build -c release --show-bin-path)
fi

tag=$$
c="tpc$tag" # the client's namespace
g="tpg$tag" # the gateway's, with the portal, the relay and the iperf3 server
make_link "$c" "$g" 93
gateway_ip=10.93.0.2
resource_ip=172.20.0.1
ip -n "$g" addr add "$resource_ip/32" dev lo
status_file=$FZ_SCRATCH/status.json

cat >"$FZ_SCRATCH/portal.json" <<JSON
{
  "account_slug": "local",
  "upstream_dns": [],
  "sites": [{"id": "5c2a9a8e-0d3c-4a34-9d0e-3f1f6c0b1a01", "name": "Site A", "token": "site-a-gateways-token"}],
  "resources": [
    {"id": "8f0e1d2c-3b4a-4c5d-9e6f-7a8b9c0d1e2f", "type": "cidr", "address": "172.20.0.0/16", "name": "Lab",
     "site_ids": ["5c2a9a8e-0d3c-4a34-9d0e-3f1f6c0b1a01"], "filters": []}
  ],
  "groups": [{"id": "everyone", "name": "Everyone"}],
  "clients": [
    {"id": "3c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f", "name": "perf", "token": "client-1-token", "group_ids": ["everyone"]}
  ],
  "policies": [{"group_id": "everyone", "resource_id": "8f0e1d2c-3b4a-4c5d-9e6f-7a8b9c0d1e2f"}],
  "relays": [{"id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", "name": "relay-1", "token": "relay-1-token"}]
}
JSON

umask 077
for side in c g; do
    wg genkey >"$FZ_SCRATCH/$side.key"
    wg pubkey <"$FZ_SCRATCH/$side.key" >"$FZ_SCRATCH/$side.pub"
done
# WireGuard between the namespaces: the client's side 10.197.0.1, the server's 10.197.0.2.
wireguard_config() {
    local self=$1 other=$2 other_host=$3
    cat <<CONF
[Interface]
PrivateKey = $(cat "$FZ_SCRATCH/$self.key")
ListenPort = 51820

[Peer]
PublicKey = $(cat "$FZ_SCRATCH/$other.pub")
Endpoint = 10.93.0.$other_host:51820
AllowedIPs = 10.197.0.$other_host/32
CONF
}
wireguard_config c g 2 >"$FZ_SCRATCH/c.conf"
wireguard_config g c 1 >"$FZ_SCRATCH/g.conf"

running=()
stop_running() {
    local pid
    for pid in "${running[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${running[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    running=()
}

status_says() {
    "$bin/firezone-headless-client" status --status-path "$status_file" | grep "$1" >/dev/null
}

gateway_ready() {
    [ "$(ip netns exec "$g" curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:8080/readyz)" = 200 ]
}

path_is_direct() {
    ip netns exec "$c" ping -c 1 -W 1 "$resource_ip" >/dev/null && sleep 1.2 && status_says "direct  last handshake"
}

# Portal, relay and gateway in the gateway's namespace, the headless client in the client's; the server address
# is the CIDR resource's. Fails unless the client's status shows a direct path to the gateway.
start_firezone() {
    start_in "$g" "$FZ_SCRATCH/portal.log" "$bin/firezone-portal" --config "$FZ_SCRATCH/portal.json" \
        --listen "$gateway_ip:8081" --admin 127.0.0.1:8082
    running+=("$LAST_PID")
    wait_until 20 ip netns exec "$g" bash -c "exec 3<>/dev/tcp/$gateway_ip/8081"
    start_in "$g" "$FZ_SCRATCH/relay.log" env FIREZONE_TOKEN=relay-1-token FIREZONE_API_URL="ws://$gateway_ip:8081" \
        PUBLIC_IP4_ADDR="$gateway_ip" HEALTH_CHECK_ADDR=127.0.0.1:8090 RUST_LOG=info "$bin/firezone-relay"
    running+=("$LAST_PID")
    start_in "$g" "$FZ_SCRATCH/gateway.log" env FIREZONE_TOKEN=site-a-gateways-token \
        FIREZONE_API_URL="ws://$gateway_ip:8081" FIREZONE_ID=gateway-perf FIREZONE_NAME=gateway-perf \
        FIREZONE_HEALTH_CHECK_ADDR=127.0.0.1:8080 FIREZONE_ID_PATH="$FZ_SCRATCH/gateway-id" RUST_LOG=info \
        "$bin/firezone-gateway"
    running+=("$LAST_PID")
    gateway_pid=$LAST_PID
    wait_until 20 gateway_ready
    start_in "$c" "$FZ_SCRATCH/client.log" env FIREZONE_TOKEN=client-1-token FIREZONE_API_URL="ws://$gateway_ip:8081" \
        FIREZONE_ID=client-perf FIREZONE_NAME=client-perf FIREZONE_DNS_CONTROL=disabled \
        FIREZONE_STATUS_PATH="$status_file" RUST_LOG=info "$bin/firezone-headless-client"
    running+=("$LAST_PID")
    client_pid=$LAST_PID
    endpoints=("$client_pid" "$gateway_pid")
    wait_until 20 status_says "Signed in: yes"
    if ! wait_until 30 path_is_direct; then
        echo "the client's path to the gateway is not direct:" >&2
        "$bin/firezone-headless-client" status --status-path "$status_file" >&2 || true
        tail -n 20 "$FZ_SCRATCH/client.log" >&2
        ip netns exec "$g" curl -s --max-time 2 http://127.0.0.1:8080/metrics | grep -v '^#\| 0$' >&2 || true
        grep -m1 -A400 "crashed\|Fatal error" "$FZ_SCRATCH/gateway.log" >&2 || tail -n 20 "$FZ_SCRATCH/gateway.log" >&2
        exit 1
    fi
    server_ip=$resource_ip
}

# A WireGuard device on each side: $1 is `peer` (ours) or the wireguard-go binary.
start_wireguard() {
    local kind=$1 side namespace host interface
    endpoints=()
    for side in c g; do
        namespace=$c host=1
        [ "$side" = g ] && namespace=$g host=2
        # wireguard-go's UAPI sockets in /var/run/wireguard are shared by every namespace: names must be unique.
        interface="tw$side$tag"
        interface=${interface:0:15}
        if [ "$kind" = peer ]; then
            start_in "$namespace" "$FZ_SCRATCH/peer-$side.log" env LOG_LEVEL=info "$bin/wireguard-peer" \
                "$interface" "$FZ_SCRATCH/$side.conf"
            running+=("$LAST_PID")
            endpoints+=("$LAST_PID")
            wait_until 10 ip -n "$namespace" link show "$interface"
        else
            start_in "$namespace" "$FZ_SCRATCH/go-$side.log" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error \
                "$kind" -f "$interface"
            running+=("$LAST_PID")
            endpoints+=("$LAST_PID")
            wait_until 10 ip netns exec "$namespace" wg show "$interface"
            ip netns exec "$namespace" wg setconf "$interface" "$FZ_SCRATCH/$side.conf"
        fi
        ip -n "$namespace" addr add "10.197.0.$host/24" dev "$interface"
        ip -n "$namespace" link set "$interface" mtu "$mtu" up
    done
    wait_until 10 ip netns exec "$c" ping -c 1 -W 1 10.197.0.2
    server_ip=10.197.0.2
}

# Gbit/s received by one iperf3 test from the client's namespace to $server_ip; extra arguments go to iperf3.
iperf() {
    start_in "$g" "$FZ_SCRATCH/iperf-server.log" timeout $((seconds + 20)) iperf3 -s -1 -B "$server_ip" -p 5201
    local server=$LAST_PID
    wait_until 5 ip netns exec "$g" sh -c 'ss -ltn | grep -q ":5201 "'
    ip netns exec "$c" timeout $((seconds + 15)) iperf3 -c "$server_ip" -p 5201 -t "$seconds" "$@" --json \
        >"$FZ_SCRATCH/iperf.json" || true
    wait "$server" 2>/dev/null || true
    python3 - "$FZ_SCRATCH/iperf.json" <<'PY'
import json, sys
try:
    end = json.load(open(sys.argv[1]))["end"]
    received = end.get("sum_received") or end["sum"]
    print("%.2f %d" % (received["bits_per_second"] / 1e9, received["bytes"]))
except (KeyError, ValueError):
    print("0.00 0")
PY
}

# Clock ticks of user and system time the processes $@ have used, all their threads together (proc(5)).
cpu_ticks() {
    local pid total=0 fields
    for pid in "$@"; do
        read -r -a fields <"/proc/$pid/stat"
        # Fields 14 and 15 (utime, stime) counted from 1, after a command name without spaces.
        total=$((total + fields[13] + fields[14]))
    done
    echo "$total"
}

# One iperf3 test (arguments to iperf3); sets `rate` to Gbit/s received and `cost` to the endpoints' CPU seconds
# per GB received.
measure_one() {
    local before after bytes
    before=$(cpu_ticks "${endpoints[@]}")
    read -r rate bytes < <(iperf "$@")
    after=$(cpu_ticks "${endpoints[@]}")
    cost=$(python3 -c "import os, sys; t, b = int(sys.argv[1]), int(sys.argv[2]); print('%.2f' % (t / os.sysconf('SC_CLK_TCK') / (b / 1e9)) if b else '-')" \
        "$((after - before))" "$bytes")
}

# perf record -g of the client's and the gateway's threads while an iperf3 test runs; started before it.
profile_start() {
    [ -n "$profile_dir" ] || return 0
    mkdir -p "$profile_dir"
    local name=$1
    perf record -g -p "$client_pid" -o "$profile_dir/client-$name.data" -- sleep "$seconds" >/dev/null 2>&1 &
    FZ_PIDS+=("$!")
    perf record -g -p "$gateway_pid" -o "$profile_dir/gateway-$name.data" -- sleep "$seconds" >/dev/null 2>&1 &
    FZ_PIDS+=("$!")
}

declare -A results costs
measure() {
    local round=$1 name=$2 test
    local -a arguments
    for test in forward reverse udp; do
        case $test in
        forward) arguments=() ;;
        reverse) arguments=(-R) ;;
        udp) arguments=(-u -b 0 -l 1200) ;;
        esac
        measure_one "${arguments[@]}"
        results[$round,$name,$test]=$rate
        costs[$round,$name,$test]=$cost
    done
}

names=(firezone wireguard-peer)
[ -n "$current_go" ] && names+=(wireguard-go-current)
names+=(wireguard-go-debian)
if [ -n "${TUNNEL_PERF_ONLY:-}" ]; then
    read -r -a wanted <<<"$TUNNEL_PERF_ONLY"
    selected=()
    for name in "${names[@]}"; do
        [[ " ${wanted[*]} " == *" $name "* ]] && selected+=("$name")
    done
    if [ "${#selected[@]}" -eq 0 ] || [ "${selected[0]}" != firezone ]; then
        echo "TUNNEL_PERF_ONLY must name firezone and may name: ${names[*]:1}" >&2
        exit 2
    fi
    names=("${selected[@]}")
fi
measuring() {
    [[ " ${names[*]} " == *" $1 "* ]]
}

# Profiling costs the profiled processes CPU time: its transfers are a pass of their own, not one of the rounds.
if [ -n "$profile_dir" ]; then
    start_firezone
    profile_start forward
    iperf >/dev/null
    profile_start reverse
    iperf -R >/dev/null
    stop_running
fi

for round in $(seq 1 "$rounds"); do
    start_firezone
    measure "$round" firezone
    stop_running
    if measuring wireguard-peer; then
        start_wireguard peer
        measure "$round" wireguard-peer
        stop_running
    fi
    if measuring wireguard-go-current; then
        start_wireguard "$current_go"
        measure "$round" wireguard-go-current
        stop_running
    fi
    if measuring wireguard-go-debian; then
        start_wireguard "$debian_go"
        measure "$round" wireguard-go-debian
        stop_running
    fi

    echo
    echo "round $round: iperf3, 1 stream, $seconds s per test, MTU $mtu, $(nproc) cores, Gbit/s received"
    echo "(in brackets: CPU seconds of the two tunnel endpoints per GB received)"
    printf '%-36s %16s %16s %16s\n' "" "TCP c→s" "TCP s→c" "UDP c→s"
    for name in "${names[@]}"; do
        printf '%-36s' "$name"
        for test in forward reverse udp; do
            printf ' %16s' "${results[$round,$name,$test]} (${costs[$round,$name,$test]})"
        done
        echo
    done
    for name in "${names[@]:1}"; do
        printf '%-36s' "firezone / $name"
        for test in forward reverse udp; do
            python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(' %16s' % ('%.2f' % (a / b) if b else '-'), end='')" \
                "${results[$round,firezone,$test]}" "${results[$round,$name,$test]}"
        done
        echo
    done
done

# One line per implementation: each test's min–max (median) over the rounds of the figures in the associative array
# named $1 (keyed round,name,test; "-" where a figure could not be taken).
print_spread() {
    local -n figures=$1
    local name test round values
    for name in "${names[@]}"; do
        printf '%-36s' "$name"
        for test in forward reverse udp; do
            values=()
            for round in $(seq 1 "$rounds"); do values+=("${figures[$round,$name,$test]}"); done
            python3 -c "import statistics, sys; v = sorted(float(x) for x in sys.argv[1:] if x != '-'); print('  %.2f–%.2f (%.2f)' % (v[0], v[-1], statistics.median(v)) if v else '  -', end='')" "${values[@]}"
        done
        echo
    done
}

if [ "$rounds" -gt 1 ]; then
    echo
    echo "over $rounds rounds: min–max (median), Gbit/s; ratios measured within each round"
    print_spread results
    echo "CPU seconds of the two tunnel endpoints per GB received: min–max (median)"
    print_spread costs
    for name in "${names[@]:1}"; do
        printf '%-36s' "firezone / $name"
        for test in forward reverse udp; do
            values=()
            for round in $(seq 1 "$rounds"); do
                values+=("${results[$round,firezone,$test]}" "${results[$round,$name,$test]}")
            done
            python3 -c "import statistics, sys; v = list(map(float, sys.argv[1:])); r = sorted(a / b for a, b in zip(v[::2], v[1::2]) if b); print('  %.2f–%.2f (%.2f)' % (r[0], r[-1], statistics.median(r)) if r else '  -', end='')" "${values[@]}"
        done
        echo
    done
fi
