#!/bin/bash
# A NAT router between the interface `internet` and the interface `internal` (docker-compose.yml names them):
# router.nft, then masquerade of the inside networks (IPv4 and IPv6) as MASQUERADE_TYPE says, the DNAT port forwards
# of PORT_FORWARDS, and netem delay when NETWORK_LATENCY_MS is set. `router.sh apply` stops there (for a router
# that is a network namespace rather than a container); `router.sh` then waits for SIGTERM, as a container's main
# process. The container's healthcheck is the table's presence.
#
# MASQUERADE_TYPE, as Firezone's router.sh reads it (scripts/router/router.sh), plus the NAT kinds by name:
#   "" or cone          masquerade: keeps the source port when it is free, so one inside address and port maps to
#                       one outside port whatever the destination (endpoint-independent mapping, RFC 4787 §4.1)
#   random, symmetric   masquerade random: a new random port per destination (endpoint-dependent mapping, the
#                       "symmetric NAT" that forces a relayed path)
#   fully-random        masquerade fully-random
#   none                no translation: the inside addresses are routed as they are
# PORT_FORWARDS: comma-separated "PORT ADDRESS PROTOCOL", PORT a port or LOW-HIGH, for example
#   "3478 172.29.1.100 udp,49152-65535 172.29.1.100 udp"; the destination port is kept.
# NETWORK_LATENCY_MS: netem delay, half on each interface, since netem delays only what leaves an interface.
set -euo pipefail

ruleset=${ROUTER_RULESET:-/usr/local/share/router/router.nft}

# The inside networks are the routes the kernel made for the addresses of `internal`.
inside4=$(ip -4 -o route show dev internal proto kernel scope link | awk '{print $1}')
inside6=$(ip -6 -o route show dev internal proto kernel | awk '$1 !~ /^fe80:/ {print $1}')
public4=$(ip -4 -o addr show dev internet scope global | awk '{split($4, a, "/"); print a[1]; exit}')
public6=$(ip -6 -o addr show dev internet scope global | awk '{split($4, a, "/"); print a[1]; exit}')
if [ -z "$inside4" ] || [ -z "$public4" ]; then
    echo "router: no IPv4 network on 'internal' or no IPv4 address on 'internet'" >&2
    exit 1
fi

case "${MASQUERADE_TYPE:-}" in
"" | cone) masquerade=masquerade ;;
random | symmetric) masquerade="masquerade random" ;;
fully-random) masquerade="masquerade fully-random" ;;
none) masquerade="" ;;
*)
    echo "router: MASQUERADE_TYPE '$MASQUERADE_TYPE' is none of '', cone, random, symmetric, fully-random, none" >&2
    exit 1
    ;;
esac

rules=$(mktemp)
trap 'rm -f "$rules"' EXIT
cat "$ruleset" >"$rules"
if [ -n "$masquerade" ]; then
    for network in $inside4; do
        echo "add rule inet router postrouting ip saddr $network oifname \"internet\" $masquerade" >>"$rules"
    done
    for network in $inside6; do
        echo "add rule inet router postrouting ip6 saddr $network oifname \"internet\" $masquerade" >>"$rules"
    done
fi
IFS=',' read -r -a forwards <<<"${PORT_FORWARDS:-}"
for forward in "${forwards[@]}"; do
    read -r port address protocol extra <<<"$forward" || true
    [ -z "${port:-}" ] && continue
    if [ -z "${address:-}" ] || [ -z "${protocol:-}" ] || [ -n "${extra:-}" ]; then
        echo "router: port forward '$forward' is not 'PORT ADDRESS PROTOCOL'" >&2
        exit 1
    fi
    case "$address" in
    *:*)
        [ -n "$public6" ] || { echo "router: forward '$forward' needs an IPv6 address on 'internet'" >&2 && exit 1; }
        echo "add rule inet router prerouting ip6 daddr $public6 $protocol dport $port dnat ip6 to $address" >>"$rules"
        ;;
    *) echo "add rule inet router prerouting ip daddr $public4 $protocol dport $port dnat ip to $address" >>"$rules" ;;
    esac
done

nft -f "$rules"
echo "router: inside ${inside4//$'\n'/ } ${inside6//$'\n'/ }, outside $public4 $public6, NAT '${MASQUERADE_TYPE:-cone}'"
nft list table inet router

if [ -n "${NETWORK_LATENCY_MS:-}" ] && [ "$NETWORK_LATENCY_MS" != 0 ]; then
    for interface in internet internal; do
        tc qdisc replace dev "$interface" root netem delay "$((NETWORK_LATENCY_MS / 2))ms" limit 100000
    done
fi

[ "${1:-}" = apply ] && exit 0

# Stopped by SIGTERM at `docker compose down`; the network namespace, and the table with it, goes away.
trap 'exit 0' TERM INT
sleep infinity &
wait
