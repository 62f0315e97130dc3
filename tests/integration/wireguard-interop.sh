#!/usr/bin/env bash
# wireguard-peer (ours) against wireguard-go (Debian's, configured with `wg setconf`), each in its own network
# namespace, exactly as either would be scripted. Two rounds from fresh processes: in the first, our side sends
# the first packet, so it initiates the handshake; in the second, wireguard-go does. tcpdump on the wire shows who
# sent the initiation. In each round: ping and a TCP transfer (iperf3) both ways over the IPv4 and IPv6 inner
# addresses, with a preshared key. Then wireguard-go moves to the IPv6 outer path and ours follows (roaming);
# SIGTERM stops wireguard-peer with exit 0, and a bad configuration exits 2 with an error naming its line.
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
trap cleanup EXIT

peer_binary=${WIREGUARD_PEER:-../../.build/debug/wireguard-peer}
[ -x "$peer_binary" ] || { echo "build wireguard-peer first (swift build --product wireguard-peer)" >&2; exit 2; }
peer_binary=$(readlink -f "$peer_binary")

tag=$$
ours="wgo$tag"      # namespace of wireguard-peer
theirs="wgg$tag"    # namespace of wireguard-go
# wireguard-go's UAPI sockets live in /var/run/wireguard, shared by all namespaces: names must be unique.
our_if="wgp$tag"
their_if="wgg$tag"
make_link "$ours" "$theirs" 96

umask 077
wg genkey >"$FZ_SCRATCH/ours.key"
wg pubkey <"$FZ_SCRATCH/ours.key" >"$FZ_SCRATCH/ours.pub"
wg genkey >"$FZ_SCRATCH/theirs.key"
wg pubkey <"$FZ_SCRATCH/theirs.key" >"$FZ_SCRATCH/theirs.pub"
wg genpsk >"$FZ_SCRATCH/psk"

cat >"$FZ_SCRATCH/ours.conf" <<CONF
[Interface]
PrivateKey = $(cat "$FZ_SCRATCH/ours.key")
ListenPort = 51820

[Peer]
PublicKey = $(cat "$FZ_SCRATCH/theirs.pub")
PresharedKey = $(cat "$FZ_SCRATCH/psk")
Endpoint = 10.96.0.2:51820
AllowedIPs = 10.196.0.2/32, fd96:196::2/128
CONF
cat >"$FZ_SCRATCH/theirs.conf" <<CONF
[Interface]
PrivateKey = $(cat "$FZ_SCRATCH/theirs.key")
ListenPort = 51820

[Peer]
PublicKey = $(cat "$FZ_SCRATCH/ours.pub")
PresharedKey = $(cat "$FZ_SCRATCH/psk")
Endpoint = 10.96.0.1:51820
AllowedIPs = 10.196.0.1/32, fd96:196::1/128
CONF

address() {
    local namespace=$1 interface=$2 host=$3
    ip -n "$namespace" addr add "10.196.0.$host/24" dev "$interface"
    ip -n "$namespace" addr add "fd96:196::$host/64" dev "$interface" nodad
    ip -n "$namespace" link set "$interface" mtu 1420 up
}

start_devices() {
    start_in "$ours" "$FZ_SCRATCH/peer-$1.log" env LOG_LEVEL=debug "$peer_binary" "$our_if" "$FZ_SCRATCH/ours.conf"
    our_pid=$LAST_PID
    start_in "$theirs" "$FZ_SCRATCH/go-$1.log" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go -f "$their_if"
    their_pid=$LAST_PID
    wait_until 10 ip -n "$ours" link show "$our_if" || { cat "$FZ_SCRATCH/peer-$1.log"; return 1; }
    wait_until 10 ip netns exec "$theirs" wg show "$their_if" || { cat "$FZ_SCRATCH/go-$1.log"; return 1; }
    ip netns exec "$theirs" wg setconf "$their_if" "$FZ_SCRATCH/theirs.conf"
    address "$ours" "$our_if" 1
    address "$theirs" "$their_if" 2
}

stop_devices() {
    kill "$our_pid" "$their_pid" 2>/dev/null || true
    wait "$our_pid" "$their_pid" 2>/dev/null || true
}

# Captures the first handshake initiation (type 1 in the first payload byte) on the wire, in the background.
capture_initiation() {
    ip netns exec "$theirs" timeout 20 tcpdump -i eth0 -n -l -c 1 'udp port 51820 and udp[8] = 1' \
        >"$FZ_SCRATCH/initiation-$1.txt" 2>/dev/null &
    capture_pid=$!
    FZ_PIDS+=("$capture_pid")
    sleep 1
}

tcp_transfer() {
    local server=$1 client=$2 address=$3 label=$4
    shift 4
    start_in "$server" "$FZ_SCRATCH/iperf-server.log" timeout 30 iperf3 -s -1 -p 5201
    local server_pid=$LAST_PID
    wait_until 5 ip netns exec "$server" sh -c 'ss -ltn | grep -q ":5201 "'
    if ip netns exec "$client" timeout 30 iperf3 -c "$address" -p 5201 -n 20M -f m "$@" >"$FZ_SCRATCH/iperf.log" 2>&1; then
        pass "$label: $(grep -E 'receiver$' "$FZ_SCRATCH/iperf.log" | awk '{print $7, $8}')"
    else
        fail "$label"
        tail -5 "$FZ_SCRATCH/iperf.log"
    fi
    wait "$server_pid" 2>/dev/null || true
}

quiet() {
    "$@" >/dev/null 2>&1
}

traffic() {
    local round=$1
    check "$round: ping wireguard-go from wireguard-peer over IPv4" \
        quiet ip netns exec "$ours" ping -c 3 -i 0.2 -W 2 -q 10.196.0.2
    check "$round: ping wireguard-peer from wireguard-go over IPv4" \
        quiet ip netns exec "$theirs" ping -c 3 -i 0.2 -W 2 -q 10.196.0.1
    check "$round: ping over IPv6 from wireguard-peer" \
        quiet ip netns exec "$ours" ping -6 -c 3 -i 0.2 -W 2 -q fd96:196::2
    check "$round: ping over IPv6 from wireguard-go" \
        quiet ip netns exec "$theirs" ping -6 -c 3 -i 0.2 -W 2 -q fd96:196::1
    check "$round: 1400-byte pings (full-size packets) both ways" \
        quiet ip netns exec "$ours" ping -c 3 -i 0.2 -W 2 -q -s 1372 10.196.0.2
    tcp_transfer "$theirs" "$ours" 10.196.0.2 "$round: TCP 20 MB wireguard-peer → wireguard-go over IPv4"
    tcp_transfer "$theirs" "$ours" 10.196.0.2 "$round: TCP 20 MB wireguard-go → wireguard-peer over IPv4" -R
    tcp_transfer "$ours" "$theirs" fd96:196::1 "$round: TCP 20 MB wireguard-go → wireguard-peer over IPv6"
    tcp_transfer "$ours" "$theirs" fd96:196::1 "$round: TCP 20 MB wireguard-peer → wireguard-go over IPv6" -R
}

# Round 1: our side sends first.
start_devices 1
capture_initiation 1
ip netns exec "$ours" ping -c 1 -W 3 -q 10.196.0.2 >/dev/null || true
wait "$capture_pid" 2>/dev/null || true
check "round 1: wireguard-peer sent the handshake initiation ($(head -c 80 "$FZ_SCRATCH/initiation-1.txt"))" \
    grep -q '10.96.0.1.51820 > 10.96.0.2.51820' "$FZ_SCRATCH/initiation-1.txt"
check "round 1: wireguard-go reports a completed handshake" \
    sh -c "ip netns exec $theirs wg show $their_if latest-handshakes | awk '{exit !(\$2 > 0)}'"
traffic "round 1"
stop_devices

# Round 2: fresh processes, wireguard-go sends first.
start_devices 2
capture_initiation 2
ip netns exec "$theirs" ping -c 1 -W 3 -q 10.196.0.1 >/dev/null || true
wait "$capture_pid" 2>/dev/null || true
check "round 2: wireguard-go sent the handshake initiation ($(head -c 80 "$FZ_SCRATCH/initiation-2.txt"))" \
    grep -q '10.96.0.2.51820 > 10.96.0.1.51820' "$FZ_SCRATCH/initiation-2.txt"
check "round 2: wireguard-peer completed the handshake as responder" \
    grep -Eq 'session.initiator=false.*Handshake completed|Handshake completed.*session.initiator=false' \
    "$FZ_SCRATCH/peer-2.log"
traffic "round 2"

# Roaming onto IPv6 outside: wireguard-go is told to reach us at our IPv6 address; our side learns the peer's new
# address from its first authenticated datagram and answers there.
ip netns exec "$theirs" wg set "$their_if" peer "$(cat "$FZ_SCRATCH/ours.pub")" endpoint '[fd96::1]:51820'
ip netns exec "$ours" timeout 15 tcpdump -i eth0 -n -l -c 2 'ip6 and udp src port 51820 and src host fd96::1' \
    >"$FZ_SCRATCH/roamed.txt" 2>/dev/null &
capture_pid=$!
FZ_PIDS+=("$capture_pid")
sleep 1
check "after roaming: ping from wireguard-go over the IPv6 outer path" \
    quiet ip netns exec "$theirs" ping -c 3 -i 0.2 -W 2 -q 10.196.0.1
wait "$capture_pid" 2>/dev/null || true
check "after roaming: wireguard-peer answers over IPv6 ($(head -c 80 "$FZ_SCRATCH/roamed.txt"))" \
    grep -q 'fd96::1.51820 > fd96::2.51820' "$FZ_SCRATCH/roamed.txt"

# SIGTERM: exit 0, and the TUN device goes away.
kill -TERM "$our_pid"
status=0
wait "$our_pid" || status=$?
check "SIGTERM stops wireguard-peer with exit status 0 (got $status)" test "$status" -eq 0
check "the TUN device is gone after exit" sh -c "! ip -n $ours link show $our_if 2>/dev/null"
kill "$their_pid" 2>/dev/null || true
wait "$their_pid" 2>/dev/null || true

# A bad configuration: exit status 2 and the line named.
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nBogus = 1\n' "$(cat "$FZ_SCRATCH/ours.key")" >"$FZ_SCRATCH/bad.conf"
status=0
ip netns exec "$ours" "$peer_binary" badif0 "$FZ_SCRATCH/bad.conf" 2>"$FZ_SCRATCH/bad.log" || status=$?
check "a bad configuration exits with status 2 (got $status)" test "$status" -eq 2
check "the error names the file and line ($(cat "$FZ_SCRATCH/bad.log"))" grep -q "bad.conf:4: unknown \[Interface\] key 'bogus'" "$FZ_SCRATCH/bad.log"

finish
