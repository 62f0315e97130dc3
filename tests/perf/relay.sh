#!/usr/bin/env bash
# Relayed packets per second through our relay, with its XDP fast path (driver and generic mode) and in
# userspace, and through coturn, on the same network-namespace topology in one run: a relay host and a load host
# on a veth pair. relay-load allocates N allocations and binds a channel each to a peer socket of its own. Each
# server is measured three ways:
# - echo, plain: relay-load sends channel data to the peers and datagrams back to the relayed addresses as fast as
#   the sockets take them, in bursts of 32 sent with UDP GSO, receives with UDP GRO and counts (and checks) what
#   arrives at either end, on a link with no XDP program on the load host, as between real hosts. Its receive path
#   shares the machine's two cores with the relay, so it caps what can be seen. Not for XDP in driver mode:
#   native XDP_TX on veth needs a program on the peer veth;
# - echo: the same with a pass-all XDP program on the load host and transmit checksum offload off there, the
#   setup native XDP_TX on veth needs (drivers/net/veth.c, veth_xdp_xmit); veth then segments in software and the
#   generator falls back to single datagrams, so sending is as costly as relaying and the generator sets the rate;
# - one core each: the relay gets core 1 and the load host core 0. The relay process and its interface's receive
#   processing (threaded NAPI, pinned) run on core 1 only; the load host answers in XDP (xdp_echo.c): what the
#   relay sends to a peer comes back as that peer's datagram to the allocation, what it sends to a client comes
#   back as the client's channel data, so packets circulate through the relay while relay-load tops the loop up
#   with paced bursts, and the relay's core, not the load generator, sets the rate (core use is printed). The
#   relay's interface carries an XDP program in every run (ours, or a pass-all one for userspace and coturn), as a
#   NIC's driver hook would: veth takes the load host's XDP_TX frames only then. Not for XDP in generic mode,
#   which excludes a native program.
# Also prints the kernel memory of the XDP maps, preallocated for 65 536 bindings per family combination.
#
# Usage: tests/perf/relay.sh [ALLOCATIONS] [SECONDS] [PAYLOAD_BYTES]   (defaults 16, 10, 100)
# Takes about three minutes with the defaults.
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
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
[ "$(nproc)" -ge 2 ] || { echo "relay perf: needs two cores (one for the relay, one for the load)" >&2; exit 1; }
ip netns exec "$load" ethtool -K eth0 tx off >/dev/null
build_xdp_pass "$FZ_SCRATCH/xdp_pass.o"
clang -O2 -g -target bpf -DRELAY_ADDRESS=0x0A600002 -I"$(bpf_asm_include)" \
    -c tests/perf/xdp_echo.c -o "$FZ_SCRATCH/xdp_echo.o"
# Seconds of circulation before the "one core each" count starts: queues fill and the rate settles.
warmup=2

# The XDP program on $1's (load or relay) interface: pass, echo or off.
host_program() {
    local namespace=$1 program=$2
    if [ "$program" = off ]; then
        ip -n "$namespace" link set dev eth0 xdpdrv off
    else
        ip -force -n "$namespace" link set dev eth0 xdpdrv obj "$FZ_SCRATCH/xdp_$program.o" sec xdp
    fi
}

echo_count() {
    bpftool map dump name fzperf_echo -j | /usr/bin/python3 -c \
        'import json, sys; print(sum(v["value"] for entry in json.load(sys.stdin) for v in entry["formatted"]["values"]))'
}

napi_threads() {
    ps -eo pid=,comm= | awk '$2 ~ /^napi\// { print $1 }' | sort
}

# Moves the receive processing of $1's interface into NAPI kernel threads ("threaded" NAPI) and pins them to
# core $2, so that it runs there and nowhere else; "off" as $2 moves it back into softirq.
pin_receive() {
    local namespace=$1 core=$2 before thread
    if [ "$core" = off ]; then
        ip netns exec "$namespace" sh -c 'echo 0 > /sys/class/net/eth0/threaded'
        return
    fi
    before=$(napi_threads)
    ip netns exec "$namespace" sh -c 'echo 1 > /sys/class/net/eth0/threaded'
    for thread in $(comm -13 <(echo "$before") <(napi_threads)); do
        taskset -p -c "$core" "$thread" >/dev/null
    done
}

# Busy share of each core between two /proc/stat snapshots ($1, $2): prints "core0% core1%".
busy_cores() {
    paste <(grep '^cpu[01] ' "$1") <(grep '^cpu[01] ' "$2") | awk '{
        half = NF / 2; busy = 0; total = 0
        for (i = 2; i <= half; i++) { d = $(i + half) - $i; total += d; if (i != 5 && i != 6) busy += d }
        printf "%s%.0f%%", (NR > 1 ? " " : ""), 100 * busy / total
    }'
}

# Sets echo_rate: relayed packets/s that relay-load counts at both ends. The arguments go to relay-load.
echo_measure() {
    echo_rate=$(ip netns exec "$load" "$bin/relay-load" --relay 10.96.0.2:3478 --local 10.96.0.1 \
        --allocations "$allocations" --seconds "$seconds" --payload "$payload" "$@" | tee -a "$FZ_SCRATCH/load.log" \
        | sed -n 's/^relayed_packets_per_second=//p')
}

# Sets core_rate (relayed packets/s answered by xdp_echo) and core_busy (the two cores' use while counting) for
# the relay with PID $1 and the XDP program $2 on its interface ("ours", or "pass" for userspace and coturn);
# the other arguments go to relay-load.
core_measure() {
    local pid=$1 relay_program=$2 generator before after
    shift 2
    [ "$relay_program" = pass ] && host_program "$relay" pass
    host_program "$load" echo
    # GRO on the relay's interface, as on a NIC. On both, GRO also keeps the interface's NAPI instance (and so its
    # kernel thread) while XDP programs come and go.
    ip netns exec "$relay" ethtool -K eth0 gro on >/dev/null
    ip netns exec "$load" ethtool -K eth0 gro on >/dev/null
    pin_receive "$relay" 1
    pin_receive "$load" 0
    taskset -a -p -c 1 "$pid" >/dev/null
    # Paced bursts keep the loop full: what a full queue drops is made up for.
    ip netns exec "$load" taskset -c 0 "$bin/relay-load" --relay 10.96.0.2:3478 --local 10.96.0.1 --send-only \
        --allocations "$allocations" --seconds $((warmup + seconds + 1)) --payload "$payload" \
        --bursts-per-second 500 "$@" >>"$FZ_SCRATCH/load.log" &
    generator=$!
    FZ_PIDS+=("$generator")
    sleep "$warmup"
    cat /proc/stat >"$FZ_SCRATCH/stat-before"
    before=$(echo_count)
    sleep "$seconds"
    after=$(echo_count)
    cat /proc/stat >"$FZ_SCRATCH/stat-after"
    core_rate=$(((after - before) / seconds))
    core_busy=$(busy_cores "$FZ_SCRATCH/stat-before" "$FZ_SCRATCH/stat-after")
    # Without the echo, the circulating packets end at relay-load's sockets. This comes first: a NAPI thread only
    # stops once its interface is idle.
    host_program "$load" off
    pin_receive "$load" off
    pin_receive "$relay" off
    ip netns exec "$load" ethtool -K eth0 gro off >/dev/null
    ip netns exec "$relay" ethtool -K eth0 gro off >/dev/null
    taskset -a -p -c "$(cat /sys/devices/system/cpu/online)" "$pid" >/dev/null
    wait "$generator"
    [ "$relay_program" = pass ] && host_program "$relay" off
    return 0
}

# One server (PID $1), every way: sets plain_rate (echo on a link without XDP on the load host; "-" when $2 is
# "no-plain"), echo_rate, core_rate and core_busy ("-" when $3, the XDP program on the relay's interface for
# core_measure, is "none"). The other arguments go to relay-load. Runs in this shell, not a subshell, so that every
# process it starts stays recorded for cleanup.
measure() {
    local pid=$1 plain=$2 relay_program=$3
    shift 3
    plain_rate=-
    if [ "$plain" = plain ]; then
        # A plain link also has checksum offload, without which the kernel refuses UDP GSO (EIO) and the
        # generator falls back to single datagrams.
        host_program "$load" off
        ip netns exec "$load" ethtool -K eth0 tx on >/dev/null
        echo_measure "$@"
        plain_rate=$echo_rate
        ip netns exec "$load" ethtool -K eth0 tx off >/dev/null
    fi
    host_program "$load" pass
    echo_measure "$@"
    core_rate=- core_busy=-
    if [ "$relay_program" != none ]; then
        core_measure "$pid" "$relay_program" "$@"
    fi
}

# Our relay, with the arguments after $3 ($2 and $3 as for `measure`); keeps its /metrics in metrics-$1.txt.
measure_ours() {
    local name=$1 plain=$2 relay_program=$3 pid
    shift 3
    start_in "$relay" "$FZ_SCRATCH/$name.log" "$bin/firezone-relay" --public-ip4-addr 10.96.0.2 \
        --health-check-addr 10.96.0.2:8080 --auth-secret "$secret" "$@"
    pid=$LAST_PID
    wait_until 5 ip netns exec "$load" curl -sf http://10.96.0.2:8080/healthz || { cat "$FZ_SCRATCH/$name.log" >&2; exit 1; }
    measure "$pid" "$plain" "$relay_program" --firezone-secret "$secret"
    sleep 1.2
    ip netns exec "$load" curl -sf http://10.96.0.2:8080/metrics >"$FZ_SCRATCH/metrics-$name.txt"
    kill "$pid"; wait "$pid" || true
}

measure_ours xdp-driver no-plain ours --ebpf-offloading eth0 --ebpf-attach-mode driver
xdp_driver_plain=$plain_rate xdp_driver_echo=$echo_rate xdp_driver_core=$core_rate xdp_driver_busy=$core_busy
measure_ours xdp-generic plain none --ebpf-offloading eth0 --ebpf-attach-mode generic
xdp_generic_plain=$plain_rate xdp_generic_echo=$echo_rate xdp_generic_core=$core_rate
measure_ours userspace plain pass
ours_plain=$plain_rate ours_echo=$echo_rate ours_core=$core_rate ours_busy=$core_busy
map_memory=$(sed -n 's/^relay_xdp_map_memory_bytes //p' "$FZ_SCRATCH/metrics-xdp-driver.txt")
xdp_relayed=$(sed -n 's/^relay_relayed_packets_total{datapath="xdp"} //p' "$FZ_SCRATCH/metrics-xdp-driver.txt")
xdp_userspace=$(sed -n 's/^relay_relayed_packets_total{datapath="userspace"} //p' "$FZ_SCRATCH/metrics-xdp-driver.txt")

start_in "$relay" "$FZ_SCRATCH/coturn.log" turnserver -n --listening-ip=10.96.0.2 --relay-ip=10.96.0.2 \
    --listening-port=3478 --min-port=49152 --max-port=65535 --realm=firezone --use-auth-secret \
    --static-auth-secret="$secret" --no-tls --no-dtls --no-cli --userdb="$FZ_SCRATCH/turndb.sqlite" \
    --log-file=stdout --simple-log --pidfile="$FZ_SCRATCH/turnserver.pid"
coturn_pid=$LAST_PID
wait_until 5 bash -c "ip netns exec $relay ss -uln | grep -q 10.96.0.2:3478" || { cat "$FZ_SCRATCH/coturn.log"; exit 1; }
measure "$coturn_pid" plain pass --coturn-secret "$secret"
coturn_plain=$plain_rate coturn_echo=$echo_rate coturn_core=$core_rate coturn_busy=$core_busy
kill "$coturn_pid"; wait "$coturn_pid" || true

echo
echo "relay perf: $allocations allocations, $payload-byte payloads, $seconds s per measurement, 2-way traffic"
printf '  %-36s %12s %12s %14s\n' "relayed packets/s" "echo, plain" "echo" "one core each" \
    "firezone-relay (XDP, driver mode)" "$xdp_driver_plain" "$xdp_driver_echo" "$xdp_driver_core" \
    "firezone-relay (XDP, generic mode)" "$xdp_generic_plain" "$xdp_generic_echo" "$xdp_generic_core" \
    "firezone-relay (userspace)" "$ours_plain" "$ours_echo" "$ours_core" \
    "coturn $(turnserver --version 2>/dev/null | head -1)" "$coturn_plain" "$coturn_echo" "$coturn_core"
# Ratios of the three columns ("-" where a rate was not measured).
ratio() {
    local name=$1
    shift
    awk -v name="$name" -v values="$*" 'BEGIN {
        n = split(values, v, " ")
        printf "  %-36s", name
        for (i = 1; i < n; i += 2) {
            width = (i == n - 1) ? 14 : 12
            if (v[i] == "-" || v[i + 1] == "-" || v[i + 1] == 0) printf " %*s", width, "-"
            else printf " %*.2f", width, v[i] / v[i + 1]
        }
        printf "\n"
    }'
}
ratio "XDP driver / userspace" "$xdp_driver_plain" "$ours_plain" "$xdp_driver_echo" "$ours_echo" "$xdp_driver_core" "$ours_core"
ratio "XDP generic / userspace" "$xdp_generic_plain" "$ours_plain" "$xdp_generic_echo" "$ours_echo" "$xdp_generic_core" "$ours_core"
ratio "userspace / coturn" "$ours_plain" "$coturn_plain" "$ours_echo" "$coturn_echo" "$ours_core" "$coturn_core"
ratio "XDP driver / coturn" "$xdp_driver_plain" "$coturn_plain" "$xdp_driver_echo" "$coturn_echo" "$xdp_driver_core" "$coturn_core"
echo "  one core each, busy share of core 0 (load) and core 1 (relay) while counting: XDP driver $xdp_driver_busy," \
    "userspace $ours_busy, coturn $coturn_busy"
echo "  XDP driver runs: relayed by XDP ${xdp_relayed:-?}, by userspace ${xdp_userspace:-?} (the relay's /metrics)"
awk -v m="${map_memory:-0}" 'BEGIN { printf "  XDP map memory (8 binding maps of 65 536 entries, preallocated, and the counters): %d bytes = %.1f MiB\n", m, m / 1048576 }'
# relay-load compares every datagram it receives (echo runs) with what was sent.
if grep -q '^malformed=[1-9]' "$FZ_SCRATCH/load.log"; then
    echo "relay perf: a relay delivered datagrams that differ from what was sent:" >&2
    grep -E '^(allocations|malformed)' "$FZ_SCRATCH/load.log" >&2
    exit 1
fi
