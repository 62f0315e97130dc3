#!/usr/bin/env bash
# The relay's XDP fast path end to end. Four hosts in network namespaces: the relay, a router, and two TURN
# client hosts A and B behind the router, as a cloud relay sits behind its gateway. XDP_TX sends a packet back
# out of the interface it came in on, to the MAC it came from: the router, which forwards it to the other host.
#
# For each attach mode, driver (native) on veth and then generic, with the relay attached to its interface: turn_pair.py
# runs two TURN clients (A and B, one per host) that allocate, bind channels, and exchange data both ways, with channel
# data translated to UDP and back (to a peer socket on the other host) and looped back (each client's channel bound to
# the other's relayed address), over IPv4, IPv6 and both cross-family combinations. Then the relay's /metrics must show
# every one of those packets relayed by XDP and none by userspace; SIGTERM must detach the program. The loopback runs
# once more in driver mode with both clients behind masquerading NAT, as Firezone #10286 tests it. In generic mode on a
# 64 KiB MTU, a datagram too long to translate passes to the kernel (too_long). Failing to attach must stop the relay
# with a reason.
#
# Native XDP_TX on veth needs an XDP program on the peer veth (the kernel's drivers/net/veth.c, veth_xdp_xmit;
# here a pass-all program on the router's side) and full UDP checksums from the senders (transmit checksum offload
# off: otherwise the bounced datagrams arrive with partial checksums and count as UdpInCsumErrors), as in
# Firezone's compose setup.
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
trap cleanup EXIT

relay_binary=${FIREZONE_RELAY:-../../.build/debug/firezone-relay}
[ -x "$relay_binary" ] || { echo "build firezone-relay first (swift build --product firezone-relay)" >&2; exit 2; }
relay_binary=$(readlink -f "$relay_binary")
count=100

tag=$$
relay="fxr$tag"
router="fxg$tag"
host_a="fxa$tag"
host_b="fxb$tag"
for namespace in "$relay" "$router" "$host_a" "$host_b"; do
    ip netns add "$namespace"
    FZ_NAMESPACES+=("$namespace")
    ip -n "$namespace" link set lo up
done

# A veth pair between two namespaces (lib.sh), with this run's prefix.
wire() { wire_namespaces "fxt$tag" "$@"; }
# A host on subnet $2 behind the router: 10.$2.0.2 and fd$2::2, the router at .1 and ::1.
attach_host() {
    local namespace=$1 net=$2 router_interface=$3
    wire "$namespace" eth0 "$router" "$router_interface"
    ip -n "$namespace" addr add "10.$net.0.2/24" dev eth0
    ip -n "$namespace" addr add "fd$net::2/64" dev eth0 nodad
    ip -n "$router" addr add "10.$net.0.1/24" dev "$router_interface"
    ip -n "$router" addr add "fd$net::1/64" dev "$router_interface" nodad
    ip -n "$namespace" route add default via "10.$net.0.1"
    ip -n "$namespace" -6 route add default via "fd$net::1"
}
attach_host "$relay" 50 r0
attach_host "$host_a" 51 a0
attach_host "$host_b" 52 b0
ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

build_xdp_pass "$FZ_SCRATCH/xdp_pass.o"

secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
relay_flags=(--public-ip4-addr 10.50.0.2 --public-ip6-addr fd50::2 --health-check-addr 127.0.0.1:8080 --auth-secret "$secret")

metric() {
    sed -n "s/^$1 //p" "$FZ_SCRATCH/metrics.txt" | head -1
}

# Runs the relay with XDP in mode $1 (labelled $2 in the output), the scenarios $3 ("translate loopback" or
# "loopback"), the environment in relay_env and the extra flags in relay_extra.
run_mode() {
    local mode=$1 label=$2 scenarios=$3 status pid
    start_in "$relay" "$FZ_SCRATCH/relay-$mode.log" env "${relay_env[@]}" "$relay_binary" "${relay_flags[@]}" "${relay_extra[@]}"
    pid=$LAST_PID
    if ! wait_until 5 ip netns exec "$relay" curl -sf http://127.0.0.1:8080/healthz; then
        fail "the relay starts with XDP in $mode mode"; cat "$FZ_SCRATCH/relay-$mode.log"; return
    fi
    local link_word=$([ "$mode" = driver ] && echo "xdp" || echo "xdpgeneric")
    check "[$label] the program is attached to the relay's interface in $mode mode" \
        bash -c "ip -n $relay -d link show eth0 | grep -q ' $link_word '"

    for scenario in $scenarios; do
        for families in "4 4" "6 6" "4 6" "6 4"; do
            set -- $families
            if ! /usr/bin/python3 ./turn_pair.py "$scenario" --transport "$1" --relayed "$2" --secret "$secret" \
                --relay 10.50.0.2 fd50::2 --host-a "$host_a" 10.51.0.2 fd51::2 --host-b "$host_b" 10.52.0.2 fd52::2 \
                --count "$count" >"$FZ_SCRATCH/pair.log" 2>&1; then
                fail "[$label] $scenario over IPv$1, relayed IPv$2"
            fi
            sed "s/^\(not \)\{0,1\}ok - /&[$label] /" "$FZ_SCRATCH/pair.log"
            FZ_PASSES=$((FZ_PASSES + $(grep -c '^ok - ' "$FZ_SCRATCH/pair.log" || true)))
        done
    done

    # The relay publishes its counters once a second.
    sleep 1.5
    ip netns exec "$relay" curl -sf http://127.0.0.1:8080/metrics >"$FZ_SCRATCH/metrics.txt"
    # Per family combination: 2 clients × count each way (translate), 2 × count (loopback).
    local translated=0 looped=$((4 * 2 * count))
    [[ $scenarios == *translate* ]] && translated=$((4 * 2 * count))
    local to_udp to_channel to_channel_loop userspace no_channel xdp_total unbound
    to_udp=$(metric 'relay_xdp_packets_total{action="tx",reason="channel_to_udp"}')
    to_channel=$(metric 'relay_xdp_packets_total{action="tx",reason="udp_to_channel"}')
    to_channel_loop=$(metric 'relay_xdp_packets_total{action="tx",reason="channel_to_channel"}')
    userspace=$(metric 'relay_relayed_packets_total{datapath="userspace"}')
    no_channel=$(metric 'relay_dropped_packets_total{reason="no_channel_for_peer"}')
    xdp_total=$(metric 'relay_relayed_packets_total{datapath="xdp"}')
    unbound=$(metric 'relay_xdp_packets_total{action="pass",reason="no_loopback_binding"}')
    check "[$label] XDP relayed channel data as UDP: $translated sent, ${to_udp:-none} counted" \
        test "${to_udp:-0}" -eq "$translated"
    check "[$label] XDP relayed peer datagrams as channel data: $translated sent, ${to_channel:-none} counted" \
        test "${to_channel:-0}" -eq "$translated"
    check "[$label] XDP looped channel data back: $looped sent, ${to_channel_loop:-none} counted" \
        test "${to_channel_loop:-0}" -eq "$looped"
    # After each loopback run, client A released its allocation and B sent count more: the maps hold no channel
    # back, so XDP passed them to userspace, which loops channel data to its own allocations back itself and finds
    # no channel there either: it drops them, as A's closed port would have.
    check "[$label] XDP passed what was sent to a released allocation to userspace: $((4 * count)) sent, ${unbound:-none} counted" \
        test "${unbound:-0}" -eq $((4 * count))
    check "[$label] relayed packets labelled xdp: ${xdp_total:-none}" \
        test "${xdp_total:-0}" -eq $((2 * translated + looped))
    check "[$label] userspace relayed none of them (counted ${userspace:-none})" test "${userspace:-0}" -eq 0
    check "[$label] userspace dropped them for want of a channel: $((4 * count)) (counted ${no_channel:-none})" \
        test "${no_channel:-0}" -eq $((4 * count))

    kill -TERM "$pid"
    status=0
    wait "$pid" || status=$?
    check "[$label] SIGTERM stops the relay with exit code 0 (got $status)" test "$status" -eq 0
    check "[$label] the program is detached after exit" bash -c "! ip -n $relay -d link show eth0 | grep -q 'prog/xdp'"
}

# Native mode, configured by flags; then generic mode, configured by Firezone's environment variables.
ip -n "$router" link set dev r0 xdpdrv obj "$FZ_SCRATCH/xdp_pass.o" sec xdp
relay_env=(RUST_LOG=info)
relay_extra=(--ebpf-offloading eth0 --ebpf-attach-mode driver)
run_mode driver driver "translate loopback"

# The setting of Firezone #10286's integration test: both clients behind masquerading NAT, sharing the relay. The relay
# sees both at the router's address; its answers and the looped-back channel data are translated back by the router's
# conntrack.
ip netns exec "$router" nft -f - <<'NFT'
table inet fz_nat {
    chain postrouting {
        type nat hook postrouting priority srcnat;
        oifname "r0" masquerade
    }
}
NFT
run_mode driver "driver, clients behind NAT" loopback
ip netns exec "$router" nft delete table inet fz_nat

ip -n "$router" link set dev r0 xdpdrv off
relay_env=(RUST_LOG=info EBPF_OFFLOADING=eth0 EBPF_ATTACH_MODE=generic)
relay_extra=()
run_mode generic generic "translate loopback"

# A datagram whose translation would not fit the 16-bit length fields passes to the kernel (reason too_long). Only
# an interface with a 64 KiB MTU carries one unfragmented; native XDP on veth refuses such an MTU, generic does not.
set_mtu() {
    ip -n "$host_a" link set dev eth0 mtu "$1"
    ip -n "$router" link set dev a0 mtu "$1"
    ip -n "$router" link set dev r0 mtu "$1"
    ip -n "$relay" link set dev eth0 mtu "$1"
}
set_mtu 65535
start_in "$relay" "$FZ_SCRATCH/relay-too-long.log" env "${relay_env[@]}" "$relay_binary" "${relay_flags[@]}"
too_long_pid=$LAST_PID
if wait_until 5 ip netns exec "$relay" curl -sf http://127.0.0.1:8080/healthz; then
    # 65,507 bytes, the most an IPv4 datagram holds: more than the 65,503 that still fit IPv4's 16-bit total length
    # once a translation adds the 4-byte channel header.
    ip netns exec "$host_a" /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"\x40\x00\xff\xdf" + bytes(65503), ("10.50.0.2", 3478))'
    sleep 1.5
    ip netns exec "$relay" curl -sf http://127.0.0.1:8080/metrics >"$FZ_SCRATCH/metrics.txt"
    too_long=$(metric 'relay_xdp_packets_total{action="pass",reason="too_long"}')
    check "[generic, 64 KiB MTU] XDP left a 65,507-byte datagram to the kernel as too_long (counted ${too_long:-none})" \
        test "${too_long:-0}" -eq 1
else
    fail "the relay starts with XDP in generic mode on a 64 KiB MTU"; cat "$FZ_SCRATCH/relay-too-long.log"
fi
kill -TERM "$too_long_pid"; wait "$too_long_pid" || true
set_mtu 1500

# Asked to offload and unable to, the relay says why and does not start: another XDP program on the interface,
# native mode where the driver has none, and an interface that does not exist.
ip -n "$relay" link set dev eth0 xdpgeneric obj "$FZ_SCRATCH/xdp_pass.o" sec xdp
refuses() {
    local expected=$1 status=0
    shift
    ip netns exec "$relay" "$relay_binary" "${relay_flags[@]}" "$@" >"$FZ_SCRATCH/refused.log" 2>&1 || status=$?
    check "the relay refuses to start without the offload it was asked for ($*): exit $status, '$(head -1 "$FZ_SCRATCH/refused.log")'" \
        bash -c "[ $status -eq 1 ] && grep -q '$expected' '$FZ_SCRATCH/refused.log'"
}
refuses "Device or resource busy" --ebpf-offloading eth0 --ebpf-attach-mode generic
refuses "Operation not supported" --ebpf-offloading lo --ebpf-attach-mode driver
refuses "No such device" --ebpf-offloading nosuch0
ip -n "$relay" link set dev eth0 xdpgeneric off

finish
