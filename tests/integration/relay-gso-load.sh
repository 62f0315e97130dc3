#!/usr/bin/env bash
# Our relay under relay-load, which sends bursts with UDP GSO and receives with UDP GRO: the relay receives them
# coalesced, splits them, relays every datagram both ways (channel data to peers, peer datagrams back as channel
# data) and sends them coalesced again. Every datagram that arrives must be exactly what was sent, and 99 % of each
# direction must arrive. A relay host and a load host in network namespaces; 16 allocations for 2 s, paced.
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
trap cleanup EXIT

bin=$(readlink -f "${FIREZONE_BIN:-../../.build/debug}")
for binary in firezone-relay relay-load; do
    [ -x "$bin/$binary" ] || { echo "build $binary first (swift build --product $binary)" >&2; exit 2; }
done

tag=$$
load="fzg$tag"
relay="fzh$tag"
make_link "$load" "$relay" 94
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

start_in "$relay" "$FZ_SCRATCH/relay.log" "$bin/firezone-relay" --public-ip4-addr 10.94.0.2 --public-ip6-addr fd94::2 \
    --health-check-addr 10.94.0.2:8080 --auth-secret "$secret"
wait_until 5 ip netns exec "$load" curl -sf http://10.94.0.2:8080/healthz || { cat "$FZ_SCRATCH/relay.log"; exit 1; }

for family in 4 6; do
    if [ "$family" = 4 ]; then relay_address=10.94.0.2:3478 local=10.94.0.1; else relay_address=[fd94::2]:3478 local=fd94::1; fi
    ip netns exec "$load" timeout 60 "$bin/relay-load" --relay "$relay_address" --local "$local" \
        --allocations 16 --seconds 2 --payload 200 --bursts-per-second 400 --firezone-secret "$secret" \
        >"$FZ_SCRATCH/load$family.log" 2>&1 \
        || { echo "relay-load over IPv$family failed:"; cat "$FZ_SCRATCH/load$family.log"; }
    value() { grep -oE "(^| )$1=[0-9]+" "$FZ_SCRATCH/load$family.log" | sed 's/.*=//'; }
    # Paced at 400 bursts of 32 per second and direction (12,800 datagrams/s), which even a debug build keeps up
    # with on a busy machine: at most 1 % of each direction may be lost.
    check "IPv$family: relayed channel data reaches the peers ($(value received_at_peers) of $(value sent_to_peers))" \
        test "$(( $(value received_at_peers) * 100 ))" -ge "$(( $(value sent_to_peers) * 99 ))"
    check "IPv$family: peer datagrams reach the clients as channel data ($(value received_at_clients) of $(value sent_to_clients))" \
        test "$(( $(value received_at_clients) * 100 ))" -ge "$(( $(value sent_to_clients) * 99 ))"
    check "IPv$family: every datagram arrived exactly as sent (malformed: $(value malformed))" test "$(value malformed)" = 0
    [ -z "${FZ_DEBUG:-}" ] || { cat "$FZ_SCRATCH/load$family.log"; ip netns exec "$load" curl -sf http://10.94.0.2:8080/metrics | grep -E "^relay_(relayed|dropped|allocations|channels)"; }
done

finish
