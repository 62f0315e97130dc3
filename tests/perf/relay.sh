#!/usr/bin/env bash
# Relayed packets per second through our relay and through coturn, on the same network-namespace topology, in
# one run: a relay host and a load host on a veth link. The load generator (relay-load) allocates N
# allocations, binds a channel each to a peer socket of its own, and sends channel data to the peers and
# datagrams back to the relayed addresses as fast as the sockets take them; what arrives at either end counts.
#
# Usage: tests/perf/relay.sh [ALLOCATIONS] [SECONDS] [PAYLOAD_BYTES]   (defaults 16, 10, 100)
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

measure() {
    ip netns exec "$load" "$bin/relay-load" --relay 10.96.0.2:3478 --local 10.96.0.1 \
        --allocations "$allocations" --seconds "$seconds" --payload "$payload" "$@" | tee -a "$FZ_SCRATCH/load.log" \
        | sed -n 's/^relayed_packets_per_second=//p'
}

start_in "$relay" "$FZ_SCRATCH/ours.log" "$bin/firezone-relay" --public-ip4-addr 10.96.0.2 \
    --health-check-addr 10.96.0.2:8080 --auth-secret "$secret"
ours_pid=$LAST_PID
wait_until 5 ip netns exec "$load" curl -sf http://10.96.0.2:8080/healthz || { cat "$FZ_SCRATCH/ours.log"; exit 1; }
ours=$(measure --firezone-secret "$secret")
kill "$ours_pid"; wait "$ours_pid" || true

start_in "$relay" "$FZ_SCRATCH/coturn.log" turnserver -n --listening-ip=10.96.0.2 --relay-ip=10.96.0.2 \
    --listening-port=3478 --min-port=49152 --max-port=65535 --realm=firezone --use-auth-secret \
    --static-auth-secret="$secret" --no-tls --no-dtls --no-cli --userdb="$FZ_SCRATCH/turndb.sqlite" \
    --log-file=stdout --simple-log --pidfile="$FZ_SCRATCH/turnserver.pid"
coturn_pid=$LAST_PID
wait_until 5 bash -c "ip netns exec $relay ss -uln | grep -q 10.96.0.2:3478" || { cat "$FZ_SCRATCH/coturn.log"; exit 1; }
coturn=$(measure --coturn-secret "$secret")
kill "$coturn_pid"; wait "$coturn_pid" || true

echo
echo "relay perf: $allocations allocations, $payload-byte payloads, $seconds s each, 2-way traffic"
echo "what the load generator saw (firezone-relay first, then coturn):"
grep -E '^(sent|malformed)' "$FZ_SCRATCH/load.log" | sed 's/^/  /'
printf '  %-28s %12s packets/s\n' "firezone-relay (userspace)" "$ours" "coturn $(turnserver --version 2>/dev/null | head -1)" "$coturn"
if grep -q '^malformed=[1-9]' "$FZ_SCRATCH/load.log"; then
    echo "relay perf: a relay delivered datagrams that differ from what was sent" >&2
    exit 1
fi
awk -v a="$ours" -v b="$coturn" 'BEGIN { if (b > 0) printf "  ratio ours/coturn: %.2f\n", a / b; else print "  coturn relayed nothing" }'
