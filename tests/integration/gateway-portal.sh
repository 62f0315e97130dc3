#!/usr/bin/env bash
# firezone-gateway joined to firezone-portal across two network namespaces: /healthz and /readyz (200 once the
# portal joined it), /metrics in Prometheus text, the TUN device and the nftables table while it runs, and SIGTERM:
# exit 0 leaving no tun-firezone and no table; the same as a normal user with `setcap cap_net_admin+eip`, and on a
# host without IPv6. Then each
# start failure with its own exit status: a rejected token, a token file other users may read, an unreachable
# portal, a taken health port, no CAP_NET_ADMIN.
#
# client_end_to_end is where a client joins the run (the headless client's test extends it).
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
. tests/integration/lib.sh
trap cleanup EXIT

BIN=${FIREZONE_BIN_DIR:-.build/debug}
PORTAL=10.61.0.1
SITE_TOKEN=site-a-gateways-token
# Namespace names unique to this run (lib.sh).
PORTAL_NS=fzp$FZ_RUN_ID
GATEWAY_NS=fzg$FZ_RUN_ID

make_link "$PORTAL_NS" "$GATEWAY_NS" 61
cat >"$FZ_SCRATCH/portal.json" <<JSON
{
  "account_slug": "local",
  "upstream_dns": [],
  "sites": [{"id": "5c2a9a8e-0d3c-4a34-9d0e-3f1f6c0b1a01", "name": "Site A", "token": "$SITE_TOKEN"}],
  "resources": [
    {"id": "8f0e1d2c-3b4a-4c5d-9e6f-7a8b9c0d1e2f", "type": "cidr", "address": "172.20.0.0/16", "name": "Lab",
     "site_ids": ["5c2a9a8e-0d3c-4a34-9d0e-3f1f6c0b1a01"], "filters": []}
  ],
  "groups": [{"id": "everyone", "name": "Everyone"}],
  "clients": [
    {"id": "3c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f", "name": "laptop", "token": "client-1-token", "group_ids": ["everyone"]}
  ],
  "policies": [{"group_id": "everyone", "resource_id": "8f0e1d2c-3b4a-4c5d-9e6f-7a8b9c0d1e2f"}],
  "relays": []
}
JSON
start_in "$PORTAL_NS" "$FZ_SCRATCH/portal.log" "$BIN/firezone-portal" --config "$FZ_SCRATCH/portal.json" \
    --listen "$PORTAL:8081" --admin 127.0.0.1:8082
wait_until 20 ip netns exec "$PORTAL_NS" bash -c "exec 3<>/dev/tcp/$PORTAL/8081" || fail "the portal listens"

# The gateway's environment; callers add or override variables.
gateway_env() {
    echo FIREZONE_TOKEN="$SITE_TOKEN" FIREZONE_API_URL="ws://$PORTAL:8081" FIREZONE_ID=gateway-integration \
        FIREZONE_NAME=gw-integration FIREZONE_HEALTH_CHECK_ADDR=127.0.0.1:8080 RUST_LOG=debug
}

http_status() {
    ip netns exec "$GATEWAY_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:8080$1"
}

status_is() {
    [ "$(http_status "$1")" = "$2" ]
}

# Every sample line of the exposition is `name{labels} value`; at least one gateway_ sample; joined is 1.
metrics_parse() {
    local body
    body=$(ip netns exec "$GATEWAY_NS" curl -s --max-time 2 http://127.0.0.1:8080/metrics) || return 1
    echo "$body" | grep -q '^gateway_portal_joined 1' || return 1
    echo "$body" | grep -v '^#' | grep -v '^$' | grep -Evq \
        '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? [-+0-9.eE]+$' &&
        return 1
    echo "$body" | grep -q '^gateway_dropped_packets_total{reason="filtered"}'
}

tun_exists() {
    ip -n "$GATEWAY_NS" link show tun-firezone >/dev/null 2>&1
}

# The portal's `init` gives the gateway a tunnel address in 100.64.0.0/11 and one in fd00:2021:1111::/107.
tun_has_portal_addresses() {
    ip -n "$GATEWAY_NS" -4 addr show dev tun-firezone | grep -q 'inet 100\.' &&
        ip -n "$GATEWAY_NS" -6 addr show dev tun-firezone | grep -q 'inet6 fd00:2021:1111:'
}

nft_table_exists() {
    ip netns exec "$GATEWAY_NS" nft list table inet firezone-gateway >/dev/null 2>&1
}

# A client through the portal to the gateway and on to a resource: extended by the headless client's test.
client_end_to_end() {
    :
}

# --- A gateway that joins, serves its health checks and stops cleanly.
# shellcheck disable=SC2046
start_in "$GATEWAY_NS" "$FZ_SCRATCH/gateway.log" env $(gateway_env) "$BIN/firezone-gateway"
GATEWAY=$LAST_PID
check "/healthz answers 200" wait_until 20 status_is /healthz 200
check "/readyz answers 200 once the portal joined the gateway" wait_until 20 status_is /readyz 200
check "/metrics is Prometheus text and says the portal is joined" wait_until 5 metrics_parse
check "tun-firezone exists while the gateway runs" tun_exists
check "tun-firezone has the addresses of the portal's init" wait_until 5 tun_has_portal_addresses
check "the nftables table exists while the gateway runs" nft_table_exists
check "the portal saw the gateway join" grep -q "gateway" "$FZ_SCRATCH/portal.log"
client_end_to_end
kill -TERM "$GATEWAY"
status=0
wait "$GATEWAY" || status=$?
check "SIGTERM: the gateway exits 0 (got $status)" [ "$status" -eq 0 ]
check "SIGTERM: no tun-firezone is left" bash -c "! ip -n $GATEWAY_NS link show tun-firezone >/dev/null 2>&1"
check "SIGTERM: no nftables table is left" \
    bash -c "! ip netns exec $GATEWAY_NS nft list table inet firezone-gateway >/dev/null 2>&1"
check "the gateway logged its goodbye" grep -q "Gateway closed its connections" "$FZ_SCRATCH/gateway.log"

# --- Without root: a copy of the binary granted CAP_NET_ADMIN with setcap (what --help and exit status 3
# recommend), run as nobody. It reaches /readyz, installs its nftables table through nft (a child, which gets the
# capability only through the ambient set) and removes it at SIGTERM. /proc/sys is root's: the host forwards already.
ip netns exec "$GATEWAY_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
mkdir -m 755 "$FZ_SCRATCH/setcap"
chmod 711 "$FZ_SCRATCH"
cp "$BIN/firezone-gateway" "$FZ_SCRATCH/setcap/firezone-gateway"
setcap cap_net_admin+eip "$FZ_SCRATCH/setcap/firezone-gateway"
# Distributions make /dev/net/tun 0666; where it is 0600 (as on our test machines), a 0666 node over it in the
# mount namespace of `ip netns exec` (private to this process) stands in for the host's.
mkdir "$FZ_SCRATCH/dev"
# shellcheck disable=SC2046,SC2016
start_in "$GATEWAY_NS" "$FZ_SCRATCH/setcap.log" bash -c 'mount -t tmpfs fz-dev "$1" && mknod -m 666 "$1/tun" c 10 200 &&
    mount --bind "$1/tun" /dev/net/tun && shift && exec "$@"' -- "$FZ_SCRATCH/dev" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- env $(gateway_env) "$FZ_SCRATCH/setcap/firezone-gateway"
UNPRIVILEGED=$LAST_PID
check "setcap, as nobody: /readyz answers 200" wait_until 20 status_is /readyz 200
check "setcap, as nobody: the gateway runs as nobody" \
    [ "$(ps -o user= -p "$UNPRIVILEGED" 2>/dev/null | tr -d ' ')" = nobody ]
check "setcap, as nobody: the nftables table exists" wait_until 5 nft_table_exists
kill -TERM "$UNPRIVILEGED"
status=0
wait "$UNPRIVILEGED" || status=$?
check "setcap, as nobody: SIGTERM exits 0 (got $status; $(tail -2 "$FZ_SCRATCH/setcap.log"))" [ "$status" -eq 0 ]
check "setcap, as nobody: no nftables table is left" \
    bash -c "! ip netns exec $GATEWAY_NS nft list table inet firezone-gateway >/dev/null 2>&1"
check "setcap, as nobody: no tun-firezone is left" bash -c "! ip -n $GATEWAY_NS link show tun-firezone >/dev/null 2>&1"

# --- A host without IPv6 (net.ipv6.conf.all.disable_ipv6=1): the tunnel interface gets its IPv4 address alone, and
# the gateway is ready (/readyz requires a configured interface). The health address comes from HEALTH_CHECK_ADDR,
# Firezone's name for it.
ip netns exec "$GATEWAY_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
# shellcheck disable=SC2046
start_in "$GATEWAY_NS" "$FZ_SCRATCH/no-ipv6.log" env $(gateway_env) FIREZONE_HEALTH_CHECK_ADDR= \
    HEALTH_CHECK_ADDR=127.0.0.1:8091 "$BIN/firezone-gateway"
NO_IPV6=$LAST_PID
check "without IPv6: /readyz on HEALTH_CHECK_ADDR answers 200" wait_until 20 \
    bash -c "[ \"\$(ip netns exec $GATEWAY_NS curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        http://127.0.0.1:8091/readyz)\" = 200 ]"
check "without IPv6: tun-firezone has the portal's IPv4 address" \
    bash -c "ip -n $GATEWAY_NS -4 addr show dev tun-firezone | grep -q 'inet 100\.'"
check "without IPv6: tun-firezone has no IPv6 address" \
    bash -c "! ip -n $GATEWAY_NS -6 addr show dev tun-firezone | grep -q inet6"
check "without IPv6: said so once at info" [ "$(grep -c 'IPv6 is disabled on this host' "$FZ_SCRATCH/no-ipv6.log")" -eq 1 ]
kill -TERM "$NO_IPV6"
status=0
wait "$NO_IPV6" || status=$?
check "without IPv6: SIGTERM exits 0 (got $status)" [ "$status" -eq 0 ]
ip netns exec "$GATEWAY_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=0

# --- Start failures: each its own message and exit status (firezone-gateway --help lists them).
run_gateway() {
    # shellcheck disable=SC2046
    ip netns exec "$GATEWAY_NS" env $(gateway_env) "$@" timeout 30 "$BIN/firezone-gateway" \
        >"$FZ_SCRATCH/failure.log" 2>&1
}

expect_exit() {
    local description=$1 expected=$2 pattern=$3
    shift 3
    local status=0
    run_gateway "$@" || status=$?
    if [ "$status" -eq "$expected" ] && grep -q "$pattern" "$FZ_SCRATCH/failure.log"; then
        pass "$description (exit $status)"
    else
        fail "$description: exit $status, expected $expected with '$pattern'; log: $(tail -3 "$FZ_SCRATCH/failure.log")"
    fi
    check "$description: no tun-firezone is left" bash -c "! ip -n $GATEWAY_NS link show tun-firezone >/dev/null 2>&1"
    check "$description: no nftables table is left" \
        bash -c "! ip netns exec $GATEWAY_NS nft list table inet firezone-gateway >/dev/null 2>&1"
}

expect_exit "a rejected token" 6 "create a new token" FIREZONE_TOKEN=not-a-token FIREZONE_ID= \
    FIREZONE_ID_PATH="$FZ_SCRATCH/state/gateway_id"
# Without FIREZONE_ID the gateway made an ID and kept it, and the next start reads the same one back.
check "without FIREZONE_ID a generated UUID is kept in FIREZONE_ID_PATH" \
    grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "$FZ_SCRATCH/state/gateway_id"
first_id=$(cat "$FZ_SCRATCH/state/gateway_id" 2>/dev/null)
run_gateway FIREZONE_TOKEN=not-a-token FIREZONE_ID= FIREZONE_ID_PATH="$FZ_SCRATCH/state/gateway_id"
check "the next start keeps the same ID" [ "$(cat "$FZ_SCRATCH/state/gateway_id" 2>/dev/null)" = "$first_id" ]
printf '%s\n' "$SITE_TOKEN" >"$FZ_SCRATCH/token"
chmod 644 "$FZ_SCRATCH/token"
expect_exit "a token file other users may read" 2 "chmod 600" FIREZONE_TOKEN= FIREZONE_TOKEN_FILE="$FZ_SCRATCH/token"
expect_exit "an API URL without a scheme" 2 "FIREZONE_API_URL" FIREZONE_API_URL="$PORTAL:8081"
expect_exit "an unreachable portal" 5 "check FIREZONE_API_URL" FIREZONE_API_URL=ws://10.61.0.9:8081 \
    FIREZONE_MAX_PARTITION_TIME=2s

# SO_REUSEADDR: the earlier checks' connections leave port 8080 in TIME_WAIT.
ip netns exec "$GATEWAY_NS" python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8080)); s.listen(); time.sleep(60)' &
FZ_PIDS+=("$!")
HOLDER=$!
wait_until 5 ip netns exec $GATEWAY_NS bash -c "exec 3<>/dev/tcp/127.0.0.1/8080"
expect_exit "a taken health port" 4 "FIREZONE_HEALTH_CHECK_ADDR"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null

status=0
# shellcheck disable=SC2046
ip netns exec "$GATEWAY_NS" env $(gateway_env) setpriv --bounding-set=-net_admin --inh-caps=-net_admin -- \
    "$BIN/firezone-gateway" >"$FZ_SCRATCH/failure.log" 2>&1 || status=$?
if [ "$status" -eq 3 ] && grep -q "setcap cap_net_admin+eip" "$FZ_SCRATCH/failure.log"; then
    pass "without CAP_NET_ADMIN the gateway names setcap (exit $status)"
else
    fail "without CAP_NET_ADMIN: exit $status; log: $(tail -3 "$FZ_SCRATCH/failure.log")"
fi

finish
