#!/usr/bin/env bash
# Relayed packets per second through our relay, with its XDP fast path (driver and generic mode) and in
# userspace, and through coturn, on the same network-namespace topology in one run: a relay host and a load host
# on a veth link. The load generator (relay-load) allocates N allocations, binds a channel each to a peer socket
# of its own, and sends channel data to the peers and datagrams back to the relayed addresses as fast as the
# sockets take them. Each server is measured two ways:
# - echo: the generator also receives, and counts what arrives at either end (its receive path shares the
#   machine's two cores with the relay, so it caps what can be seen);
# - sink: the generator only sends, and an XDP program on the load host's interface (xdp_sink.c) counts and drops
#   what the relay sends back, so that the relay sets the rate. Once with one generator process and once with two
#   (half the allocations each): on veth, the XDP program runs in the softirq of the sending CPU, so one generator
#   caps the XDP path at what one core does for generator and XDP together, while a second generator takes CPU
#   from a userspace relay. Neither is the whole truth on two cores; both are printed.
# Also prints the kernel memory of the XDP maps, preallocated for 65 536 bindings per family combination.
#
# Native XDP_TX on veth needs an XDP program on the peer veth and full UDP checksums from the sender
# (ENVIRONMENT.md §5): every run has the same link setup, with an XDP program on the load host's veth (a pass-all
# one for echo, the sink for sink) and transmit checksum offload off there.
#
# Usage: tests/perf/relay.sh [ALLOCATIONS] [SECONDS] [PAYLOAD_BYTES]   (defaults 16, 10, 100)
# Takes about two and a half minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/lib.sh
trap cleanup EXIT

allocations=${1:-16}
seconds=${2:-10}
payload=${3:-100}

swift build -c release --product firezone-relay >/dev/null
swift build -c release --product relay-load >/dev/null
bin=$(swift build -c release --show-bin-path)

tag=$$
load="fzl$tag"
relay="fzp$tag"
make_link "$load" "$relay" 96
secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
ip netns exec "$load" ethtool -K eth0 tx off >/dev/null
build_xdp_pass "$FZ_SCRATCH/xdp_pass.o"
clang -O2 -g -target bpf -DRELAY_ADDRESS=0x0A600002 -I"/usr/include/$(gcc -print-multiarch)" \
    -c tests/perf/xdp_sink.c -o "$FZ_SCRATCH/xdp_sink.o"

# The load host's XDP program: $1 is pass or sink.
load_program() {
    ip -force -n "$load" link set dev eth0 xdpdrv obj "$FZ_SCRATCH/xdp_$1.o" sec xdp
}

sink_count() {
    bpftool map dump name fzperf_sink -j | /usr/bin/python3 -c \
        'import json, sys; print(sum(v["value"] for entry in json.load(sys.stdin) for v in entry["formatted"]["values"]))'
}

# Sets sink_rate: relayed packets/s counted by the sink while $1 generators send; the other arguments go to
# relay-load.
sink_measure() {
    local generators=$1 before after generator pids=()
    shift
    before=$(sink_count)
    for ((generator = 0; generator < generators; generator++)); do
        ip netns exec "$load" "$bin/relay-load" --relay 10.96.0.2:3478 --local 10.96.0.1 --send-only \
            --allocations $((allocations / generators)) --seconds "$seconds" --payload "$payload" "$@" \
            >>"$FZ_SCRATCH/load.log" &
        pids+=("$!")
        FZ_PIDS+=("$!")
    done
    wait "${pids[@]}"
    after=$(sink_count)
    sink_rate=$(((after - before) / seconds))
}

# One server, every way: sets echo_rate, sink1_rate and sink2_rate (packets/s). The arguments go to relay-load.
# Runs in this shell, not a subshell, so that every process it starts stays recorded for cleanup.
measure() {
    load_program pass
    echo_rate=$(ip netns exec "$load" "$bin/relay-load" --relay 10.96.0.2:3478 --local 10.96.0.1 \
        --allocations "$allocations" --seconds "$seconds" --payload "$payload" "$@" | tee -a "$FZ_SCRATCH/load.log" \
        | sed -n 's/^relayed_packets_per_second=//p')
    load_program sink
    sink_measure 1 "$@"
    sink1_rate=$sink_rate
    sink_measure 2 "$@"
    sink2_rate=$sink_rate
}

# Our relay, with the arguments given; keeps its /metrics in metrics-$1.txt.
measure_ours() {
    local name=$1 pid
    shift
    start_in "$relay" "$FZ_SCRATCH/$name.log" "$bin/firezone-relay" --public-ip4-addr 10.96.0.2 \
        --health-check-addr 10.96.0.2:8080 --auth-secret "$secret" "$@"
    pid=$LAST_PID
    wait_until 5 ip netns exec "$load" curl -sf http://10.96.0.2:8080/healthz || { cat "$FZ_SCRATCH/$name.log" >&2; exit 1; }
    measure --firezone-secret "$secret"
    sleep 1.2
    ip netns exec "$load" curl -sf http://10.96.0.2:8080/metrics >"$FZ_SCRATCH/metrics-$name.txt"
    kill "$pid"; wait "$pid" || true
}

measure_ours xdp-driver --ebpf-offloading eth0 --ebpf-attach-mode driver
xdp_driver_echo=$echo_rate xdp_driver_sink1=$sink1_rate xdp_driver_sink2=$sink2_rate
measure_ours xdp-generic --ebpf-offloading eth0 --ebpf-attach-mode generic
xdp_generic_echo=$echo_rate xdp_generic_sink1=$sink1_rate xdp_generic_sink2=$sink2_rate
measure_ours userspace
ours_echo=$echo_rate ours_sink1=$sink1_rate ours_sink2=$sink2_rate
map_memory=$(sed -n 's/^relay_xdp_map_memory_bytes //p' "$FZ_SCRATCH/metrics-xdp-driver.txt")
xdp_relayed=$(sed -n 's/^relay_relayed_packets_total{datapath="xdp"} //p' "$FZ_SCRATCH/metrics-xdp-driver.txt")
xdp_userspace=$(sed -n 's/^relay_relayed_packets_total{datapath="userspace"} //p' "$FZ_SCRATCH/metrics-xdp-driver.txt")

start_in "$relay" "$FZ_SCRATCH/coturn.log" turnserver -n --listening-ip=10.96.0.2 --relay-ip=10.96.0.2 \
    --listening-port=3478 --min-port=49152 --max-port=65535 --realm=firezone --use-auth-secret \
    --static-auth-secret="$secret" --no-tls --no-dtls --no-cli --userdb="$FZ_SCRATCH/turndb.sqlite" \
    --log-file=stdout --simple-log --pidfile="$FZ_SCRATCH/turnserver.pid"
coturn_pid=$LAST_PID
wait_until 5 bash -c "ip netns exec $relay ss -uln | grep -q 10.96.0.2:3478" || { cat "$FZ_SCRATCH/coturn.log"; exit 1; }
measure --coturn-secret "$secret"
coturn_echo=$echo_rate coturn_sink1=$sink1_rate coturn_sink2=$sink2_rate
kill "$coturn_pid"; wait "$coturn_pid" || true

echo
echo "relay perf: $allocations allocations, $payload-byte payloads, $seconds s per measurement, 2-way traffic"
printf '  %-36s %12s %12s %12s\n' "relayed packets/s" "echo" "sink x1" "sink x2" \
    "firezone-relay (XDP, driver mode)" "$xdp_driver_echo" "$xdp_driver_sink1" "$xdp_driver_sink2" \
    "firezone-relay (XDP, generic mode)" "$xdp_generic_echo" "$xdp_generic_sink1" "$xdp_generic_sink2" \
    "firezone-relay (userspace)" "$ours_echo" "$ours_sink1" "$ours_sink2" \
    "coturn $(turnserver --version 2>/dev/null | head -1)" "$coturn_echo" "$coturn_sink1" "$coturn_sink2"
ratio() {
    awk -v name="$1" -v a1="$2" -v b1="$3" -v a2="$4" -v b2="$5" -v a3="$6" -v b3="$7" 'BEGIN {
        printf "  %-36s %12.2f %12.2f %12.2f\n", name, (b1 > 0 ? a1 / b1 : 0), (b2 > 0 ? a2 / b2 : 0), (b3 > 0 ? a3 / b3 : 0)
    }'
}
ratio "XDP driver / userspace" "$xdp_driver_echo" "$ours_echo" "$xdp_driver_sink1" "$ours_sink1" "$xdp_driver_sink2" "$ours_sink2"
ratio "XDP generic / userspace" "$xdp_generic_echo" "$ours_echo" "$xdp_generic_sink1" "$ours_sink1" "$xdp_generic_sink2" "$ours_sink2"
ratio "userspace / coturn" "$ours_echo" "$coturn_echo" "$ours_sink1" "$coturn_sink1" "$ours_sink2" "$coturn_sink2"
ratio "XDP driver / coturn" "$xdp_driver_echo" "$coturn_echo" "$xdp_driver_sink1" "$coturn_sink1" "$xdp_driver_sink2" "$coturn_sink2"
echo "  XDP driver runs: relayed by XDP ${xdp_relayed:-?}, by userspace ${xdp_userspace:-?} (the relay's /metrics)"
awk -v m="${map_memory:-0}" 'BEGIN { printf "  XDP map memory (8 binding maps of 65 536 entries, preallocated, and the counters): %d bytes = %.1f MiB\n", m, m / 1048576 }'
# relay-load compares every datagram it receives (echo runs) with what was sent.
if grep -q '^malformed=[1-9]' "$FZ_SCRATCH/load.log"; then
    echo "relay perf: a relay delivered datagrams that differ from what was sent:" >&2
    grep -E '^(allocations|malformed)' "$FZ_SCRATCH/load.log" >&2
    exit 1
fi
