#!/usr/bin/env bash
# firezone-headless-client signed in to firezone-portal in network namespaces, with firezone-gateway in front of a
# resource, each behind a router: both allocate on the relay, the status view (signed in, the portal's resource),
# tun-firezone with the portal's addresses, the resource's route in connlib's table, ping and HTTP reaching the
# resource through the gateway, and the policy rules while it runs; SIGHUP and a network change reset its
# connections with a new key (the client joins the portal again with it, and reaches the resource), and it keeps
# running; SIGTERM exits 0 and leaves no device, rule or status file. Then each start failure with its own exit
# status: a bad option, a token file others may read, a rejected token, an unreachable portal, no CAP_NET_ADMIN, a
# taken TUN device.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
. tests/integration/lib.sh
trap cleanup EXIT

BIN=${FIREZONE_BIN_DIR:-.build/debug}
PORTAL=10.62.0.1
CLIENT_TOKEN=client-1-token
STATUS=$FZ_SCRATCH/status.json
# Namespace names and the veth names that wire them, unique to this run (lib.sh).
HUB=fzhp$FZ_RUN_ID
CLIENT_ROUTER=fzhr$FZ_RUN_ID
CLIENT_NS=fzhc$FZ_RUN_ID
GATEWAY_ROUTER=fzhs$FZ_RUN_ID
GATEWAY_NS=fzhg$FZ_RUN_ID
LINK_RC=fzhrc$FZ_RUN_ID
LINK_PS=fzhps$FZ_RUN_ID
LINK_SG=fzhsg$FZ_RUN_ID

# Routers between every peer and the relay. The portal's namespace (10.62.0.1, also the relay) is the internet
# hub: the client (10.63.0.2) sits behind a masquerading router (10.62.0.2 outside), the gateway (10.65.0.2) behind a
# plain router (10.64.0.2) on a second link of the hub. The relay's host thus has two interfaces, and its answers to
# the gateway leave by the one that is not its public address's. The resource 172.20.0.1 is an address of the
# gateway's namespace (on lo).
make_link "$HUB" "$CLIENT_ROUTER" 62
ip netns add "$CLIENT_NS"
FZ_NAMESPACES+=("$CLIENT_NS")
ip netns add "$GATEWAY_ROUTER"
FZ_NAMESPACES+=("$GATEWAY_ROUTER")
ip netns add "$GATEWAY_NS"
FZ_NAMESPACES+=("$GATEWAY_NS")
wire_namespaces "$LINK_RC" "$CLIENT_ROUTER" eth1 "$CLIENT_NS" eth0
wire_namespaces "$LINK_PS" "$HUB" eth1 "$GATEWAY_ROUTER" eth0
wire_namespaces "$LINK_SG" "$GATEWAY_ROUTER" eth1 "$GATEWAY_NS" eth0
ip -n "$CLIENT_ROUTER" addr add 10.63.0.1/24 dev eth1
ip -n "$CLIENT_NS" addr add 10.63.0.2/24 dev eth0
ip -n "$HUB" addr add 10.64.0.1/24 dev eth1
ip -n "$GATEWAY_ROUTER" addr add 10.64.0.2/24 dev eth0
ip -n "$GATEWAY_ROUTER" addr add 10.65.0.1/24 dev eth1
ip -n "$GATEWAY_NS" addr add 10.65.0.2/24 dev eth0
for namespace in "$CLIENT_NS" "$GATEWAY_ROUTER" "$GATEWAY_NS"; do
    ip -n "$namespace" link set lo up
done
ip -n "$CLIENT_ROUTER" route add default via 10.62.0.1
ip -n "$CLIENT_NS" route add default via 10.63.0.1
ip -n "$HUB" route add 10.65.0.0/24 via 10.64.0.2
ip -n "$GATEWAY_ROUTER" route add default via 10.64.0.1
ip -n "$GATEWAY_NS" route add default via 10.65.0.1
for namespace in "$HUB" "$CLIENT_ROUTER" "$GATEWAY_ROUTER"; do
    ip netns exec "$namespace" sysctl -qw net.ipv4.ip_forward=1
done
ip netns exec "$CLIENT_ROUTER" nft -f - <<'NFT'
table ip fz_nat {
    chain postrouting {
        type nat hook postrouting priority srcnat;
        oifname "eth0" masquerade
    }
}
NFT
ip -n "$GATEWAY_NS" addr add 172.20.0.1/32 dev lo
start_in "$GATEWAY_NS" "$FZ_SCRATCH/http.log" python3 -m http.server --bind 172.20.0.1 8000 --directory "$FZ_SCRATCH"
echo "resource-page" >"$FZ_SCRATCH/index.html"
cat >"$FZ_SCRATCH/portal.json" <<JSON
{
  "account_slug": "local",
  "upstream_dns": [],
  "sites": [{"id": "5c2a9a8e-0d3c-4a34-9d0e-3f1f6c0b1a01", "name": "Site A", "token": "site-a-gateways-token"}],
  "resources": [
    {"id": "8f0e1d2c-3b4a-4c5d-9e6f-7a8b9c0d1e2f", "type": "cidr", "address": "172.20.0.0/16", "name": "Lab",
     "site_ids": ["5c2a9a8e-0d3c-4a34-9d0e-3f1f6c0b1a01"], "filters": []}
  ],
  "groups": [{"id": "everyone", "name": "Everyone"}],
  "clients": [
    {"id": "3c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f", "name": "laptop", "token": "$CLIENT_TOKEN", "group_ids": ["everyone"]}
  ],
  "policies": [{"group_id": "everyone", "resource_id": "8f0e1d2c-3b4a-4c5d-9e6f-7a8b9c0d1e2f"}],
  "relays": [{"id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", "name": "relay-1", "token": "relay-1-token"}]
}
JSON
start_in "$HUB" "$FZ_SCRATCH/portal.log" "$BIN/firezone-portal" --config "$FZ_SCRATCH/portal.json" \
    --listen "$PORTAL:8081" --admin 127.0.0.1:8082
wait_until 20 ip netns exec "$HUB" bash -c "exec 3<>/dev/tcp/$PORTAL/8081" || fail "the portal listens"

# A gateway authorizes a flow only with a relay to offer (Firezone 685acdac3a answers NoTurnServers without one).
start_in "$HUB" "$FZ_SCRATCH/relay.log" env FIREZONE_TOKEN=relay-1-token FIREZONE_API_URL="ws://$PORTAL:8081" \
    PUBLIC_IP4_ADDR="$PORTAL" HEALTH_CHECK_ADDR=127.0.0.1:8090 RUST_LOG=info "$BIN/firezone-relay"
# shellcheck disable=SC2046
start_in "$GATEWAY_NS" "$FZ_SCRATCH/gateway.log" env FIREZONE_TOKEN=site-a-gateways-token \
    FIREZONE_API_URL="ws://$PORTAL:8081" \
    FIREZONE_ID=gateway-integration FIREZONE_NAME=gw FIREZONE_HEALTH_CHECK_ADDR=127.0.0.1:8080 \
    FIREZONE_ID_PATH="$FZ_SCRATCH/gateway-id" RUST_LOG=debug "$BIN/firezone-gateway"
gateway_ready() {
    [ "$(ip netns exec "$GATEWAY_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        http://127.0.0.1:8080/readyz)" = 200 ]
}
wait_until 20 gateway_ready || fail "the gateway joins the portal"
# Through its router and into the relay's second interface; the relay answers from its public address.
check "the gateway allocates on the relay through its router" \
    wait_until 10 grep -q "\[TURNClient\] allocated" "$FZ_SCRATCH/gateway.log"

# The client's environment; callers add or override variables.
client_env() {
    echo FIREZONE_TOKEN="$CLIENT_TOKEN" FIREZONE_API_URL="ws://$PORTAL:8081" FIREZONE_ID=client-integration \
        FIREZONE_NAME=client-integration FIREZONE_DNS_CONTROL=disabled FIREZONE_STATUS_PATH="$STATUS" RUST_LOG=debug
}

status_says() {
    "$BIN/firezone-headless-client" status --status-path "$STATUS" | grep "$1" >/dev/null
}

tun_has_portal_addresses() {
    ip -n "$CLIENT_NS" -4 addr show dev tun-firezone | grep 'inet 100\.' >/dev/null &&
        ip -n "$CLIENT_NS" -6 addr show dev tun-firezone | grep 'inet6 fd00:2021:1111:' >/dev/null
}

resource_routed() {
    ip -n "$CLIENT_NS" route show table 0x2021fd00 | grep '^172.20.0.0/16 dev tun-firezone' >/dev/null
}

rules_installed() {
    # 0x2021fd00 = 539098368, which `ip rule` prints in decimal. No `grep -q` after a pipe: with pipefail, the writer's
    # SIGPIPE would fail the check.
    ip -n "$CLIENT_NS" rule show | grep '^100:.*not from all fwmark 0xfd002021 lookup 539098368' >/dev/null &&
        ip -n "$CLIENT_NS" -6 rule show | grep '^100:.*not from all fwmark 0xfd002021 lookup 539098368' >/dev/null
}

nothing_left() {
    ! ip -n "$CLIENT_NS" link show tun-firezone >/dev/null 2>&1 &&
        ! ip -n "$CLIENT_NS" rule show | grep '^100:' >/dev/null &&
        ! ip -n "$CLIENT_NS" -6 rule show | grep '^100:' >/dev/null
}

# --- A client that signs in, shows its status, resets on SIGHUP and stops cleanly.
# shellcheck disable=SC2046
start_in "$CLIENT_NS" "$FZ_SCRATCH/client.log" env $(client_env) "$BIN/firezone-headless-client"
CLIENT=$LAST_PID
check "status: signed in to the portal" wait_until 20 status_says "Signed in: yes"
check "status: lists the portal's CIDR resource" wait_until 5 status_says "cidr      Lab  172.20.0.0/16"
check "the client allocates on the relay through its masquerading router" \
    wait_until 10 grep -q "\[TURNClient\] allocated" "$FZ_SCRATCH/client.log"
check "tun-firezone has the addresses of the portal's init" wait_until 5 tun_has_portal_addresses
check "the resource is routed into tun-firezone in table 0x2021fd00" wait_until 5 resource_routed
check "policy rule 100 sends unmarked traffic to connlib's table" rules_installed
check "ping reaches the CIDR resource through the gateway" \
    wait_until 30 ip netns exec "$CLIENT_NS" ping -c 1 -W 1 172.20.0.1
check "HTTP reaches the CIDR resource through the gateway" \
    bash -c "ip netns exec $CLIENT_NS curl -s --max-time 5 http://172.20.0.1:8000/index.html |
        grep resource-page >/dev/null"
# Traffic first: the connection may have been reset since (a network change), and a reset connection comes back
# with the next packet; the status file is rewritten every second.
connection_shown() {
    ip netns exec "$CLIENT_NS" ping -c 1 -W 1 172.20.0.1 >/dev/null && sleep 1.2 && status_says "direct  last handshake"
}
check "status: the connection to the gateway is direct with a handshake" wait_until 10 connection_shown
# The keys the client joined the portal with, in order (the portal logs each join's key).
client_keys() {
    grep "component=3c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f public.key=.* Joined" "$FZ_SCRATCH/portal.log" |
        sed 's/.*public\.key=\([^ ]*\).*/\1/' | uniq
}
rejoined_with_a_new_key() {
    [ "$(client_keys | wc -l)" -ge 2 ]
}
check "the client joined the portal once, with one key" [ "$(client_keys | wc -l)" -eq 1 ]
kill -HUP "$CLIENT"
check "SIGHUP resets the connections" wait_until 5 grep -q "Reset requested (SIGHUP): resetting connections" \
    "$FZ_SCRATCH/client.log"
check "SIGHUP: the client joins the portal again with a new WireGuard key" wait_until 10 rejoined_with_a_new_key
# The gateway learns the key with the flow the next packet asks for.
check "SIGHUP: ping reaches the resource again with the new key" \
    wait_until 20 ip netns exec "$CLIENT_NS" ping -c 1 -W 1 172.20.0.1
resets() {
    grep -c "Network changed: resetting connections" "$FZ_SCRATCH/client.log"
}
resets_above() {
    [ "$(resets)" -gt "$1" ]
}
BEFORE=$(resets)
ip -n "$CLIENT_NS" addr add 10.63.0.7/24 dev eth0
check "a new address on the host's interface resets the connections" wait_until 5 resets_above "$BEFORE"
# The reset refreshes the mirrored link-scope routes; the notifications of that refresh are not a new change.
sleep 2
check "one network change resets once (got $(($(resets) - BEFORE)))" [ "$(resets)" -eq $((BEFORE + 1)) ]
check "after SIGHUP the client still runs and is signed in" wait_until 10 status_says "Signed in: yes"
kill -TERM "$CLIENT"
status=0
wait "$CLIENT" || status=$?
check "SIGTERM: the client exits 0 (got $status)" [ "$status" -eq 0 ]
check "SIGTERM: no tun-firezone and no policy rule are left" nothing_left
check "SIGTERM: the status file is removed" [ ! -e "$STATUS" ]
check "the client logged its goodbye" grep -q "Client closed its connections" "$FZ_SCRATCH/client.log"

# --- Start failures: each its own message and exit status (firezone-headless-client --help lists them).
expect_exit() {
    local description=$1 expected=$2 pattern=$3
    shift 3
    local status=0
    # shellcheck disable=SC2046
    ip netns exec "$CLIENT_NS" env $(client_env) "$@" timeout 30 "$BIN/firezone-headless-client" \
        >"$FZ_SCRATCH/failure.log" 2>&1 || status=$?
    if [ "$status" -eq "$expected" ] && grep -q "$pattern" "$FZ_SCRATCH/failure.log"; then
        pass "$description (exit $status)"
    else
        fail "$description: exit $status, expected $expected with '$pattern'; log: $(tail -3 "$FZ_SCRATCH/failure.log")"
    fi
    check "$description: no tun-firezone and no policy rule are left" nothing_left
    if grep -q "Backtrace\|Fatal error" "$FZ_SCRATCH/failure.log"; then
        fail "$description: the output holds a backtrace"
    fi
}

expect_exit "a bad option" 2 "FIREZONE_DNS_CONTROL" FIREZONE_DNS_CONTROL=nrpt
printf 'secret\n' >"$FZ_SCRATCH/token"
chmod 644 "$FZ_SCRATCH/token"
# An empty variable counts as unset.
expect_exit "a token file others may read" 2 "chmod 600" FIREZONE_TOKEN= FIREZONE_TOKEN_PATH="$FZ_SCRATCH/token"
expect_exit "a rejected token" 6 "sign in again" FIREZONE_TOKEN=not-a-token
expect_exit "an unreachable portal" 5 "check FIREZONE_API_URL" FIREZONE_API_URL=ws://10.62.0.9:8081 \
    MAX_PARTITION_TIME=2s

status=0
# shellcheck disable=SC2046
ip netns exec "$CLIENT_NS" env $(client_env) setpriv --bounding-set=-net_admin --inh-caps=-net_admin -- \
    "$BIN/firezone-headless-client" >"$FZ_SCRATCH/failure.log" 2>&1 || status=$?
if [ "$status" -eq 3 ] && grep -q "setcap cap_net_admin+eip" "$FZ_SCRATCH/failure.log"; then
    pass "without CAP_NET_ADMIN the client names setcap (exit $status)"
else
    fail "without CAP_NET_ADMIN: exit $status; log: $(tail -3 "$FZ_SCRATCH/failure.log")"
fi

# Another process holds tun-firezone (TUNSETIFF with IFF_TUN | IFF_NO_PI), as a second client would.
ip netns exec "$CLIENT_NS" python3 -c 'import fcntl, os, struct, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"tun-firezone", 0x0001 | 0x1000))
time.sleep(60)' &
FZ_PIDS+=("$!")
HOLDER=$!
wait_until 5 ip -n "$CLIENT_NS" link show tun-firezone
expect_exit_taken() {
    local status=0
    # shellcheck disable=SC2046
    ip netns exec "$CLIENT_NS" env $(client_env) timeout 30 "$BIN/firezone-headless-client" \
        >"$FZ_SCRATCH/failure.log" 2>&1 ||
        status=$?
    if [ "$status" -eq 4 ] && grep -q "another client" "$FZ_SCRATCH/failure.log"; then
        pass "a taken TUN device (exit $status)"
    else
        fail "a taken TUN device: exit $status; log: $(tail -3 "$FZ_SCRATCH/failure.log")"
    fi
}
expect_exit_taken
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null

finish
