#!/usr/bin/env bash
# tests/docker/router/router.sh, the NAT router of docker-compose.yml, applied in a network namespace with the interfaces
# `internet` and `internal` the compose file gives it, between an inside host and an outside host. For each NAT kind
# the outside host records the source of two datagrams the inside host sends from one port to two destinations:
# cone keeps the port and one mapping for both (endpoint-independent mapping, RFC 4787 §4.1), symmetric maps each
# destination to a port of its own, none leaves the inside address as it is. Then the port forwards: a datagram to
# the router's public address reaches the inside host on the same port, a single port and a port of a range. A
# MASQUERADE_TYPE or a port forward the script does not know makes it fail, with nothing applied.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
. tests/integration/lib.sh
trap cleanup EXIT

ROUTER=fzr$FZ_RUN_ID
INSIDE=fzi$FZ_RUN_ID
OUTSIDE=fzo$FZ_RUN_ID
PUBLIC=203.0.113.101
INSIDE_ADDRESS=172.29.9.100
FAR=203.0.113.50

for namespace in "$ROUTER" "$INSIDE" "$OUTSIDE"; do
    ip netns add "$namespace"
    FZ_NAMESPACES+=("$namespace")
    ip -n "$namespace" link set lo up
done
ip link add "$ROUTER-o" type veth peer name "$OUTSIDE-e"
ip link set "$ROUTER-o" netns "$ROUTER" name internet
ip link set "$OUTSIDE-e" netns "$OUTSIDE" name eth0
ip link add "$ROUTER-i" type veth peer name "$INSIDE-e"
ip link set "$ROUTER-i" netns "$ROUTER" name internal
ip link set "$INSIDE-e" netns "$INSIDE" name eth0
ip -n "$ROUTER" addr add "$PUBLIC/24" dev internet
ip -n "$ROUTER" addr add 172.29.9.254/24 dev internal
ip -n "$OUTSIDE" addr add "$FAR/24" dev eth0
ip -n "$INSIDE" addr add "$INSIDE_ADDRESS/24" dev eth0
for link in "$ROUTER internet" "$ROUTER internal" "$OUTSIDE eth0" "$INSIDE eth0"; do
    read -r namespace interface <<<"$link"
    ip -n "$namespace" link set "$interface" up
done
ip -n "$INSIDE" route add default via 172.29.9.254
# Without NAT the outside host answers the inside network through the router, as a routed network's peers do.
ip -n "$OUTSIDE" route add 172.29.9.0/24 via "$PUBLIC"
ip netns exec "$ROUTER" sysctl -qw net.ipv4.ip_forward=1

# A UDP listener on each given port that logs "<local port> <source address> <source port>" per datagram.
listen_udp() {
    local namespace=$1 log=$2
    shift 2
    start_in "$namespace" "$log.err" /usr/bin/python3 -u -c '
import selectors, socket, sys
selector = selectors.DefaultSelector()
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    selector.register(s, selectors.EVENT_READ)
with open(sys.argv[1], "a", buffering=1) as log:
    while True:
        for key, _ in selector.select():
            _, (address, port) = key.fileobj.recvfrom(2048)
            log.write(f"{key.fileobj.getsockname()[1]} {address} {port}\n")
' "$log" "$@"
}

# Sends one datagram from $2 (namespace $1), source port $3, to $4:$5.
send_udp() {
    ip netns exec "$1" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.sendto(b"router-nat", (sys.argv[3], int(sys.argv[4])))
' "$2" "$3" "$4" "$5"
}

apply_router() {
    ip netns exec "$ROUTER" env MASQUERADE_TYPE="$1" PORT_FORWARDS="$2" ROUTER_RULESET=tests/docker/router/router.nft \
        tests/docker/router/router.sh apply >>"$FZ_SCRATCH/router.log" 2>&1
}

remove_router() {
    ip netns exec "$ROUTER" nft delete table inet router 2>/dev/null
}

# Both sources are the router's public address, on two different ports.
per_destination() {
    [ "${1%:*}" = "$PUBLIC" ] && [ "${2%:*}" = "$PUBLIC" ] && [ "$1" != "$2" ]
}

fails() {
    ! "$@"
}

lines_in() {
    [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ]
}

SENDS=$FZ_SCRATCH/outside.log
listen_udp "$OUTSIDE" "$SENDS" 5001 5002
wait_until 10 ip netns exec "$OUTSIDE" bash -c "ss -lun | grep -q ':5002 '" || fail "the outside listener starts"

# Each NAT kind from a new source port, so that no conntrack entry of an earlier kind is reused.
source_port=40000
for kind in cone symmetric none; do
    source_port=$((source_port + 1))
    : >"$SENDS"
    case $kind in cone) value="" ;; symmetric) value=random ;; none) value=none ;; esac
    check "$kind: router.sh applies MASQUERADE_TYPE='$value'" apply_router "$value" ""
    send_udp "$INSIDE" "$INSIDE_ADDRESS" "$source_port" "$FAR" 5001
    send_udp "$INSIDE" "$INSIDE_ADDRESS" "$source_port" "$FAR" 5002
    wait_until 5 lines_in "$SENDS" 2 || fail "$kind: both datagrams arrive ($(cat "$SENDS"))"
    first=$(awk '$1 == 5001 {print $2 ":" $3}' "$SENDS")
    second=$(awk '$1 == 5002 {print $2 ":" $3}' "$SENDS")
    case $kind in
    cone)
        check "cone: one mapping, the source port kept ($first, $second)" \
            [ "$first $second" = "$PUBLIC:$source_port $PUBLIC:$source_port" ]
        ;;
    symmetric)
        check "symmetric: the router's address, a port per destination ($first, $second)" \
            per_destination "$first" "$second"
        ;;
    none)
        check "none: the inside address as it is ($first, $second)" \
            [ "$first $second" = "$INSIDE_ADDRESS:$source_port $INSIDE_ADDRESS:$source_port" ]
        ;;
    esac
    remove_router
done

# Port forwards: a single port and a port of a range reach the inside host on the port they were sent to.
FORWARDED=$FZ_SCRATCH/inside.log
listen_udp "$INSIDE" "$FORWARDED" 3478 50000
wait_until 10 ip netns exec "$INSIDE" bash -c "ss -lun | grep -q ':50000 '" || fail "the inside listener starts"
check "forwards: router.sh applies PORT_FORWARDS" \
    apply_router "" "3478 $INSIDE_ADDRESS udp,49152-65535 $INSIDE_ADDRESS udp"
send_udp "$OUTSIDE" "$FAR" 41000 "$PUBLIC" 3478
send_udp "$OUTSIDE" "$FAR" 41000 "$PUBLIC" 50000
wait_until 5 lines_in "$FORWARDED" 2 || fail "forwards: both datagrams arrive ($(cat "$FORWARDED"))"
check "forwards: 3478 reaches the inside host from the sender's address" \
    grep -qx "3478 $FAR 41000" "$FORWARDED"
check "forwards: 50000 of the range 49152-65535 reaches the inside host on 50000" \
    grep -qx "50000 $FAR 41000" "$FORWARDED"
remove_router

check "an unknown MASQUERADE_TYPE fails" fails apply_router bogus ""
check "a port forward without a protocol fails" fails apply_router "" "3478 $INSIDE_ADDRESS"
check "a failed router.sh leaves no table" bash -c "! ip netns exec $ROUTER nft list table inet router >/dev/null 2>&1"

finish
