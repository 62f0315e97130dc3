#!/usr/bin/env bash
# Our relay against coturn's client tools, as a user would run them: a relay host and a client host in
# network namespaces. turnutils_stunclient learns its reflexive address; turnutils_uclient allocates, binds
# channels and exchanges data with an echo peer through the relay, over IPv4 and IPv6, with no loss; wrong
# credentials fail; garbage datagrams do not stop the relay; SIGTERM stops it with exit code 0 within a second.
# Behind a 1:1 NAT on a host with two addresses, it answers from the address each datagram arrived on.
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
trap cleanup EXIT

relay_binary=${FIREZONE_RELAY:-../../.build/debug/firezone-relay}
[ -x "$relay_binary" ] || { echo "build firezone-relay first (swift build --product firezone-relay)" >&2; exit 2; }
relay_binary=$(readlink -f "$relay_binary")

# Bad configuration: a clear message naming the option, and exit code 2, before anything is opened.
bad_options() {
    local expected=$1 status=0
    shift
    "$relay_binary" "$@" >"$FZ_SCRATCH/options.log" 2>&1 || status=$?
    [ "$status" -eq 2 ] && grep -q -- "$expected" "$FZ_SCRATCH/options.log"
}
check "an invalid public address exits 2 naming the option" bad_options "--public-ip4-addr" --public-ip4-addr 10.0.0.300
check "no public address exits 2 saying one is required" bad_options "a public address is required"
check "an allocation range around the listen port exits 2" bad_options "listen port" \
    --public-ip4-addr 10.0.0.1 --lowest-port 3000 --highest-port 4000
check "PUBLIC_IP6_ADDR is read and validated too" env PUBLIC_IP6_ADDR=nonsense bash -c \
    "'$relay_binary' >'$FZ_SCRATCH/options.log' 2>&1; [ \$? -eq 2 ] && grep -q PUBLIC_IP6_ADDR '$FZ_SCRATCH/options.log'"
# The test vector of Firezone's rust/relay/server/src/auth.rs, through the command users run.
vector=$("$relay_binary" credentials --auth-secret 1cab293a-4032-46f4-862a-40e5d174b0d2 --expiry 1685984278 \
    --salt uvdgKvS9GXYZ_vmv)
check "firezone-relay credentials reproduces the test vector of Firezone's auth.rs" test "$vector" = \
    "$(printf 'username=1685984278:uvdgKvS9GXYZ_vmv\npassword=6xUIoZ+QvxKhRasLifwfRkMXl+ETLJUsFkHlXjlHAkg')"

tag=$$
client="fzc$tag"
relay="fzr$tag"
make_link "$client" "$relay" 97
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

start_in "$relay" "$FZ_SCRATCH/relay.log" env RUST_LOG=debug "$relay_binary" \
    --public-ip4-addr 10.97.0.2 --public-ip6-addr fd97::2 \
    --health-check-addr 10.97.0.2:8080 --auth-secret "$secret"
relay_pid=$LAST_PID
wait_until 5 ip netns exec "$client" curl -sf http://10.97.0.2:8080/healthz || { cat "$FZ_SCRATCH/relay.log"; exit 1; }
start_in "$client" "$FZ_SCRATCH/peer.log" turnutils_peer -L 10.97.0.1 -L fd97::1 -p 3480

credentials() {
    "$relay_binary" credentials --auth-secret "$secret" --salt "$1" | sed -n "s/^$2=//p"
}
username=$(credentials integration username)
password=$(credentials integration password)

reflexive=$(ip netns exec "$client" timeout 5 turnutils_stunclient -p 3478 10.97.0.2 2>&1 | grep -m1 'reflexive addr' || true)
check "turnutils_stunclient learns its reflexive address from the relay ($reflexive)" \
    grep -q '10.97.0.1:' <<<"$reflexive"

uclient() {
    ip netns exec "$client" timeout 60 turnutils_uclient "$@" >"$FZ_SCRATCH/uclient.log" 2>&1
}
# Where datagrams were lost, when they were: each host's UDP buffer drops, and the relay's own drop counters.
loss_report() {
    local namespace
    tail -5 "$FZ_SCRATCH/uclient.log"
    for namespace in "$client" "$relay"; do
        echo "  $namespace: $(ip netns exec "$namespace" nstat -az UdpRcvbufErrors UdpSndbufErrors Udp6RcvbufErrors Udp6SndbufErrors \
            | awk 'NR > 1 { printf "%s=%s ", $1, $2 }')"
    done
    ip netns exec "$client" curl -sf http://10.97.0.2:8080/metrics | grep -E '^relay_dropped_packets_total' | sed 's/^/  /'
}
# The final counters: nothing lost, and as many messages back as were sent (uclient's echo peer returns each).
lost_nothing() {
    local last
    last=$(grep 'tot_send_msgs=' "$FZ_SCRATCH/uclient.log" | tail -1)
    grep -q 'Total lost packets 0 (0.000000%)' "$FZ_SCRATCH/uclient.log" \
        && [[ $last =~ tot_send_msgs=([0-9]+),\ tot_recv_msgs=([0-9]+) ]] \
        && [ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
}

if uclient -u "$username" -w "$password" -e 10.97.0.1 -r 3480 -n 5000 -l 1000 -m 1 -z 1 -c 10.97.0.2 && lost_nothing; then
    pass "turnutils_uclient relays 5000 messages of 1000 bytes over IPv4 with 0 % loss"
else
    fail "turnutils_uclient over IPv4"; loss_report
fi

# A standalone relay is a general TURN server: one username holds several allocations (up to its quota of 16),
# so uclient's four sessions with one credential each relay, none evicting another.
if uclient -u "$username" -w "$password" -e 10.97.0.1 -r 3480 -n 1000 -l 500 -m 4 -z 1 -c 10.97.0.2 && lost_nothing; then
    pass "turnutils_uclient -m 4 relays four sessions with one credential with 0 % loss"
else
    fail "turnutils_uclient -m 4 with one credential"; loss_report
fi

if uclient -u "$username" -w "$password" -e fd97::1 -r 3480 -n 2000 -l 500 -m 1 -z 1 -c fd97::2 && lost_nothing; then
    pass "turnutils_uclient relays over IPv6 with 0 % loss"
else
    fail "turnutils_uclient over IPv6"; loss_report
fi

# With RTCP: an RTP allocation with EVEN-PORT reserving the next port, and an RTCP allocation redeeming it.
if uclient -u "$username" -w "$password" -e 10.97.0.1 -r 3480 -n 500 -l 200 -m 1 -z 1 10.97.0.2 && lost_nothing; then
    pass "turnutils_uclient with RTCP (EVEN-PORT and RESERVATION-TOKEN) relays with 0 % loss"
else
    fail "turnutils_uclient with RTCP"; loss_report
fi

if uclient -u "$username" -w "wrong$password" -e 10.97.0.1 -r 3480 -n 10 -l 100 10.97.0.2; then
    fail "turnutils_uclient with a wrong password must fail"
else
    check "turnutils_uclient with a wrong password cannot allocate" grep -q 'Cannot complete Allocation' "$FZ_SCRATCH/uclient.log"
fi

# Malformed datagrams of every kind: the relay counts and drops them, and keeps serving.
ip netns exec "$client" python3 - <<'PY'
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for size in (0, 1, 3, 4, 19, 20, 21, 64, 548, 1500):
    for first in (0x00, 0x01, 0x40, 0x4f, 0x7f, 0x80, 0xff):
        s.sendto(bytes([first]) + os.urandom(max(size - 1, 0)), ("10.97.0.2", 3478))
s.sendto(bytes.fromhex("000100082112a442") + os.urandom(12) + bytes.fromhex("7777000401020304"), ("10.97.0.2", 3478))
PY
# The relay publishes its counters once a second.
sleep 1.5
reflexive=$(ip netns exec "$client" timeout 5 turnutils_stunclient -p 3478 10.97.0.2 2>&1 | grep -m1 'reflexive addr' || true)
check "the relay keeps serving after 71 malformed datagrams" grep -q '10.97.0.1:' <<<"$reflexive"

metrics=$(ip netns exec "$client" curl -sf http://10.97.0.2:8080/metrics); echo "$metrics" > "$FZ_SCRATCH/metrics.txt"; [ -n "${FZ_SHOW_METRICS:-}" ] && grep -v "^#" "$FZ_SCRATCH/metrics.txt"
check "/metrics counts relayed packets" grep -qE '^relay_relayed_packets_total\{datapath="userspace"\} [1-9]' <<<"$metrics"
check "/metrics counts dropped datagrams by reason" grep -qE '^relay_dropped_packets_total\{reason="not_turn"\} [1-9]' <<<"$metrics"
check "/metrics counts 401 responses" grep -qE '^relay_responses_total\{method="allocate",class="error",code="401"\} [1-9]' <<<"$metrics"
check "the relay's logs carry no secret" bash -c "! grep -q '$secret' '$FZ_SCRATCH/relay.log'"

started=$(date +%s%N)
kill -TERM "$relay_pid"
status=0
wait "$relay_pid" || status=$?
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
check "SIGTERM stops the relay with exit code 0 (got $status) within 1 s (took ${elapsed_ms} ms)" \
    test "$status" -eq 0 -a "$elapsed_ms" -lt 1000

# Behind a 1:1 NAT, on a host with two addresses: the public addresses 10.96.0.9 and fd96::9 are not the relay's
# own, so it binds the wildcard address; the NAT maps them to its second addresses 10.97.0.3 and fd97::1:3, while
# routes toward the client prefer its first (10.97.0.2 is the primary address; fd97::1:3 is deprecated, which
# RFC 6724 §5 rule 3 avoids). Every response, and the channel data and UDP it
# relays, must leave from the address the datagram that caused it arrived on, or the NAT does not translate it back
# and the client (turn_pair.py takes an answer only from the address it asked) sees a stranger. Both clients live
# on the client host; the peers of the translate scenario too.
ip -n "$relay" addr add 10.97.0.3/24 dev eth0
ip -n "$relay" addr add fd97::1:3/64 dev eth0 nodad preferred_lft 0
ip -n "$client" route add 10.96.0.9/32 via 10.97.0.2
ip -n "$client" -6 route add fd96::9/128 via fd97::2
ip netns exec "$relay" nft -f - <<'NFT'
table inet one_to_one {
    chain inbound {
        type nat hook prerouting priority dstnat;
        ip daddr 10.96.0.9 dnat ip to 10.97.0.3
        ip6 daddr fd96::9 dnat ip6 to fd97::1:3
    }
    chain outbound {
        type nat hook postrouting priority srcnat;
        ip saddr 10.97.0.3 snat ip to 10.96.0.9
        ip6 saddr fd97::1:3 snat ip6 to fd96::9
    }
}
NFT
start_in "$relay" "$FZ_SCRATCH/relay-nat.log" env RUST_LOG=debug "$relay_binary" \
    --public-ip4-addr 10.96.0.9 --public-ip6-addr fd96::9 --health-check-addr 127.0.0.1:8081 --auth-secret "$secret"
if wait_until 5 ip netns exec "$relay" curl -sf http://127.0.0.1:8081/healthz; then
    for family in 4 6; do
        if ! /usr/bin/python3 ./turn_pair.py translate --transport "$family" --relayed "$family" --secret "$secret" \
            --relay 10.96.0.9 fd96::9 --host-a "$client" 10.97.0.1 fd97::1 --host-b "$client" 10.97.0.1 fd97::1 \
            --count 50 >"$FZ_SCRATCH/pair.log" 2>&1; then
            fail "behind a 1:1 NAT over IPv$family, every answer leaves from the address asked"
        fi
        sed "s/^\(not \)\{0,1\}ok - /&[1:1 NAT] /" "$FZ_SCRATCH/pair.log"
        FZ_PASSES=$((FZ_PASSES + $(grep -c '^ok - ' "$FZ_SCRATCH/pair.log" || true)))
    done
else
    fail "the relay starts behind a 1:1 NAT"; cat "$FZ_SCRATCH/relay-nat.log"
fi

finish
