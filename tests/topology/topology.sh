#!/usr/bin/env bash
# The topology of tests/topology/topology.json out of network namespaces, after Firezone's docker-compose setup
# (scripts/compose/*.yml, scripts/router/router.sh): one namespace per service, one bridge per network (in a switch
# namespace of the run's own), NAT routers (tests/docker/router/router.sh, as the compose file's router containers),
# then the portal, both relays, the resources, the public resolver, the gateway and the headless client, each
# waited for.
#
#   tests/topology/topology.sh up [--client-nat none|cone|symmetric] [--gateway-nat K] [--relay-nat K]
#                                 [--relays 1|2] [--relay-xdp driver|generic|off] [--latency-ms N] [--loss-pct N]
#                                 [--relay-sets shared|split]
#   tests/topology/topology.sh down [RUN_DIR]
#   tests/topology/topology.sh exec RUN_DIR SERVICE COMMAND...
#
# `up` prints the run directory (logs, PIDs, the client's status file); `down` stops every process it started by
# PID and deletes every namespace, which takes the links, bridges and nftables tables inside with it. Sourced, it
# defines the same steps as functions (topo_up, topo_down, topo_exec, ...) for the system tests.
#
# NAT kinds, as Firezone's router.sh spells them in MASQUERADE_TYPE: `none` routes (every host on the internet learns
# the inside network), `cone` is a plain `masquerade`, which keeps the source port when it is free and so maps endpoint-
# independently, `symmetric` is `masquerade random`, a new port per destination (RFC 4787 §4.1). Filtering is the
# connection tracker's either way: only answers to what went out come in, besides the port forwards.
# --latency-ms puts netem delay on every router, half on each side (as router.sh does); --loss-pct puts netem loss on
# both sides of the client's router (Firezone's download-packet-loss test loses packets at the client).
#
# --relay-sets split gives the client only the first relay and the gateways' site only the second (the portal's
# `relay_ids`, as Firezone's portal gives each device the relays nearest to it), so that their connection's relayed
# candidates sit on different relays; `shared` (the default) gives both sides every relay.
#
# Binaries: FIREZONE_BIN_DIR (default .build/debug) holds firezone-portal, firezone-relay, firezone-gateway and
# firezone-headless-client.
# shellcheck shell=bash

TOPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPO_ROOT=$(cd "$TOPO_DIR/../.." && pwd)
TOPO_DESCRIPTION=${TOPO_DESCRIPTION:-$TOPO_DIR/topology.json}
# shellcheck source=../integration/lib.sh
[ -n "${FZ_SCRATCH:-}" ] || . "$TOPO_ROOT/tests/integration/lib.sh"

# --- The description.

topo_jq() {
    jq -r "$@" "$TOPO_DESCRIPTION"
}

topo_services() {
    topo_jq '.services[].name'
}

topo_role() {
    topo_jq --arg s "$1" '.services[] | select(.name == $s) | .role'
}

# The service's attachments: "network interface ipv4 ipv6" per line, "-" for a missing address.
topo_attachments() {
    topo_jq --arg s "$1" '.services[] | select(.name == $s) | .networks[] |
        "\(.network) \(.interface) \(.ipv4 // "-") \(.ipv6 // "-")"'
}

# The service's address on network $2 (family $3: ipv4 or ipv6), empty if none.
topo_address() {
    topo_jq --arg s "$1" --arg n "$2" --arg f "$3" \
        '.services[] | select(.name == $s) | .networks[] | select(.network == $n) | .[$f] // empty'
}

topo_subnet() {
    topo_jq --arg n "$1" --arg f "$2" '.networks[] | select(.name == $n) | .[$f] // empty'
}

topo_router_field() {
    topo_jq --arg s "$1" --arg f "$2" '.services[] | select(.name == $s) | .router[$f]'
}

# The value of environment variable $2 of service $1.
topo_env() {
    topo_jq --arg s "$1" --arg v "$2" '.services[] | select(.name == $s) | .environment[$v] // empty'
}

# The service's environment as NAME=VALUE words, in the description's order.
topo_environment() {
    topo_jq --arg s "$1" '.services[] | select(.name == $s) | .environment | to_entries[] | "\(.key)=\(.value)"'
}

# --- The run's state: $TOPO_RUN holds `id`, `namespaces`, `pids` ("PID START_TIME NAME" per line) and the logs.

topo_namespace() {
    echo "fzt$TOPO_ID-${1//./-}"
}

topo_switch() {
    echo "fzt$TOPO_ID-switch"
}

topo_log() {
    echo "[topology] $*" >>"$TOPO_RUN/topology.log"
    [ -n "${TOPO_QUIET:-}" ] || echo "[topology] $*" >&2
}

# Names what failed and where the logs are; returns 1.
topo_fail() {
    echo "[topology] FAILED: $* (logs in $TOPO_RUN)" | tee -a "$TOPO_RUN/topology.log" >&2
    return 1
}

topo_add_namespace() {
    ip netns add "$1" || return 1
    echo "$1" >>"$TOPO_RUN/namespaces"
    ip -n "$1" link set lo up
}

# The process's start time (/proc/PID/stat field 22): a PID with another start time is another process.
topo_start_time() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo "${20}"
}

# Runs $3... in the namespace of service $1 in the background, output to $TOPO_RUN/$2.log; records the PID
# (`ip netns exec` execs, so $! is the command's).
topo_start() {
    local service=$1 name=$2
    shift 2
    ip netns exec "$(topo_namespace "$service")" "$@" >"$TOPO_RUN/$name.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid $(topo_start_time "$pid") $name" >>"$TOPO_RUN/pids"
    TOPO_LAST_PID=$pid
}

topo_pid() {
    awk -v n="$1" '$3 == n { print $1 }' "$TOPO_RUN/pids" | tail -1
}

topo_exec() {
    local service=$1
    shift
    ip netns exec "$(topo_namespace "$service")" "$@"
}

# A command as the client's applications run it: the client's network namespace and its /etc.
topo_in_client() {
    nsenter --target "$(topo_pid client)" --mount --net -- "$@"
}

topo_curl_status() {
    topo_exec "$1" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$2" 2>/dev/null
}

# --- Building.

# Every network a bridge in the switch namespace; every attachment a veth from it into the service's namespace,
# transmit checksum offload off on both ends (XDP rewrites datagrams whole, so senders compute full checksums, as
# Firezone's compose setup does for every veth).
topo_build_links() {
    local switch networks service attachments network interface ipv4 ipv6 port index=0 bridge
    switch=$(topo_switch)
    topo_add_namespace "$switch" || return 1
    mapfile -t networks < <(topo_jq '.networks[].name')
    for index in "${!networks[@]}"; do
        ip -n "$switch" link add "br$index" type bridge || return 1
        ip -n "$switch" link set "br$index" up
    done
    local service_index=0
    while read -r service; do
        topo_add_namespace "$(topo_namespace "$service")" || return 1
        while read -r network interface ipv4 ipv6; do
            for index in "${!networks[@]}"; do
                [ "${networks[$index]}" = "$network" ] && bridge=br$index
            done
            port="v${service_index}n${bridge#br}"
            ip -n "$switch" link add "$port" type veth peer name "$interface" \
                netns "$(topo_namespace "$service")" || return 1
            ip -n "$switch" link set "$port" master "$bridge" up
            topo_exec "$service" ip link set "$interface" up
            ip netns exec "$switch" ethtool -K "$port" tx off >/dev/null
            topo_exec "$service" ethtool -K "$interface" tx off >/dev/null
            if [ "$ipv4" != - ]; then
                topo_exec "$service" ip addr add "$ipv4/$(topo_subnet "$network" ipv4 | cut -d/ -f2)" \
                    dev "$interface" || return 1
            fi
            if [ "$ipv6" != - ]; then
                topo_exec "$service" ip addr add "$ipv6/$(topo_subnet "$network" ipv6 | cut -d/ -f2)" \
                    dev "$interface" nodad || return 1
            fi
            # Native XDP_TX on veth delivers only to a peer with an XDP program of its own (the kernel's
            # drivers/net/veth.c, veth_xdp_xmit): the relay's switch port gets a pass-all one.
            if [ "$(topo_role "$service")" = relay ]; then
                ip -n "$switch" link set dev "$port" xdpdrv obj "$TOPO_RUN/xdp_pass.o" sec xdp || return 1
            fi
        done < <(topo_attachments "$service")
        service_index=$((service_index + 1))
    done < <(topo_services)
}

# The NAT kind of router $1: the run's override for its side, else the description's default.
topo_nat_kind() {
    local variable
    variable=$(topo_router_field "$1" nat_variable)
    case "$variable" in
    CLIENT_MASQUERADE) echo "${TOPO_CLIENT_NAT:-$(topo_router_field "$1" nat)}" ;;
    GATEWAY_MASQUERADE) echo "${TOPO_GATEWAY_NAT:-$(topo_router_field "$1" nat)}" ;;
    RELAY_MASQUERADE) echo "${TOPO_RELAY_NAT:-$(topo_router_field "$1" nat)}" ;;
    *) topo_router_field "$1" nat ;;
    esac
}

# The address a service is reached at from the internet: its router's outside address when the router translates,
# its own when it routes.
topo_public_ipv4() {
    local service=$1 router inside
    router=$(topo_jq --arg s "$service" '.services[] | select(.name == $s) | .behind // empty')
    inside=$(topo_router_field "$router" inside)
    if [ "$(topo_nat_kind "$router")" = none ]; then
        topo_address "$service" "$inside" ipv4
    else
        topo_address "$router" "$(topo_router_field "$router" outside)" ipv4
    fi
}

# Each router is tests/docker/router/router.sh applied in its namespace, as the compose file's router containers run
# it: router.nft, masquerade as the NAT kind says, the port forwards of its PORT_FORWARDS, netem delay. Port forwards
# apply whatever the NAT kind, as in Firezone's scripts/router/router.sh: a forward is a rule for what reaches the
# router's own public address, which source translation does not change; with `none` the service is reached at its
# own routed address and the forwards are simply unused. The builder adds what a container gets from Docker instead:
# forwarding, routes to a routing router's inside network, and netem loss.
topo_build_routers() {
    local router kind inside outside error
    for router in $(topo_jq '.services[] | select(.role == "router") | .name'); do
        kind=$(topo_nat_kind "$router")
        topo_log "$router: NAT $kind"
        topo_exec "$router" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
        if ! topo_exec "$router" env MASQUERADE_TYPE="$kind" PORT_FORWARDS="$(topo_env "$router" PORT_FORWARDS)" \
            NETWORK_LATENCY_MS="$TOPO_LATENCY_MS" ROUTER_RULESET="$TOPO_ROOT/tests/docker/router/router.nft" \
            "$TOPO_ROOT/tests/docker/router/router.sh" apply >"$TOPO_RUN/$router.log" 2>&1; then
            error=$(tail -n 1 "$TOPO_RUN/$router.log")
            [ "$TOPO_LATENCY_MS" -eq 0 ] || error="$error; netem needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM)"
            topo_fail "$router: router.sh apply ($error)"
            return 1
        fi
        echo "$kind" >"$TOPO_RUN/$router.nat"
        # A routing router's inside network is reached through it from every other host on its outside network
        # (the other routers, the public resolver).
        if [ "$kind" = none ]; then
            inside=$(topo_router_field "$router" inside)
            outside=$(topo_router_field "$router" outside)
            for other in $(topo_jq --arg n "$outside" '.services[] | select(any(.networks[]; .network == $n)) |
                .name'); do
                [ "$other" = "$router" ] && continue
                topo_exec "$other" ip route add "$(topo_subnet "$inside" ipv4)" \
                    via "$(topo_address "$router" "$outside" ipv4)" || return 1
                if [ -n "$(topo_subnet "$inside" ipv6)" ]; then
                    topo_exec "$other" ip -6 route add "$(topo_subnet "$inside" ipv6)" \
                        via "$(topo_address "$router" "$outside" ipv6)" || return 1
                fi
            done
        fi
        # Firezone's download-packet-loss test loses packets at the client: netem loss on both sides of its router,
        # with the delay router.sh gave them.
        if [ "${TOPO_LOSS_PCT:-0}" -gt 0 ] && [ "$router" = client-router ]; then
            local netem=(loss "$TOPO_LOSS_PCT%") interface
            [ "$TOPO_LATENCY_MS" -gt 0 ] && netem=(delay "$((TOPO_LATENCY_MS / 2))ms" "${netem[@]}")
            for interface in internet internal; do
                if ! error=$(topo_exec "$router" tc qdisc replace dev "$interface" root netem "${netem[@]}" \
                    limit 100000 2>&1); then
                    topo_fail "netem on $router's $interface ($error): the kernel needs the netem qdisc" \
                        "(CONFIG_NET_SCH_NETEM)"
                    return 1
                fi
            done
        fi
    done
    # The others' default routes: through the router they sit behind (the resources sit behind the gateway, which
    # masquerades into their networks, and need none).
    local service behind router_inside via4 via6
    while read -r service behind; do
        [ "$(topo_role "$behind")" = router ] || continue
        router_inside=$(topo_router_field "$behind" inside)
        via4=$(topo_address "$behind" "$router_inside" ipv4)
        via6=$(topo_address "$behind" "$router_inside" ipv6)
        topo_exec "$service" ip route add default via "$via4" || return 1
        if [ -n "$via6" ] && [ -n "$(topo_address "$service" "$router_inside" ipv6)" ]; then
            topo_exec "$service" ip -6 route add default via "$via6" || return 1
        fi
    done < <(topo_jq '.services[] | select(.behind != null) | "\(.name) \(.behind)"')
}

# --- The services.

topo_binary() {
    local path="$TOPO_BIN/$1"
    [ -x "$path" ] || topo_fail "$1 is not built in $TOPO_BIN (swift build --product $1, or set FIREZONE_BIN_DIR)" ||
        return 1
    echo "$path"
}

topo_wait() {
    local seconds=$1 what=$2
    shift 2
    wait_until "$seconds" "$@" || topo_fail "$what (waited $seconds s)"
}

topo_start_portal() {
    local binary
    binary=$(topo_binary firezone-portal) || return 1
    # Only the relays the run asks for are in the portal's configuration.
    local split='.'
    [ "$TOPO_RELAY_SETS" != split ] ||
        split='.relays[0].id as $one | .relays[1].id as $two
            | .clients[].relay_ids = [$one] | .sites[].relay_ids = [$two] | .gateways[]?.relay_ids = [$two]'
    topo_jq --argjson n "$TOPO_RELAYS" ".portal_config | .relays |= .[:\$n] | $split" >"$TOPO_RUN/portal.json"
    local arguments
    mapfile -t arguments < <(topo_jq '.services[] | select(.name == "portal") | .arguments[]')
    topo_start portal portal "$binary" --config "$TOPO_RUN/portal.json" "${arguments[@]}"
    local address
    address=$(topo_address portal app-internal ipv4)
    topo_wait 20 "the portal listens on $address:8081" \
        topo_exec portal bash -c "exec 3<>/dev/tcp/$address/8081" || return 1
}

topo_relay_ready() {
    [ "$(topo_curl_status "$1" http://127.0.0.1:8080/readyz)" = 200 ]
}

topo_process_alive() {
    local pid
    pid=$(topo_pid "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

topo_relay_started_or_exited() {
    topo_relay_ready "$1" || ! topo_process_alive "$1"
}

# A relay with XDP in the run's attach mode (--relay-xdp, default the description's); if the program cannot attach
# (the relay then stops and says why), generic mode; then without XDP. The fallback is printed, never silent, and
# recorded in $TOPO_RUN/NAME.xdp.
topo_start_relay() {
    local relay=$1 binary mode environment public
    binary=$(topo_binary firezone-relay) || return 1
    mapfile -t environment < <(topo_environment "$relay")
    public=$(topo_public_ipv4 "$relay")
    # Two sockets per allocation port: the open-file limit the description gives (compose's `ulimits`), as far as
    # the hard limit lets it rise (the relay warns when it is too low).
    local nofile
    nofile=$(topo_jq --arg s "$relay" '.services[] | select(.name == $s) | .ulimits.nofile')
    [ "$(ulimit -Hn)" = unlimited ] || [ "$nofile" -le "$(ulimit -Hn)" ] || nofile=$(ulimit -Hn)
    local limit=(prlimit "--nofile=$nofile" --)
    local modes=("${TOPO_RELAY_XDP:-$(topo_env "$relay" EBPF_ATTACH_MODE)}" generic off)
    [ "${modes[0]}" = generic ] && modes=(generic off)
    [ "${modes[0]}" = off ] && modes=(off)
    for mode in "${modes[@]}"; do
        if [ "$mode" = off ]; then
            # The EBPF_* variables left out.
            topo_start "$relay" "$relay" "${limit[@]}" env "${environment[@]/#EBPF_*/FIREZONE_TOPOLOGY_XDP=off}" \
                PUBLIC_IP4_ADDR="$public" "$binary"
        else
            topo_start "$relay" "$relay" "${limit[@]}" env "${environment[@]}" PUBLIC_IP4_ADDR="$public" \
                EBPF_ATTACH_MODE="$mode" "$binary"
        fi
        wait_until 20 topo_relay_started_or_exited "$relay"
        if topo_relay_ready "$relay"; then
            echo "$mode" >"$TOPO_RUN/$relay.xdp"
            if [ "$mode" = off ]; then
                topo_log "$relay: no XDP, relaying in userspace, public address $public"
            else
                topo_log "$relay: XDP attached in $mode mode, public address $public"
            fi
            return 0
        fi
        topo_process_alive "$relay" && kill "$(topo_pid "$relay")"
        cp "$TOPO_RUN/$relay.log" "$TOPO_RUN/$relay-$mode.log"
        [ "$mode" = off ] && break
        echo "[topology] WARNING: $relay could not start with XDP in $mode mode: $(tail -n 1 "$TOPO_RUN/$relay.log")" |
            tee -a "$TOPO_RUN/topology.log" >&2
    done
    topo_fail "$relay does not become ready (/readyz), not even without XDP"
}

# An HTTP server on port 80 with a 10 MB file and its SHA-256 (download.bin, download.bin.sha256).
topo_www() {
    local www=$TOPO_RUN/www
    [ -f "$www/download.bin.sha256" ] && return 0
    mkdir -p "$www"
    echo "firezone topology" >"$www/index.html"
    head -c 10485760 /dev/urandom >"$www/download.bin"
    (cd "$www" && sha256sum download.bin >download.bin.sha256)
}

topo_start_resources() {
    local service kind address names=()
    topo_www
    while read -r service kind; do
        case "$kind" in
        http) topo_start "$service" "$service" python3 -m http.server --bind :: 80 --directory "$TOPO_RUN/www" ;;
        iperf3) topo_start "$service" "$service" iperf3 --server --port 5201 ;;
        dns)
            address=$(topo_jq --arg s "$service" '.services[] | select(.name == $s) | .networks[0].ipv4')
            mapfile -t names < <(topo_jq '.services[] | select(.dns_names) | .networks[0].ipv4 as $a |
                .dns_names[] | "--address=/\(ltrimstr("*."))/\($a)"')
            topo_start "$service" "$service" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
                --user=root --group=root --pid-file= --log-queries --log-facility=- --listen-address="$address" \
                "${names[@]}"
            ;;
        esac
    done < <(topo_jq '.services[] | select(.role == "resources") | .name as $n | .serves[] | "\($n) \(.kind)"' |
        sort -u)
    topo_wait 10 "the HTTP server on httpbin serves" \
        topo_exec httpbin curl -sf --max-time 1 -o /dev/null http://127.0.0.1/index.html || return 1
    local dns_server name
    dns_server=$(topo_jq '.services[] | select(.serves[]?.kind == "dns") | .name' | head -1)
    address=$(topo_jq --arg s "$dns_server" '.services[] | select(.name == $s) | .networks[0].ipv4')
    name=$(topo_jq '[.services[].dns_names // [] | .[] | select(startswith("*") | not)][0]')
    topo_wait 10 "the resources' DNS server ($dns_server) answers $name" \
        bash -c "[ -n \"\$(ip netns exec $(topo_namespace "$dns_server") dig +short +time=1 +tries=1 \
            @$address $name)\" ]" || return 1
}

# The public resolver on the internet (dnsmasq): the names of its `records` (A, and TXT with one or more strings),
# nothing else; the client's system resolver, which its stub recurses to for every name no resource covers.
topo_start_resolvers() {
    local service address records name
    for service in $(topo_jq '.services[] | select(.role == "resolver") | .name'); do
        address=$(topo_jq --arg s "$service" '.services[] | select(.name == $s) | .networks[0].ipv4')
        mapfile -t records < <(topo_jq --arg s "$service" '.services[] | select(.name == $s) | .records |
            (.a[] | "--address=/\(.name)/\(.address)"),
            (.txt[] | "--txt-record=\(.name),\(.strings | map("\"" + . + "\"") | join(","))")')
        topo_start "$service" "$service" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
            --user=root --group=root --pid-file= --log-queries --log-facility=- --listen-address="$address" \
            "${records[@]}"
        name=$(topo_jq --arg s "$service" '.services[] | select(.name == $s) | .records.a[0].name')
        topo_wait 10 "the public resolver $service answers $name on $address" \
            bash -c "[ -n \"\$(ip netns exec $(topo_namespace "$service") dig +short +time=1 +tries=1 \
                @$address $name)\" ]" || return 1
    done
}

topo_start_gateway() {
    local binary environment etc=$TOPO_RUN/gateway-etc
    binary=$(topo_binary firezone-gateway) || return 1
    mapfile -t environment < <(topo_environment gateway)
    mkdir -p "$etc"
    topo_jq '.services[] | select(.name == "gateway") | .nameservers[] | "nameserver \(.)"' >"$etc/resolv.conf"
    own_etc "$etc"
    topo_start gateway gateway "${OWN_ETC[@]}" env "${environment[@]}" FIREZONE_ID_PATH="$TOPO_RUN/gateway-id" \
        "$binary"
    topo_wait 20 "the gateway joins the portal (/readyz)" \
        bash -c "[ \"\$(ip netns exec $(topo_namespace gateway) curl -s -o /dev/null -w '%{http_code}' \
            --max-time 2 http://127.0.0.1:8080/readyz)\" = 200 ]"
}

topo_status() {
    "$TOPO_BIN/firezone-headless-client" status --status-path "$TOPO_RUN/client-status.json"
}

topo_start_client() {
    local binary environment etc=$TOPO_RUN/client-etc
    binary=$(topo_binary firezone-headless-client) || return 1
    mapfile -t environment < <(topo_environment client)
    mkdir -p "$etc"
    # The system resolver the client's stub reads before it takes over, and recurses to for what no resource covers.
    topo_jq '.services[] | select(.name == "client") | .nameservers[] | "nameserver \(.)"' >"$etc/resolv.conf"
    own_etc "$etc"
    topo_start client client "${OWN_ETC[@]}" env "${environment[@]}" \
        FIREZONE_STATUS_PATH="$TOPO_RUN/client-status.json" "$binary"
    topo_wait 20 "the client signs in (status: Signed in: yes)" \
        bash -c "'$TOPO_BIN/firezone-headless-client' status --status-path '$TOPO_RUN/client-status.json' |
            grep -q 'Signed in: yes'"
}

# The relays the portal has joined (its admin API's presence).
topo_relays_joined() {
    topo_exec portal curl -s --max-time 2 http://127.0.0.1:8082/v1/presence | jq -r '.relays | length'
}

# --- What the system tests check.

# The sum of the samples of relay $1's metric whose line starts with $2 (a name, or a name with some of its labels),
# 0 when there is none; the relay publishes its counters once a second.
topo_relay_metric() {
    topo_exec "$1" curl -s --max-time 2 http://127.0.0.1:8080/metrics |
        awk -v name="$2" 'index($0, name) == 1 { total += $NF } END { printf "%d\n", total }'
}

# The path of the client's connection to the gateway as its status file says (`direct`, `relayed (our relay)`,
# `relayed (their relay)`, `relay to relay`), `connecting` while ICE checks, `none` without a connection.
topo_path() {
    jq -r '.connections[0] | if . == null then "none" else (.path // "connecting") end' \
        "$TOPO_RUN/client-status.json" 2>/dev/null || echo "unreadable"
}

topo_path_matches() {
    # shellcheck disable=SC2053
    [[ "$(topo_path)" == $1 ]]
}

# Traffic to $2 until the client's path matches the pattern $1 (a glob) or $3 seconds pass (ICE nominates with
# traffic); fails naming the path expected and the path seen.
topo_expect_path() {
    local expected=$1 target=$2 seconds=$3 deadline=$((SECONDS + $3))
    until topo_path_matches "$expected"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "path expected: $expected; path seen: $(topo_path) (after $seconds s)"
            return 1
        fi
        topo_in_client ping -c 1 -W 1 "$target" >/dev/null 2>&1 || sleep 0.5
    done
    echo "path: $(topo_path)"
}

# Downloads the 10 MB file from $1 through the tunnel and compares its SHA-256.
topo_download_intact() {
    local expected seen
    expected=$(cut -d' ' -f1 "$TOPO_RUN/www/download.bin.sha256")
    seen=$(topo_in_client curl -s --max-time 30 "http://$1/download.bin" | sha256sum | cut -d' ' -f1)
    [ "$seen" = "$expected" ] && return 0
    echo "download from $1: SHA-256 $seen, expected $expected"
    return 1
}

# What `dig $2...` answers in the client (`+short`, one line), compared with the extended regular expression $1;
# fails saying what it expected and what it saw.
topo_expect_answer() {
    local expected=$1 seen
    shift
    seen=$(topo_in_client dig +short +time=2 +tries=2 "$@" 2>&1 | tr '\n' ' ')
    seen=${seen% }
    [[ "$seen" =~ $expected ]] && return 0
    echo "dig $*: expected an answer matching '$expected', saw '${seen:-nothing}'"
    return 1
}

# The characters of the TXT answer to $1 over TCP (the stub's DNS over TCP, RFC 7766, and its recursion over TCP),
# at least $2 of them.
topo_expect_large_txt() {
    local seen
    seen=$(topo_in_client dig +tcp +short +time=2 +tries=2 TXT "$1" 2>&1 | tr -d '" \n' | wc -c)
    [ "$seen" -ge "$2" ] && return 0
    echo "dig +tcp TXT $1: expected at least $2 characters of TXT strings, saw $seen"
    return 1
}

# Ping over IPv4 answers $1 within $2 seconds.
topo_expect_ping() {
    wait_until "$2" topo_in_client ping -4 -c 1 -W 1 "$1" && return 0
    echo "ping -4 $1: expected a reply within $2 s, saw '$(topo_in_client ping -4 -c 1 -W 1 "$1" 2>&1 |
        grep -E 'received|unknown|Unreachable' | tr '\n' ' ')'"
    return 1
}

# HTTP to $1 through the tunnel serves the run's index page.
topo_expect_page() {
    local seen
    seen=$(topo_in_client curl -s --max-time 5 "http://$1/index.html" 2>&1)
    [ "$seen" = "firezone topology" ] && return 0
    echo "curl http://$1/index.html: expected 'firezone topology', saw '${seen:-nothing}'"
    return 1
}

# Neither ping nor HTTP reaches $1 from the client.
topo_expect_unreachable() {
    local ping pinged=yes http
    ping=$(topo_in_client ping -c 2 -W 1 "$1" 2>&1) || pinged=no
    http=$(topo_in_client curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$1/index.html" 2>&1)
    [ "$pinged" = no ] && [ "$http" = 000 ] && return 0
    echo "$1: expected unreachable, saw ping '$(echo "$ping" | grep received)', HTTP status $http"
    return 1
}

# No line at warning level or above in the log of any component of the run (portal, relays, gateway, client): in
# a clean run each one is a bug or a wrongly levelled log. swift-log writes the level as the second word.
topo_clean_logs() {
    local service log lines clean=0
    for service in $(topo_jq '.services[] | select(.role | IN("portal", "relay", "gateway", "client")) | .name'); do
        log=$TOPO_RUN/$service.log
        [ -f "$log" ] || continue
        lines=$(grep -E '^[^ ]+ (warning|error|critical) |\b(WARN|ERROR)\b' "$log" | head -n 10)
        [ -z "$lines" ] && continue
        echo "$service.log: expected no WARN or ERROR line, saw:"
        echo "$lines" | cut -c1-400 | sed 's/^/    /'
        clean=1
    done
    return $clean
}

# The checks every path shares, after the path itself is established: DNS resources by name (the stub's proxy
# addresses, 100.96.0.0/11 for IPv4, rust/connlib/tunnel/src/dns.rs), a wildcard resource, DNS over TCP with an
# answer larger than a UDP one may be, a name no resource covers answered by the system resolver, the resource no
# policy grants unreachable, and no WARN or ERROR line in any component's log. $1 labels the checks.
topo_check_matrix() {
    local label=${1:+$1 } dns_name wildcard public_name public_address large forbidden proxy
    dns_name=$(topo_jq '[.portal_config.resources[] | select(.type == "dns") | .address |
        select(startswith("*") | not)][0]')
    wildcard=$(topo_jq '[.portal_config.resources[] | select(.type == "dns") | .address | select(startswith("*."))][0]')
    wildcard=probe.${wildcard#\*.}
    public_name=$(topo_jq '.services[] | select(.role == "resolver") | .records.a[0].name')
    public_address=$(topo_jq '.services[] | select(.role == "resolver") | .records.a[0].address')
    large=$(topo_jq '.services[] | select(.role == "resolver") | .records.txt[0].name')
    forbidden=$(topo_jq '.portal_config as $c | [$c.resources[] | select(.type == "cidr") |
        select(.id as $id | $c.policies | all(.resource_id != $id))][0].address')
    forbidden=$(topo_jq --arg n "$forbidden" '[.networks[] | select(.ipv4 == $n) | .name][0] as $n |
        [.services[] | select(.serves[]?.kind == "http") | .networks[] | select(.network == $n) | .ipv4][0]')
    proxy='^100\.(9[6-9]|1[01][0-9]|12[0-7])\.'
    check "${label}dig answers a proxy address (100.96.0.0/11) for $dns_name" \
        topo_expect_answer "$proxy" A "$dns_name"
    # Its DNS server has no AAAA record, so its IPv6 proxy addresses answer "address unreachable": ping over IPv4.
    check "${label}ping reaches $dns_name by name" topo_expect_ping "$dns_name" 10
    check "${label}HTTP reaches $dns_name by name" topo_expect_page "$dns_name"
    check "${label}the wildcard resource answers a proxy address for $wildcard" \
        topo_expect_answer "$proxy" A "$wildcard"
    check "${label}HTTP reaches $wildcard by name" topo_expect_page "$wildcard"
    check "${label}DNS over TCP answers a proxy address for $dns_name" \
        topo_expect_answer "$proxy" +tcp A "$dns_name"
    check "${label}DNS over TCP carries the 2 KB TXT answer for $large" topo_expect_large_txt "$large" 2040
    check "${label}$public_name, which no resource covers, gets its real answer ($public_address)" \
        topo_expect_answer "^${public_address//./\\.}\$" A "$public_name"
    check "${label}the resource no policy grants stays unreachable ($forbidden)" topo_expect_unreachable "$forbidden"
    check "${label}no WARN or ERROR line in the portal's, relays', gateway's and client's logs" topo_clean_logs
}

# The last lines of every log of the run, for a failure.
topo_dump_logs() {
    local log
    for log in "$TOPO_RUN"/*.log; do
        echo "--- the last lines of $log"
        tail -n "${1:-30}" "$log"
    done
}

# --- up and down.

# Options as the CLI takes them; sets TOPO_RUN (the run directory) and brings everything up.
topo_up() {
    TOPO_CLIENT_NAT="" TOPO_GATEWAY_NAT="" TOPO_RELAY_NAT="" TOPO_LATENCY_MS=0 TOPO_LOSS_PCT=0 TOPO_RELAYS=2
    TOPO_RELAY_XDP="" TOPO_RELAY_SETS=shared
    while [ $# -gt 0 ]; do
        case "$1" in
        --client-nat) TOPO_CLIENT_NAT=$2 ;;
        --gateway-nat) TOPO_GATEWAY_NAT=$2 ;;
        --relay-nat) TOPO_RELAY_NAT=$2 ;;
        --latency-ms) TOPO_LATENCY_MS=$2 ;;
        --loss-pct) TOPO_LOSS_PCT=$2 ;;
        --relays) TOPO_RELAYS=$2 ;;
        --relay-xdp) TOPO_RELAY_XDP=$2 ;;
        --relay-sets) TOPO_RELAY_SETS=$2 ;;
        *)
            echo "topology up: unknown option $1" >&2
            return 2
            ;;
        esac
        shift 2 || { echo "topology up: $1 needs a value" >&2; return 2; }
    done
    local kind
    for kind in "$TOPO_CLIENT_NAT" "$TOPO_GATEWAY_NAT" "$TOPO_RELAY_NAT"; do
        case "$kind" in "" | none | cone | symmetric) ;; *)
            echo "topology up: NAT kind '$kind' is none, cone or symmetric" >&2
            return 2
            ;;
        esac
    done
    case "$TOPO_RELAYS" in 1 | 2) ;; *) echo "topology up: --relays is 1 or 2" >&2; return 2 ;; esac
    case "$TOPO_RELAY_SETS:$TOPO_RELAYS" in shared:* | split:2) ;; *)
        echo "topology up: --relay-sets is shared, or split with two relays" >&2
        return 2
        ;;
    esac
    case "$TOPO_RELAY_XDP" in "" | driver | generic | off) ;; *)
        echo "topology up: --relay-xdp is driver, generic or off" >&2
        return 2
        ;;
    esac
    [[ "$TOPO_LATENCY_MS$TOPO_LOSS_PCT" =~ ^[0-9]+$ ]] || { echo "topology up: numbers expected" >&2; return 2; }

    TOPO_ID=${FZ_RUN_ID:-$$}
    TOPO_RUN=${TOPO_RUN:-/tmp/fz-topology.$TOPO_ID}
    TOPO_BIN=$(cd "${FIREZONE_BIN_DIR:-$TOPO_ROOT/.build/debug}" && pwd) || return 1
    mkdir -p "$TOPO_RUN" || return 1
    : >"$TOPO_RUN/namespaces"
    : >"$TOPO_RUN/pids"
    echo "$TOPO_ID" >"$TOPO_RUN/id"
    echo "$TOPO_BIN" >"$TOPO_RUN/bin"
    topo_log "run $TOPO_ID in $TOPO_RUN: client NAT ${TOPO_CLIENT_NAT:-default}, gateway NAT" \
        "${TOPO_GATEWAY_NAT:-default}, relay NAT ${TOPO_RELAY_NAT:-default}, $TOPO_RELAYS relays (XDP" \
        "${TOPO_RELAY_XDP:-default}, relay sets $TOPO_RELAY_SETS)," \
        "latency $TOPO_LATENCY_MS ms, loss $TOPO_LOSS_PCT %"

    build_xdp_pass "$TOPO_RUN/xdp_pass.o" || topo_fail "compiling the pass-all XDP program" || return 1
    topo_build_links || topo_fail "building the namespaces and links" || return 1
    topo_build_routers || topo_fail "configuring the routers" || return 1
    local relays
    relays=$(topo_jq '.services[] | select(.role == "relay") | .name' | head -n "$TOPO_RELAYS")
    topo_start_portal || return 1
    local relay
    for relay in $relays; do
        topo_start_relay "$relay" || return 1
    done
    topo_wait 10 "the portal has $TOPO_RELAYS relays joined" \
        bash -c "[ \"\$(ip netns exec $(topo_namespace portal) curl -s --max-time 2 \
            http://127.0.0.1:8082/v1/presence | jq -r '.relays | length')\" = $TOPO_RELAYS ]" || return 1
    topo_start_resources || return 1
    topo_start_resolvers || return 1
    topo_start_gateway || return 1
    topo_start_client || return 1
    topo_log "up: portal, $TOPO_RELAYS relays, gateway, resources and client ready"
}

# Stops every process of the run by PID (SIGTERM, then SIGKILL after 5 s) and deletes its namespaces. The run
# directory stays when TOPO_KEEP_LOGS is set.
topo_down() {
    local run=${1:-$TOPO_RUN} pid start name namespace deadline
    [ -n "$run" ] && [ -f "$run/id" ] || { echo "topology down: no run directory '$run'" >&2; return 1; }
    if [ -f "$run/pids" ]; then
        while read -r pid start name; do
            [ "$(topo_start_time "$pid")" = "$start" ] && kill "$pid" 2>/dev/null
        done <"$run/pids"
        deadline=$((SECONDS + 5))
        while read -r pid start name; do
            while [ "$(topo_start_time "$pid")" = "$start" ] && [ "$SECONDS" -lt "$deadline" ]; do
                sleep 0.1
            done
            if [ "$(topo_start_time "$pid")" = "$start" ]; then
                echo "[topology] $name (PID $pid) ignored SIGTERM for 5 s: SIGKILL" >&2
                kill -KILL "$pid" 2>/dev/null
            fi
            wait "$pid" 2>/dev/null
        done <"$run/pids"
    fi
    if [ -f "$run/namespaces" ]; then
        while read -r namespace; do
            ip netns del "$namespace" 2>/dev/null
        done <"$run/namespaces"
    fi
    if [ -z "${TOPO_KEEP_LOGS:-}" ]; then
        rm -rf "$run"
    fi
    return 0
}

topo_cli() {
    local command=${1:-}
    shift || true
    case "$command" in
    up)
        trap 'rm -rf "$FZ_SCRATCH"' EXIT
        if topo_up "$@"; then
            echo "$TOPO_RUN"
        else
            local status=$?
            [ "$status" -eq 2 ] && return 2
            TOPO_KEEP_LOGS=1 topo_down "$TOPO_RUN"
            return 1
        fi
        ;;
    down)
        trap 'rm -rf "$FZ_SCRATCH"' EXIT
        local run=${1:-}
        if [ -z "$run" ]; then
            local runs=(/tmp/fz-topology.*)
            [ ${#runs[@]} -eq 1 ] && [ -d "${runs[0]}" ] ||
                { echo "topology down: name the run directory (${runs[*]})" >&2; return 2; }
            run=${runs[0]}
        fi
        topo_down "$run"
        ;;
    exec)
        trap 'rm -rf "$FZ_SCRATCH"' EXIT
        TOPO_RUN=$1 TOPO_ID=$(cat "$1/id") || return 2
        shift
        topo_exec "$@"
        ;;
    *)
        sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        return 2
        ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    topo_cli "$@"
fi
