#!/usr/bin/env bash
# wireguard-peer on both ends, the path only our own offloads meet: UDP GSO sends on one side arrive as UDP GRO
# runs on the other, are split, decrypted and coalesced again for the TUN device. TCP transfers both ways over
# IPv4 and IPv6 inner addresses must complete, and each side must report coalesced receives.
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
trap cleanup EXIT

peer_binary=${WIREGUARD_PEER:-../../.build/debug/wireguard-peer}
[ -x "$peer_binary" ] || { echo "build wireguard-peer first (swift build --product wireguard-peer)" >&2; exit 2; }
peer_binary=$(readlink -f "$peer_binary")

tag=$$
a="wqa$tag"
b="wqb$tag"
make_link "$a" "$b" 94

umask 077
for side in a b; do
    wg genkey >"$FZ_SCRATCH/$side.key"
    wg pubkey <"$FZ_SCRATCH/$side.key" >"$FZ_SCRATCH/$side.pub"
done
config() {
    local self=$1 other=$2 host=$3
    cat <<CONF
[Interface]
PrivateKey = $(cat "$FZ_SCRATCH/$self.key")
ListenPort = 51820

[Peer]
PublicKey = $(cat "$FZ_SCRATCH/$other.pub")
Endpoint = 10.94.0.$host:51820
AllowedIPs = 10.194.0.$host/32, fd94:194::$host/128
CONF
}
config a b 2 >"$FZ_SCRATCH/a.conf"
config b a 1 >"$FZ_SCRATCH/b.conf"

pids=()
for side in a b; do
    namespace=$a host=1
    [ "$side" = b ] && namespace=$b && host=2
    start_in "$namespace" "$FZ_SCRATCH/$side.log" "$peer_binary" "wq$side$tag" "$FZ_SCRATCH/$side.conf"
    pids+=("$LAST_PID")
    wait_until 10 ip -n "$namespace" link show "wq$side$tag" || { cat "$FZ_SCRATCH/$side.log"; exit 1; }
    ip -n "$namespace" addr add "10.194.0.$host/24" dev "wq$side$tag"
    ip -n "$namespace" addr add "fd94:194::$host/64" dev "wq$side$tag" nodad
    ip -n "$namespace" link set "wq$side$tag" mtu 1420 up
done

check "ping over IPv4" sh -c "ip netns exec $a ping -c 3 -i 0.2 -W 2 -q 10.194.0.2 >/dev/null"
check "ping over IPv6" sh -c "ip netns exec $b ping -6 -c 3 -i 0.2 -W 2 -q fd94:194::1 >/dev/null"

transfer() {
    local address=$1 label=$2
    shift 2
    start_in "$b" "$FZ_SCRATCH/iperf-server.log" timeout 40 iperf3 -s -1 -p 5201
    local server=$LAST_PID
    wait_until 5 ip netns exec "$b" sh -c 'ss -ltn | grep -q ":5201 "'
    if ip netns exec "$a" timeout 40 iperf3 -c "$address" -p 5201 -n 100M -f m "$@" >"$FZ_SCRATCH/iperf.log" 2>&1; then
        pass "$label: $(grep -E 'receiver$' "$FZ_SCRATCH/iperf.log" | awk '{print $7, $8}')"
    else
        fail "$label"
        tail -5 "$FZ_SCRATCH/iperf.log"
    fi
    wait "$server" 2>/dev/null || true
}
transfer 10.194.0.2 "TCP 100 MB a → b over IPv4"
transfer 10.194.0.2 "TCP 100 MB b → a over IPv4" -R
transfer fd94:194::2 "TCP 100 MB a → b over IPv6"
transfer fd94:194::2 "TCP 100 MB b → a over IPv6" -R

kill "${pids[@]}"
wait "${pids[@]}" || true
for side in a b; do
    # veth does no GRO of its own here: a coalesced receive is a GSO send of the other side arriving whole.
    counters=$(grep -o 'coalesced receives [0-9]*' "$FZ_SCRATCH/$side.log" || true)
    check "side $side received UDP GSO runs from the other with UDP GRO ($counters)" \
        grep -Eq 'coalesced receives [1-9]' "$FZ_SCRATCH/$side.log"
done

finish
