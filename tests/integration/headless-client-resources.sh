#!/usr/bin/env bash
# The whole product in network namespaces: firezone-portal, firezone-relay (with its XDP program), firezone-gateway
# in front of a resources host, and firezone-headless-client controlling DNS through /etc/resolv.conf. From the
# client's namespace: the DNS stub answers proxy addresses for a DNS resource and the real answer for other names,
# over UDP and over TCP (an answer larger than 512 bytes arrives whole); ping and HTTP reach a CIDR resource and the
# DNS resource by name; a resource whose filters allow only tcp/8000 gets the gateway's ICMP administratively
# prohibited for anything else; a resource without a policy is not routed; revoking a resource through the portal's
# admin API cuts an open flow. Then SIGTERM to the client, the gateway, the relay and the portal in turn: each exits
# 0 and leaves no TUN device, policy rule, route, nftables table, XDP program or resolv.conf change behind.
#
# The client's /etc is an overlay in a mount namespace of its own, with a scratch resolv.conf bind-mounted over
# /etc/resolv.conf, as a container runtime mounts it (Docker, https://docs.docker.com/engine/network/#dns-services):
# what the client writes lands in the scratch directory, and the host's /etc is checked unchanged at the end.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
. tests/integration/lib.sh
trap cleanup EXIT

BIN=${FIREZONE_BIN_DIR:-.build/debug}
PORTAL=10.62.0.1
CLIENT_ID=3c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f
CLIENT_TOKEN=client-1-token
LAB_ID=8f0e1d2c-3b4a-4c5d-9e6f-7a8b9c0d1e2f
APP_ID=1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9
FILTERED_ID=2c3d4e5f-6071-4829-93a4-b5c6d7e8f90a
SECRET_ID=3d4e5f60-7182-493a-a4b5-c6d7e8f90a1b
SITE_ID=5c2a9a8e-0d3c-4a34-9d0e-3f1f6c0b1a01
STATUS=$FZ_SCRATCH/status.json

# The namespaces: the portal's (the internet hub, also the relay and the public DNS server), the client's router
# (masquerading), the client, the gateway's router (plain), the gateway, and the resources host behind the gateway.
HUB=fzrp$FZ_RUN_ID
CLIENT_ROUTER=fzrr$FZ_RUN_ID
CLIENT_NS=fzrc$FZ_RUN_ID
GATEWAY_ROUTER=fzrs$FZ_RUN_ID
GATEWAY_NS=fzrg$FZ_RUN_ID
RESOURCES=fzrx$FZ_RUN_ID

# What the host's /etc looks like before the run, to prove the run left it alone.
host_etc_fingerprint() {
    sha256sum /etc/resolv.conf 2>&1
    ls -a /etc
}
HOST_ETC_BEFORE=$(host_etc_fingerprint)

make_link "$HUB" "$CLIENT_ROUTER" 62
for namespace in "$CLIENT_NS" "$GATEWAY_ROUTER" "$GATEWAY_NS" "$RESOURCES"; do
    ip netns add "$namespace"
    FZ_NAMESPACES+=("$namespace")
    ip -n "$namespace" link set lo up
done
wire_namespaces "fzrrc$FZ_RUN_ID" "$CLIENT_ROUTER" eth1 "$CLIENT_NS" eth0
wire_namespaces "fzrps$FZ_RUN_ID" "$HUB" eth1 "$GATEWAY_ROUTER" eth0
wire_namespaces "fzrsg$FZ_RUN_ID" "$GATEWAY_ROUTER" eth1 "$GATEWAY_NS" eth0
wire_namespaces "fzrgx$FZ_RUN_ID" "$GATEWAY_NS" eth1 "$RESOURCES" eth0
ip -n "$CLIENT_ROUTER" addr add 10.63.0.1/24 dev eth1
ip -n "$CLIENT_NS" addr add 10.63.0.2/24 dev eth0
ip -n "$HUB" addr add 10.64.0.1/24 dev eth1
ip -n "$GATEWAY_ROUTER" addr add 10.64.0.2/24 dev eth0
ip -n "$GATEWAY_ROUTER" addr add 10.65.0.1/24 dev eth1
ip -n "$GATEWAY_NS" addr add 10.65.0.2/24 dev eth0
ip -n "$GATEWAY_NS" addr add 172.20.0.254/24 dev eth1
ip -n "$RESOURCES" addr add 172.20.0.1/24 dev eth0
ip -n "$GATEWAY_NS" addr add fd20::fe/64 dev eth1 nodad
ip -n "$RESOURCES" addr add fd20::1/64 dev eth0 nodad
ip -n "$CLIENT_ROUTER" route add default via 10.62.0.1
ip -n "$CLIENT_NS" route add default via 10.63.0.1
ip -n "$HUB" route add 10.65.0.0/24 via 10.64.0.2
ip -n "$GATEWAY_ROUTER" route add default via 10.64.0.1
ip -n "$GATEWAY_NS" route add default via 10.65.0.1
ip -n "$GATEWAY_NS" route add 172.20.0.0/16 via 172.20.0.1
ip -n "$GATEWAY_NS" route add fd20:1::/64 via fd20::1
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

# The resources host: the CIDR resources' addresses, the DNS resource's real addresses (172.20.1.1, fd20:1::1), and
# the DNS server the gateway resolves it with. It has no default route: its answers reach clients only through the
# gateway's masquerade.
for address in 172.20.1.1/32 172.20.2.1/32 172.20.3.1/32 fd20:1::1/128; do
    ip -n "$RESOURCES" addr add "$address" dev lo
done
echo "resource-page" >"$FZ_SCRATCH/index.html"
start_in "$RESOURCES" "$FZ_SCRATCH/http-8000.log" python3 -m http.server --bind :: 8000 --directory "$FZ_SCRATCH"
start_in "$RESOURCES" "$FZ_SCRATCH/http-8001.log" python3 -m http.server --bind :: 8001 --directory "$FZ_SCRATCH"

# dnsmasq in the foreground, answering only what it is told (no upstream, no /etc/hosts), as root so that it needs
# no user of its own.
dnsmasq_args() {
    echo --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --user=root --group=root --pid-file= \
        --log-queries --log-facility=- "$@"
}
# shellcheck disable=SC2046
start_in "$RESOURCES" "$FZ_SCRATCH/dns-resources.log" dnsmasq $(dnsmasq_args --listen-address=172.20.0.1 \
    --address=/app.lab.test/172.20.1.1 --address=/app.lab.test/fd20:1::1)
# The public resolver, the client's own: www.public.test, and a TXT record whose answer is about 2 KB, larger than a
# UDP answer may be without EDNS (512 bytes, RFC 1035 §4.2.1) and than the 1,232 bytes dig and dnsmasq offer with it
# (https://www.dnsflagday.net/2020/): it arrives whole only if the stub asks the upstream over TCP.
TXT_CHUNK=$(printf 'firezone%.0s' $(seq 1 25))
TXT_COUNT=10
TXT_RECORD="big.public.test$(printf ",$TXT_CHUNK%.0s" $(seq 1 "$TXT_COUNT"))"
# shellcheck disable=SC2046
start_in "$HUB" "$FZ_SCRATCH/dns-public.log" dnsmasq $(dnsmasq_args --listen-address="$PORTAL" \
    --address=/www.public.test/10.62.0.1 --txt-record="$TXT_RECORD")

cat >"$FZ_SCRATCH/portal.json" <<JSON
{
  "account_slug": "local",
  "upstream_dns": [],
  "sites": [{"id": "$SITE_ID", "name": "Site A", "token": "site-a-gateways-token"}],
  "resources": [
    {"id": "$LAB_ID", "type": "cidr", "address": "172.20.0.0/24", "name": "Lab", "site_ids": ["$SITE_ID"]},
    {"id": "$APP_ID", "type": "dns", "address": "app.lab.test", "name": "App", "site_ids": ["$SITE_ID"]},
    {"id": "$FILTERED_ID", "type": "cidr", "address": "172.20.2.0/24", "name": "Filtered", "site_ids": ["$SITE_ID"],
     "filters": [{"protocol": "tcp", "port_range_start": 8000, "port_range_end": 8000}]},
    {"id": "$SECRET_ID", "type": "cidr", "address": "172.20.3.0/24", "name": "Secret", "site_ids": ["$SITE_ID"]}
  ],
  "groups": [{"id": "everyone", "name": "Everyone"}],
  "clients": [{"id": "$CLIENT_ID", "name": "laptop", "token": "$CLIENT_TOKEN", "group_ids": ["everyone"]}],
  "policies": [
    {"group_id": "everyone", "resource_id": "$LAB_ID"},
    {"group_id": "everyone", "resource_id": "$APP_ID"},
    {"group_id": "everyone", "resource_id": "$FILTERED_ID"}
  ],
  "relays": [{"id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", "name": "relay-1", "token": "relay-1-token"}]
}
JSON
start_in "$HUB" "$FZ_SCRATCH/portal.log" "$BIN/firezone-portal" --config "$FZ_SCRATCH/portal.json" \
    --listen "$PORTAL:8081" --admin 127.0.0.1:8082
PORTAL_PID=$LAST_PID
wait_until 20 ip netns exec "$HUB" bash -c "exec 3<>/dev/tcp/$PORTAL/8081" || fail "the portal listens"

start_in "$HUB" "$FZ_SCRATCH/relay.log" env FIREZONE_TOKEN=relay-1-token FIREZONE_API_URL="ws://$PORTAL:8081" \
    PUBLIC_IP4_ADDR="$PORTAL" HEALTH_CHECK_ADDR=127.0.0.1:8090 EBPF_OFFLOADING=eth0 EBPF_ATTACH_MODE=generic \
    RUST_LOG=info "$BIN/firezone-relay"
RELAY_PID=$LAST_PID
xdp_attached() {
    ip -n "$HUB" -d link show eth0 2>/dev/null | grep 'prog/xdp' >/dev/null
}
check "the relay attaches its XDP program" wait_until 20 xdp_attached

# The gateway resolves DNS resources with its namespace's resolver: the resources host's dnsmasq.
GATEWAY_ETC=$FZ_SCRATCH/gateway-etc
mkdir -p "$GATEWAY_ETC"
echo "nameserver 172.20.0.1" >"$GATEWAY_ETC/resolv.conf"
start_with_etc "$GATEWAY_NS" "$FZ_SCRATCH/gateway.log" "$GATEWAY_ETC" env FIREZONE_TOKEN=site-a-gateways-token \
    FIREZONE_API_URL="ws://$PORTAL:8081" FIREZONE_ID=gateway-integration FIREZONE_NAME=gw \
    FIREZONE_HEALTH_CHECK_ADDR=127.0.0.1:8080 FIREZONE_ID_PATH="$FZ_SCRATCH/gateway-id" RUST_LOG=debug \
    "$BIN/firezone-gateway"
GATEWAY_PID=$LAST_PID
gateway_ready() {
    [ "$(ip netns exec "$GATEWAY_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        http://127.0.0.1:8080/readyz)" = 200 ]
}
check "the gateway joins the portal" wait_until 20 gateway_ready
check "the gateway allocates on the relay" wait_until 10 grep -q "\[TURNClient\] allocated" "$FZ_SCRATCH/gateway.log"

# The client's resolv.conf: the hub's resolver. Its bytes are compared after the client's exit.
CLIENT_ETC=$FZ_SCRATCH/client-etc
mkdir -p "$CLIENT_ETC"
printf '# The client namespace'"'"'s resolver\nnameserver %s\noptions edns0\n' "$PORTAL" >"$CLIENT_ETC/resolv.conf"
cp "$CLIENT_ETC/resolv.conf" "$FZ_SCRATCH/resolv.conf.original"
start_with_etc "$CLIENT_NS" "$FZ_SCRATCH/client.log" "$CLIENT_ETC" env FIREZONE_TOKEN="$CLIENT_TOKEN" \
    FIREZONE_API_URL="ws://$PORTAL:8081" FIREZONE_ID=client-integration FIREZONE_NAME=client-integration \
    FIREZONE_DNS_CONTROL=etc-resolv-conf FIREZONE_STATUS_PATH="$STATUS" RUST_LOG=debug \
    "$BIN/firezone-headless-client"
CLIENT_PID=$LAST_PID

# A command as the client's applications run it: its network namespace and its /etc.
in_client() {
    nsenter --target "$CLIENT_PID" --mount --net -- "$@"
}

status_says() {
    "$BIN/firezone-headless-client" status --status-path "$STATUS" | grep "$1" >/dev/null
}

check "status: signed in to the portal" wait_until 20 status_says "Signed in: yes"
check "status: lists the DNS resource" wait_until 5 status_says "dns  *App  *app.lab.test"
check "status: lists the filtered CIDR resource" status_says "cidr  *Filtered  *172.20.2.0/24"
check "status: does not list the resource without a policy" bash -c "! $BIN/firezone-headless-client status \
    --status-path $STATUS | grep Secret >/dev/null"

# --- DNS control: the sentinels in resolv.conf while the client runs.
resolv_conf_has_sentinels() {
    grep '^nameserver 100\.100\.111\.1$' "$CLIENT_ETC/resolv.conf" >/dev/null &&
        ! grep "$PORTAL" "$CLIENT_ETC/resolv.conf" >/dev/null
}
check "resolv.conf names the DNS sentinels while the client runs" wait_until 10 resolv_conf_has_sentinels
check "the client's /etc/resolv.conf is the rewritten file" \
    bash -c "nsenter --target $CLIENT_PID --mount -- cat /etc/resolv.conf | cmp -s - $CLIENT_ETC/resolv.conf"
check "the original resolv.conf is backed up in the client's /etc" \
    cmp -s "$CLIENT_ETC/upper/resolv.conf.before-firezone" "$FZ_SCRATCH/resolv.conf.original"

# --- The DNS stub, over UDP and TCP.
PROXY4='^100\.(9[6-9]|1[01][0-9]|12[0-7])\.[0-9]+\.[0-9]+$'
PROXY6='^fd00:2021:1111:8[0-1][0-9a-f][0-9a-f]:'
dig_answers() {
    local pattern=$1
    shift
    local answer
    answer=$(in_client dig +short +time=2 +tries=1 "$@") || return 1
    [ -n "$answer" ] && ! echo "$answer" | grep -Ev "$pattern" >/dev/null
}
check "UDP: the stub answers a proxy IPv4 address for the DNS resource" \
    wait_until 10 dig_answers "$PROXY4" +notcp @100.100.111.1 app.lab.test A
check "TCP: the stub answers a proxy IPv4 address for the DNS resource" \
    dig_answers "$PROXY4" +tcp @100.100.111.1 app.lab.test A
check "UDP: the stub answers a proxy IPv6 address for the DNS resource" \
    dig_answers "$PROXY6" +notcp @100.100.111.1 app.lab.test AAAA
check "TCP: the stub answers a proxy IPv6 address for the DNS resource" \
    dig_answers "$PROXY6" +tcp @100.100.111.1 app.lab.test AAAA
check "UDP: the stub answers the real address of another name" \
    dig_answers '^10\.62\.0\.1$' +notcp @100.100.111.1 www.public.test A
check "TCP: the stub answers the real address of another name" \
    dig_answers '^10\.62\.0\.1$' +tcp @100.100.111.1 www.public.test A
check "the system resolver (resolv.conf) answers a proxy address for the DNS resource" \
    dig_answers "$PROXY4" app.lab.test A
large_txt_whole() {
    local out size
    out=$(in_client dig +tcp +time=3 +tries=1 @100.100.111.1 big.public.test TXT) || return 1
    size=$(echo "$out" | sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\)$/\1/p')
    [ "${size:-0}" -gt 1232 ] && [ "$(echo "$out" | grep -o "$TXT_CHUNK" | wc -l)" -eq "$TXT_COUNT" ] && return 0
    echo "dig +tcp big.public.test TXT: ${size:-no} bytes, $(echo "$out" | grep -o "$TXT_CHUNK" | wc -l) chunks"
    return 1
}
check "TCP: a TXT answer larger than 1,232 bytes arrives whole" large_txt_whole

# --- Traffic to the CIDR resource and to the DNS resource by name.
check "ping reaches the CIDR resource through the gateway" wait_until 30 in_client ping -c 1 -W 1 172.20.0.1
check "HTTP reaches the CIDR resource through the gateway" \
    bash -c "nsenter --target $CLIENT_PID --mount --net -- curl -s --max-time 5 http://172.20.0.1:8000/index.html |
        grep resource-page >/dev/null"
check "ping reaches the DNS resource by its name (IPv4)" wait_until 20 in_client ping -4 -c 1 -W 1 app.lab.test
check "ping reaches the DNS resource by its name (IPv6)" wait_until 20 in_client ping -6 -c 1 -W 1 app.lab.test
check "HTTP reaches the DNS resource by its name" \
    bash -c "nsenter --target $CLIENT_PID --mount --net -- curl -s --max-time 5 http://app.lab.test:8000/index.html |
        grep resource-page >/dev/null"
check "the resources host saw the DNS resource's traffic at its real address" \
    grep -Eq '^(::ffff:)?172\.20\.0\.254 .*"GET /index.html|^fd20::fe .*"GET /index.html' "$FZ_SCRATCH/http-8000.log"

# --- Filters: tcp/8000 passes, anything else gets ICMP administratively prohibited from the gateway.
check "HTTP to the filtered resource's allowed port passes" wait_until 20 \
    bash -c "nsenter --target $CLIENT_PID --mount --net -- curl -s --max-time 5 http://172.20.2.1:8000/index.html |
        grep resource-page >/dev/null"
refused_at_once() {
    local out status=0 started=$SECONDS
    out=$(in_client curl -v -sS --max-time 10 http://172.20.2.1:8001/index.html 2>&1) || status=$?
    [ "$status" -eq 7 ] && echo "$out" | grep "port 8001 failed: No route to host" >/dev/null &&
        [ $((SECONDS - started)) -lt 3 ] && return 0
    echo "curl to tcp/8001: exit $status in $((SECONDS - started)) s: $out"
    return 1
}
check "TCP to another port fails at once with EHOSTUNREACH (ICMP prohibited)" refused_at_once
ping_filtered() {
    local out
    out=$(in_client ping -c 1 -W 3 172.20.2.1 2>&1)
    echo "$out" | grep "From 172.20.2.1 icmp_seq=1 Packet filtered" >/dev/null && return 0
    echo "ping to 172.20.2.1: $out"
    return 1
}
check "ping to the filtered resource gets ICMP 'Packet filtered' (administratively prohibited)" ping_filtered
gateway_metric() {
    ip netns exec "$GATEWAY_NS" curl -s --max-time 2 http://127.0.0.1:8080/metrics |
        sed -n "s/^$1 \([0-9.]*\)$/\1/p"
}
filtered_counted() {
    [ "$(gateway_metric 'gateway_dropped_packets_total{reason="filtered"}')" != "" ] &&
        [ "$(gateway_metric 'gateway_dropped_packets_total{reason="filtered"}')" != 0 ]
}
check "the gateway counts the filtered packets" wait_until 3 filtered_counted

# --- A resource without a policy: no route into the tunnel; its packets leave by the physical path, where the hub
# has no route for them.
check "the resource without a policy is not routed into tun-firezone" \
    bash -c "! ip -n $CLIENT_NS route show table 0x2021fd00 | grep '^172\.20\.3\.' >/dev/null"
no_policy_goes_outside() {
    local out
    out=$(in_client ping -c 1 -W 3 172.20.3.1 2>&1)
    echo "$out" | grep "From $PORTAL .*Destination Net Unreachable" >/dev/null
}
check "ping to the resource without a policy gets the hub's net unreachable, not the tunnel" no_policy_goes_outside

# --- Revocation: a running ping to the CIDR resource stops getting answers once the portal revokes it.
PING_LOG=$FZ_SCRATCH/revoked-ping.log
nsenter --target "$CLIENT_PID" --mount --net -- ping -i 0.2 -W 1 172.20.0.1 >"$PING_LOG" 2>&1 &
FZ_PIDS+=("$!")
PING_PID=$!
replies() {
    grep -c 'bytes from 172.20.0.1' "$PING_LOG"
}
replies_at_least() {
    [ "$(replies)" -ge "$1" ]
}
check "the open flow gets answers before the revocation" wait_until 10 replies_at_least 5
revoke_status=$(ip netns exec "$HUB" curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
    "http://127.0.0.1:8082/v1/clients/$CLIENT_ID/revoke/$LAB_ID")
check "the admin API revokes the resource (HTTP $revoke_status)" [ "$revoke_status" = 200 ]
# Answers stop: the count is the same one second later, and what ping sends goes out by the physical path now.
replies_stopped() {
    local before
    before=$(replies)
    sleep 1
    [ "$(replies)" -eq "$before" ] && grep "Destination Net Unreachable" "$PING_LOG" >/dev/null
}
check "the open flow stops getting answers after the revocation" wait_until 10 replies_stopped
check "the gateway removed the client's access to the revoked resource" \
    wait_until 5 grep -q "resource.id=$LAB_ID .*Access removed" "$FZ_SCRATCH/gateway.log"
check "the revoked resource's route is gone from the client" \
    bash -c "! ip -n $CLIENT_NS route show table 0x2021fd00 | grep '^172\.20\.0\.0/24' >/dev/null"
kill "$PING_PID" 2>/dev/null
wait "$PING_PID" 2>/dev/null
check "the other resources still work after the revocation" wait_until 10 in_client ping -4 -c 1 -W 1 app.lab.test

# --- SIGTERM, one component after the other.
# Sets `status` to the exit status of $1 after SIGTERM.
stop() {
    status=0
    kill -TERM "$1"
    wait "$1" || status=$?
}

nothing_left_on_client() {
    local table family routes
    ip -n "$CLIENT_NS" link show tun-firezone >/dev/null 2>&1 && { echo "tun-firezone is left"; return 1; }
    for family in -4 -6; do
        ip -n "$CLIENT_NS" "$family" rule show | grep -E '^(100|200|300):' && return 1
        for table in 0x2021fd00 0x2021fd01 0x2021fd02; do
            # An emptied table is gone: `ip` says so ("FIB table does not exist") instead of listing nothing.
            routes=$(ip -n "$CLIENT_NS" "$family" route show table "$table" 2>&1 |
                grep -Ev '^(Error: ipv[46]: FIB table does not exist\.|Dump terminated)$')
            [ -z "$routes" ] || { echo "table $table ($family): $routes"; return 1; }
        done
    done
    return 0
}
stop "$CLIENT_PID"
check "SIGTERM: the client exits 0 (got $status)" [ "$status" -eq 0 ]
check "SIGTERM: no tun-firezone, policy rule or route of connlib's tables is left" nothing_left_on_client
check "SIGTERM: resolv.conf is restored byte for byte" cmp -s "$CLIENT_ETC/resolv.conf" \
    "$FZ_SCRATCH/resolv.conf.original"
check "SIGTERM: the resolv.conf backup is removed" [ ! -e "$CLIENT_ETC/upper/resolv.conf.before-firezone" ]
check "SIGTERM: the status file is removed" [ ! -e "$STATUS" ]

stop "$GATEWAY_PID"
check "SIGTERM: the gateway exits 0 (got $status)" [ "$status" -eq 0 ]
check "SIGTERM: no tun-firezone is left on the gateway" \
    bash -c "! ip -n $GATEWAY_NS link show tun-firezone >/dev/null 2>&1"
check "SIGTERM: no nftables table inet firezone-gateway is left" \
    bash -c "! ip netns exec $GATEWAY_NS nft list table inet firezone-gateway >/dev/null 2>&1"

stop "$RELAY_PID"
check "SIGTERM: the relay exits 0 (got $status)" [ "$status" -eq 0 ]
check "SIGTERM: no XDP program is left on the relay's interface" bash -c "! ip -n $HUB -d link show eth0 2>/dev/null |
    grep prog/xdp >/dev/null"

stop "$PORTAL_PID"
check "SIGTERM: the portal exits 0 (got $status)" [ "$status" -eq 0 ]

check "the host's /etc is unchanged (resolv.conf checksum, no backup file)" \
    [ "$(host_etc_fingerprint)" = "$HOST_ETC_BEFORE" ]
for log in client gateway relay portal; do
    if grep -q "Backtrace\|Fatal error" "$FZ_SCRATCH/$log.log"; then
        fail "the $log's log holds a crash"
    fi
done

if [ -n "${FZ_KEEP_LOGS:-}" ]; then
    mkdir -p "$FZ_KEEP_LOGS" && cp "$FZ_SCRATCH"/*.log "$FZ_KEEP_LOGS"
fi
if [ "$FZ_FAILURES" -gt 0 ]; then
    for log in client gateway relay portal dns-resources dns-public; do
        echo "--- the last lines of $log.log"
        tail -n 40 "$FZ_SCRATCH/$log.log"
    done
fi
finish
