# Shared helpers for the integration tests: namespaces, processes, assertions. Everything a test creates is
# recorded here and removed by `cleanup` (run from an EXIT trap): processes by PID, namespaces by name.
# shellcheck shell=bash

# Network namespaces and the temporary veth names of make_link and wire_namespaces live in the host's shared name
# spaces: every name a run gives them ends in this suffix (the script's PID), so that two runs on one machine, of
# one test or of several, never collide. Keep the stems short: an interface name is at most 15 characters, and
# make_link names one "<namespace>-e".
FZ_RUN_ID=$$

FZ_PIDS=()
FZ_NAMESPACES=()
FZ_FAILURES=0
FZ_PASSES=0
FZ_SCRATCH=$(mktemp -d /tmp/fz-integration.XXXXXX)

cleanup() {
    local pid namespace
    for pid in "${FZ_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${FZ_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for namespace in "${FZ_NAMESPACES[@]}"; do
        ip netns del "$namespace" 2>/dev/null || true
    done
    rm -rf "$FZ_SCRATCH"
}

# Two hosts on one veth link: $1 and $2 are namespace names, addresses 10.$3.0.1|2 and fd$3::1|2.
make_link() {
    local a=$1 b=$2 net=$3
    ip netns add "$a"; FZ_NAMESPACES+=("$a")
    ip netns add "$b"; FZ_NAMESPACES+=("$b")
    # Interface names are at most 15 characters; namespace names here are short.
    ip link add "$a-e" type veth peer name "$b-e"
    ip link set "$a-e" netns "$a" name eth0
    ip link set "$b-e" netns "$b" name eth0
    ip -n "$a" addr add "10.$net.0.1/24" dev eth0
    ip -n "$b" addr add "10.$net.0.2/24" dev eth0
    ip -n "$a" addr add "fd$net::1/64" dev eth0 nodad
    ip -n "$b" addr add "fd$net::2/64" dev eth0 nodad
    for namespace in "$a" "$b"; do
        ip -n "$namespace" link set lo up
        ip -n "$namespace" link set eth0 up
    done
}

# A veth pair between namespace $2 (interface $3) and namespace $4 (interface $5), both up, with transmit checksum
# offload off on both ends: XDP rewrites datagrams whole, so senders must compute full UDP checksums. $1 prefixes
# the temporary names and must be unique to the run (interface names are at most 15 characters).
wire_namespaces() {
    local prefix=$1
    ip link add "$prefix-1" type veth peer name "$prefix-2"
    ip link set "$prefix-1" netns "$2" name "$3"
    ip link set "$prefix-2" netns "$4" name "$5"
    ip -n "$2" link set "$3" up
    ip -n "$4" link set "$5" up
    ip netns exec "$2" ethtool -K "$3" tx off >/dev/null
    ip netns exec "$4" ethtool -K "$5" tx off >/dev/null
}

# Runs a command in a namespace in the background and records its PID (`ip netns exec` execs, so $! is it).
start_in() {
    local namespace=$1 log=$2
    shift 2
    ip netns exec "$namespace" "$@" >"$log" 2>&1 &
    FZ_PIDS+=("$!")
    LAST_PID=$!
}

# Waits up to $2 seconds for a command to succeed.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.1
    done
}

pass() {
    FZ_PASSES=$((FZ_PASSES + 1))
    echo "ok - $*"
}

fail() {
    FZ_FAILURES=$((FZ_FAILURES + 1))
    echo "not ok - $*"
}

check() {
    local description=$1
    shift
    if "$@"; then pass "$description"; else fail "$description"; fi
}

finish() {
    echo "$(basename "$0"): $FZ_PASSES passed, $FZ_FAILURES failed"
    [ "$FZ_FAILURES" -eq 0 ]
}

# Compiles a pass-all XDP program to $1. Native XDP_TX on veth delivers only to a peer veth with an XDP program of its
# own (the kernel's drivers/net/veth.c, veth_xdp_xmit), so tests put this one on the far side of the relay's link.
build_xdp_pass() {
    cat >"$FZ_SCRATCH/xdp_pass.c" <<'C'
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] __attribute__((section("license"), used)) = "GPL";
C
    clang -O2 -target bpf -I"$(bpf_asm_include)" -c "$FZ_SCRATCH/xdp_pass.c" -o "$1"
}

# Where Debian keeps <asm/types.h>, which the kernel's UAPI headers include: the multiarch directory.
bpf_asm_include() {
    echo "/usr/include/$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")"
}

# Sets OWN_ETC to the command prefix that runs a command with its own view of /etc: an overlay whose writes land in
# $1/upper, and $1/resolv.conf bind-mounted over /etc/resolv.conf, as a container runtime mounts it (Docker,
# https://docs.docker.com/engine/network/#dns-services). `unshare --mount` makes the mounts private to the process,
# and the exec chain keeps its PID.
own_etc() {
    mkdir -p "$1/upper" "$1/work"
    # shellcheck disable=SC2016
    OWN_ETC=(unshare --mount sh -c '
        mount -t overlay fz-etc -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc &&
            mount --bind "$1/resolv.conf" /etc/resolv.conf && shift && exec "$@"' sh "$1")
}

# Runs $4... in namespace $1 (log $2) with its own view of /etc in $3 (own_etc).
start_with_etc() {
    local namespace=$1 log=$2
    own_etc "$3"
    shift 3
    start_in "$namespace" "$log" "${OWN_ETC[@]}" "$@"
}
