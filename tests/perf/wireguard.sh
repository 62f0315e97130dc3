#!/usr/bin/env bash
# Single-stream TCP throughput through a WireGuard tunnel between two network namespaces, in one run:
# wireguard-peer ↔ wireguard-peer (ours, release build) and wireguard-go ↔ wireguard-go on identical topologies
# (veth link, same keys, same addresses, MTU 1420). iperf3, one stream, SECONDS each way. Prints the four
# figures and our ratio to wireguard-go per direction.
#
# Usage: tests/perf/wireguard.sh [SECONDS]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/lib.sh
trap cleanup EXIT

seconds=${1:-10}

swift build -c release --product wireguard-peer >/dev/null
peer_binary="$(swift build -c release --show-bin-path)/wireguard-peer"

tag=$$
a="wpa$tag"
b="wpb$tag"
make_link "$a" "$b" 95

umask 077
for side in a b; do
    wg genkey >"$FZ_SCRATCH/$side.key"
    wg pubkey <"$FZ_SCRATCH/$side.key" >"$FZ_SCRATCH/$side.pub"
done
config() {
    local self=$1 other=$2 other_host=$3
    cat <<CONF
[Interface]
PrivateKey = $(cat "$FZ_SCRATCH/$self.key")
ListenPort = 51820

[Peer]
PublicKey = $(cat "$FZ_SCRATCH/$other.pub")
Endpoint = 10.95.0.$other_host:51820
AllowedIPs = 10.195.0.$other_host/32
CONF
}
config a b 2 >"$FZ_SCRATCH/a.conf"
config b a 1 >"$FZ_SCRATCH/b.conf"

start_pair() {
    local kind=$1
    for side in a b; do
        local namespace=$a host=1
        [ "$side" = b ] && namespace=$b && host=2
        local interface="wp$side$kind$tag"
        interface=${interface:0:15}
        if [ "$kind" = ours ]; then
            start_in "$namespace" "$FZ_SCRATCH/$kind-$side.log" env LOG_LEVEL=info "$peer_binary" "$interface" "$FZ_SCRATCH/$side.conf"
            wait_until 10 ip -n "$namespace" link show "$interface"
        else
            start_in "$namespace" "$FZ_SCRATCH/$kind-$side.log" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go -f "$interface"
            wait_until 10 ip netns exec "$namespace" wg show "$interface"
            ip netns exec "$namespace" wg setconf "$interface" "$FZ_SCRATCH/$side.conf"
        fi
        ip -n "$namespace" addr add "10.195.0.$host/24" dev "$interface"
        ip -n "$namespace" link set "$interface" mtu 1420 up
        pids+=("$LAST_PID")
    done
    ip netns exec "$a" ping -c 2 -W 2 -q 10.195.0.2 >/dev/null
}

stop_pair() {
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}

# Gbit/s received, for one direction (reverse: b sends to a).
iperf() {
    start_in "$b" "$FZ_SCRATCH/iperf-server.log" timeout $((seconds + 20)) iperf3 -s -1 -p 5201
    local server=$LAST_PID
    wait_until 5 ip netns exec "$b" sh -c 'ss -ltn | grep -q ":5201 "'
    ip netns exec "$a" timeout $((seconds + 15)) iperf3 -c 10.195.0.2 -p 5201 -t "$seconds" -f g "$@" --json \
        >"$FZ_SCRATCH/iperf.json"
    wait "$server" 2>/dev/null || true
    python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' \
        "$FZ_SCRATCH/iperf.json"
}

pids=()
start_pair ours
ours_forward=$(iperf)
ours_reverse=$(iperf -R)
stop_pair
for side in a b; do
    grep -ho 'coalesced receives [0-9]*' "$FZ_SCRATCH/ours-$side.log" \
        | sed "s/^/wireguard-peer $side: /" || true
done
start_pair go
go_forward=$(iperf)
go_reverse=$(iperf -R)
stop_pair

ratio() {
    python3 -c "print('%.2f' % ($1 / $2))"
}
echo
echo "wireguard perf: iperf3 TCP, 1 stream, $seconds s per direction, MTU 1420, $(nproc) cores"
printf '%-34s %8s %8s\n' "" "a → b" "b → a"
printf '%-34s %8s %8s  Gbit/s\n' "wireguard-peer ↔ wireguard-peer" "$ours_forward" "$ours_reverse"
printf '%-34s %8s %8s  Gbit/s\n' "wireguard-go ↔ wireguard-go" "$go_forward" "$go_reverse"
printf '%-34s %8s %8s\n' "ratio (ours / wireguard-go)" "$(ratio "$ours_forward" "$go_forward")" "$(ratio "$ours_reverse" "$go_reverse")"
