#!/usr/bin/env bash
# The relay under a flood of spoofed unauthenticated requests. Five hosts in network namespaces: the relay; a router
# with two TURN client hosts A and B behind it (as in relay-xdp.sh); and a flooder on a link of its own, which is
# also the relay's default route and forwards nothing, so replies to spoofed sources go nowhere.
#
# 1. The flooder sends 1,000,000 20-byte ALLOCATEs without credentials and BINDING requests from random spoofed
#    IPv4 sources (raw socket, IP_HDRINCL) to the listening port. The relay's resident memory afterwards is within
#    10 MB of before; clients A and B allocate, bind channels and relay both ways while it floods; /metrics counts
#    the replies refused by the per-prefix limit (relay_dropped_packets_total{reason="rate_limited"}).
# 2. While the listening port is flooded, a channel binding's expiry (RFC 8656 §12, 600 s) stops relaying within
#    one second, in userspace and with the XDP program attached (generic mode). The relay's monotonic clock is
#    moved on by clock_shift.c (LD_PRELOAD) so that the 600 s end within the test; the relay has no option to
#    shorten them. The allocation is refreshed to an hour first, so it is the binding's own expiry that is measured.
#
# Rates (FLOOD_RATE, EXPIRY_FLOOD_RATE): a flood past what the relay reads fills its listening socket, and the
# kernel then drops legitimate datagrams with the flood's. So where legitimate clients must get through (part 1, and
# the userspace expiry, whose channel data goes to the listening port), the flood runs at about what a debug build
# reads on a small shared host. With XDP the channel data never reaches the socket, so there the flood runs well
# past the relay: the listening socket never runs dry, and only an event loop that bounds the listener's share of
# each turn still runs its timers.
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
trap cleanup EXIT

relay_binary=${FIREZONE_RELAY:-../../.build/debug/firezone-relay}
[ -x "$relay_binary" ] || { echo "build firezone-relay first (swift build --product firezone-relay)" >&2; exit 2; }
relay_binary=$(readlink -f "$relay_binary")
flood_count=${FLOOD_COUNT:-1000000}
flood_rate=${FLOOD_RATE:-9000}
expiry_flood_rate=${EXPIRY_FLOOD_RATE:-25000}

tag=$$
relay="ffr$tag"
router="ffg$tag"
host_a="ffa$tag"
host_b="ffb$tag"
flooder="fff$tag"
for namespace in "$relay" "$router" "$host_a" "$host_b" "$flooder"; do
    ip netns add "$namespace"
    FZ_NAMESPACES+=("$namespace")
    ip -n "$namespace" link set lo up
done

wire() { wire_namespaces "fft$tag" "$@"; }
attach_host() {
    local namespace=$1 net=$2 router_interface=$3
    wire "$namespace" eth0 "$router" "$router_interface"
    ip -n "$namespace" addr add "10.$net.0.2/24" dev eth0
    ip -n "$router" addr add "10.$net.0.1/24" dev "$router_interface"
}
attach_host "$relay" 60 r0
attach_host "$host_a" 61 a0
attach_host "$host_b" 62 b0
ip -n "$host_a" route add default via 10.61.0.1
ip -n "$host_b" route add default via 10.62.0.1
ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1
wire "$relay" eth1 "$flooder" eth0
ip -n "$relay" addr add 10.63.0.2/24 dev eth1
ip -n "$flooder" addr add 10.63.0.1/24 dev eth0
# The flood goes to the relay's public address, the only one its sockets are bound to, across the flooder's link.
ip -n "$flooder" route add 10.60.0.2/32 via 10.63.0.2
ip -n "$relay" route add 10.61.0.0/24 via 10.60.0.1
ip -n "$relay" route add 10.62.0.0/24 via 10.60.0.1
ip -n "$relay" route add default via 10.63.0.1
ip netns exec "$flooder" sysctl -qw net.ipv4.ip_forward=0

# clang: tests/install-deps.sh installs it for the eBPF program, so every test machine has it.
clang -O2 -shared -fPIC -o "$FZ_SCRATCH/clock_shift.so" clock_shift.c -ldl
clock_file="$FZ_SCRATCH/clock-offset"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
relay_flags=(--public-ip4-addr 10.60.0.2 --health-check-addr 127.0.0.1:8080 --auth-secret "$secret")
helper=(/usr/bin/python3 ./relay_flood.py --relay 10.60.0.2 --secret "$secret"
    --host-a "$host_a" 10.61.0.2 --host-b "$host_b" 10.62.0.2)

# Starts the relay with the flags given, its monotonic clock shifted by what $clock_file holds (zero to start).
start_relay() {
    local label=$1
    shift
    head -c 8 /dev/zero >"$clock_file"
    start_in "$relay" "$FZ_SCRATCH/relay-$label.log" env RUST_LOG=info LD_PRELOAD="$FZ_SCRATCH/clock_shift.so" \
        FZ_CLOCK_SHIFT_FILE="$clock_file" "$relay_binary" "${relay_flags[@]}" "$@"
    relay_pid=$LAST_PID
    if ! wait_until 5 ip netns exec "$relay" curl -sf http://127.0.0.1:8080/healthz; then
        cat "$FZ_SCRATCH/relay-$label.log"
        return 1
    fi
}
stop_relay() {
    local status=0
    kill -TERM "$relay_pid"
    wait "$relay_pid" || status=$?
    check "[$1] SIGTERM stops the relay with exit code 0 (got $status)" test "$status" -eq 0
}
resident_kb() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$relay_pid/status"
}
metric() {
    ip netns exec "$relay" curl -sf http://127.0.0.1:8080/metrics | sed -n "s/^$1 //p" | head -1
}
# Floods until $1 is removed; the flooder's PID in flood_pid.
start_flood() {
    touch "$1"
    start_in "$flooder" "$FZ_SCRATCH/flood-$2.log" /usr/bin/python3 ./relay_flood.py flood --target 10.60.0.2 \
        --until-file "$1" --rate "$3"
    flood_pid=$LAST_PID
}
stop_flood() {
    rm -f "$1"
    wait "$flood_pid" || true
    cat "$FZ_SCRATCH/flood-$2.log"
}

# 1. A million spoofed requests.
start_relay flood || { fail "the relay starts"; finish; exit 1; }
# One legitimate exchange before measuring, so that what the first clients cost is in both readings.
"${helper[@]}" clients --count 20 >"$FZ_SCRATCH/warmup.log" 2>&1 || { fail "clients relay before the flood"; cat "$FZ_SCRATCH/warmup.log"; }
before_kb=$(resident_kb)
flood_started=$SECONDS
start_in "$flooder" "$FZ_SCRATCH/flood.log" /usr/bin/python3 ./relay_flood.py flood --target 10.60.0.2 \
    --count "$flood_count" --rate "$flood_rate"
flood_pid=$LAST_PID
sleep 1
clients_status=0
"${helper[@]}" clients --count 200 >"$FZ_SCRATCH/clients.log" 2>&1 || clients_status=$?
flood_running_during_clients=$(kill -0 "$flood_pid" 2>/dev/null && echo yes || echo no)
wait "$flood_pid"
cat "$FZ_SCRATCH/flood.log"
sed 's/^/    /' "$FZ_SCRATCH/clients.log"
check "legitimate clients allocated and relayed while the flood ran (still flooding when they finished: $flood_running_during_clients)" \
    test "$clients_status" -eq 0 -a "$flood_running_during_clients" = yes
# The relay publishes its counters once a second.
sleep 1.5
after_kb=$(resident_kb)
rate_limited=$(metric 'relay_dropped_packets_total{reason="rate_limited"}')
echo "flood of $flood_count took $((SECONDS - flood_started)) s; relay RSS ${before_kb} kB before, ${after_kb} kB after; rate_limited ${rate_limited:-none}"
check "the relay's resident memory after the flood is within 10 MB of before (${before_kb} kB, then ${after_kb} kB)" \
    test $((after_kb - before_kb)) -le 10240
# Half the spoofed sources lie in 8 /24s, about 500,000 requests: at 64 replies a second and a burst of 256 per
# prefix, fewer than 70,000 of them can be answered in the flood's two minutes.
check "/metrics counts the replies refused by the per-prefix limit (${rate_limited:-none} rate_limited)" \
    test "${rate_limited:-0}" -ge $((flood_count / 4))
stop_relay flood

# 2. A binding's expiry under a flood, in userspace and then with XDP.
expiry_under_flood() {
    local label=$1 rate=$2 expiry_pid
    shift 2
    start_relay "$label" "$@" || { fail "[$label] the relay starts"; return; }
    rm -f "$FZ_SCRATCH/ready" "$FZ_SCRATCH/go"
    "${helper[@]}" expiry --clock-file "$clock_file" --label "$label" --ready-file "$FZ_SCRATCH/ready" \
        --go-file "$FZ_SCRATCH/go" >"$FZ_SCRATCH/expiry.log" 2>&1 &
    expiry_pid=$!
    FZ_PIDS+=("$expiry_pid")
    wait_until 30 test -e "$FZ_SCRATCH/ready" || fail "[$label] the client binds a channel"
    start_flood "$FZ_SCRATCH/flooding" "$label" "$rate"
    sleep 1
    touch "$FZ_SCRATCH/go"
    wait "$expiry_pid" || true
    stop_flood "$FZ_SCRATCH/flooding" "$label"
    cat "$FZ_SCRATCH/expiry.log"
    FZ_PASSES=$((FZ_PASSES + $(grep -c '^ok - ' "$FZ_SCRATCH/expiry.log" || true)))
    FZ_FAILURES=$((FZ_FAILURES + $(grep -c '^not ok - ' "$FZ_SCRATCH/expiry.log" || true)))
    grep -q '^ok - .*stopped relaying' "$FZ_SCRATCH/expiry.log" || grep -q '^not ok' "$FZ_SCRATCH/expiry.log" ||
        fail "[$label] the expiry measurement ran"
    if [[ $label == XDP* ]]; then
        sleep 1.5
        xdp_relayed=$(metric 'relay_relayed_packets_total{datapath="xdp"}')
        check "[$label] XDP relayed the channel's datagrams (${xdp_relayed:-none})" test "${xdp_relayed:-0}" -gt 0
    fi
    stop_relay "$label"
}
expiry_under_flood userspace "$flood_rate"
expiry_under_flood "XDP generic" "$expiry_flood_rate" --ebpf-offloading eth0 --ebpf-attach-mode generic

finish
