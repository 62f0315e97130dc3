#!/usr/bin/env bash
# The runtime images of tests/docker/Dockerfile, run without Docker: for each image a Debian bookworm minbase root
# (debootstrap) with exactly the packages its stage installs (tests/docker/runtime_packages.py --installs), the
# image's program and entrypoint scripts copied in as the Dockerfile copies them, and the program run there with
# /proc, /sys, /dev and /run mounted as a container runtime mounts them. The portal (through default-route, which drops
# its capabilities), a relay with XDP in generic mode and the gateway share a namespace; the client, in a namespace of
# its own, routes through the first. Each must come up: the gateway ready, the relay healthy, the client signed in.
# What `ldd` cannot see, a file a program reads or a program it runs, shows here.
#
#   swift build -c release --static-swift-stdlib --product firezone-relay   (and the gateway, client and portal)
#   tests/docker/runtime-smoke.sh       # FIREZONE_BIN_DIR=.build/release by default
#
# Not part of `make test`: the roots come from Debian's archive (about 250 MB each, kept in
# $FIREZONE_TEST_TOOLS/runtime-roots and rebuilt when a stage's packages change). Needs root and debootstrap.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../integration/lib.sh
. tests/integration/lib.sh
trap cleanup EXIT

BIN=${FIREZONE_BIN_DIR:-.build/release}
ROOTS=${FIREZONE_TEST_TOOLS:-/var/cache/firezone-tests}/runtime-roots
declare -A PROGRAMS=([relay]=firezone-relay [gateway]=firezone-gateway [headless-client]=firezone-headless-client
    [portal]=firezone-portal)

if ! command -v debootstrap >/dev/null; then
    echo "runtime smoke: needs debootstrap (apt-get install debootstrap)" >&2
    exit 1
fi
for stage in "${!PROGRAMS[@]}"; do
    program=$BIN/${PROGRAMS[$stage]}
    [ -x "$program" ] || { echo "runtime smoke: $program is missing" >&2 && exit 1; }
    if ldd "$program" | grep -q '/usr/lib/swift/'; then
        echo "runtime smoke: $program links the Swift runtime dynamically; build it with --static-swift-stdlib" >&2
        exit 1
    fi
done

mkdir -p "$ROOTS"
if [ ! -d "$ROOTS/minbase" ]; then
    echo "runtime smoke: debootstrap --variant=minbase bookworm"
    debootstrap --variant=minbase bookworm "$ROOTS/minbase.partial" >"$FZ_SCRATCH/debootstrap.log" 2>&1 ||
        { tail -5 "$FZ_SCRATCH/debootstrap.log" >&2 && exit 1; }
    mv "$ROOTS/minbase.partial" "$ROOTS/minbase"
fi

for stage in "${!PROGRAMS[@]}"; do
    root=$ROOTS/$stage
    packages=$(/usr/bin/python3 tests/docker/runtime_packages.py --installs "$stage" tests/docker/Dockerfile) || exit 1
    if [ "$(cat "$root.packages" 2>/dev/null)" != "$packages" ]; then
        echo "runtime smoke: $stage root with $packages"
        rm -rf "$root" "$root.packages"
        cp -a "$ROOTS/minbase" "$root"
        # shellcheck disable=SC2086
        if ! chroot "$root" apt-get update -q >"$FZ_SCRATCH/apt-$stage.log" 2>&1 ||
            ! DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends $packages \
                >>"$FZ_SCRATCH/apt-$stage.log" 2>&1; then
            tail -5 "$FZ_SCRATCH/apt-$stage.log" >&2
            rm -rf "$root"
            exit 1
        fi
        echo "$packages" >"$root.packages"
    fi
    install -m 755 "$BIN/${PROGRAMS[$stage]}" "$root/usr/local/bin/"
    install -m 755 tests/docker/default-route.sh "$root/usr/local/bin/default-route"
    install -m 755 tests/docker/http-healthy.sh "$root/usr/local/bin/http-healthy"
done

SERVICES=fzsa$FZ_RUN_ID
CLIENT=fzsb$FZ_RUN_ID
make_link "$SERVICES" "$CLIENT" 79
ip netns exec "$SERVICES" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# Runs $4... in the root of stage $3, in namespace $1 (log $2), with the container runtime's mounts.
start_in_root() {
    local namespace=$1 log=$2 root=$ROOTS/$3
    shift 3
    # shellcheck disable=SC2016
    start_in "$namespace" "$log" unshare --mount --propagation private sh -c 'mount -t proc proc "$0/proc" &&
        mount -t sysfs sysfs "$0/sys" && mount --rbind /dev "$0/dev" && mount -t tmpfs run "$0/run" &&
        if [ -d "$0.secrets" ]; then mkdir -p "$0/run/secrets" && cp -a "$0.secrets/." "$0/run/secrets/"; fi &&
        exec chroot "$0" "$@"' "$root" "$@"
}
# The compose file's secret, as /run/secrets/portal-config.
rm -rf "$ROOTS/portal.secrets"
mkdir -p "$ROOTS/portal.secrets"
cp tests/docker/portal.json "$ROOTS/portal.secrets/portal-config"

PORTAL=10.79.0.1
start_in_root "$SERVICES" "$FZ_SCRATCH/portal.log" portal /usr/local/bin/default-route --drop-capabilities -- \
    firezone-portal --config /run/secrets/portal-config --listen "$PORTAL:8081" --admin 127.0.0.1:8082
PORTAL_PID=$LAST_PID
wait_until 20 ip netns exec "$SERVICES" bash -c "exec 3<>/dev/tcp/$PORTAL/8081" || fail "the portal listens"
check "the portal runs without capabilities" grep -q '^CapBnd:[[:space:]]*0*$' "/proc/$PORTAL_PID/status"

start_in_root "$SERVICES" "$FZ_SCRATCH/relay.log" relay /usr/bin/env FIREZONE_TOKEN=relay-1-token \
    FIREZONE_API_URL="ws://$PORTAL:8081" PUBLIC_IP4_ADDR="$PORTAL" HEALTH_CHECK_ADDR=127.0.0.1:8090 \
    EBPF_OFFLOADING=eth0 EBPF_ATTACH_MODE=generic /usr/local/bin/default-route -- firezone-relay
start_in_root "$SERVICES" "$FZ_SCRATCH/gateway.log" gateway /usr/bin/env FIREZONE_TOKEN=site-1-gateways-token \
    FIREZONE_API_URL="ws://$PORTAL:8081" FIREZONE_ID=4694e56f6a1f4b4b9b0f0f7a2c6d6e8f4694e56f6a1f4b4b9b0f0f7a2c6d6e8f \
    FIREZONE_HEALTH_CHECK_ADDR=127.0.0.1:8080 FIREZONE_NO_INC_BUF=true /usr/local/bin/default-route -- firezone-gateway
start_in_root "$CLIENT" "$FZ_SCRATCH/client.log" headless-client /usr/bin/env FIREZONE_TOKEN=client-1-token \
    FIREZONE_API_URL="ws://$PORTAL:8081" FIREZONE_ID=7f0c3b52d1e94a6f8c2b5e9d0a4f6c1b7f0c3b52d1e94a6f8c2b5e9d0a4f6c1b \
    FIREZONE_DNS_CONTROL=disabled /usr/local/bin/default-route --via "$PORTAL" -- firezone-headless-client

in_root() {
    local namespace=$1 root=$ROOTS/$2
    shift 2
    ip netns exec "$namespace" unshare --mount --propagation private sh -c \
        'mount -t proc proc "$0/proc" && mount -t tmpfs run "$0/run" && exec chroot "$0" "$@"' "$root" "$@"
}

check "relay: /healthz answers 200 (the relay image)" wait_until 20 in_root "$SERVICES" relay http-healthy 8090 /healthz
check "relay: XDP attached in generic mode" grep -q 'XDP offload attached' "$FZ_SCRATCH/relay.log"
check "gateway: /readyz answers 200, joined to the portal (the gateway image)" \
    wait_until 20 in_root "$SERVICES" gateway http-healthy 8080 /readyz
check "gateway: its nftables table exists (nft in the gateway image)" \
    bash -c "ip netns exec $SERVICES nft list table inet firezone-gateway >/dev/null"
check "client: signed in to the portal (the client image)" wait_until 20 grep -q 'Signed in to the portal' \
    "$FZ_SCRATCH/client.log"
check "client: its default route goes through the given router" \
    bash -c "ip -n $CLIENT route show default | grep -q 'via $PORTAL'"
if [ "$FZ_FAILURES" -ne 0 ]; then
    for log in portal relay gateway client; do
        echo "--- $log"
        tail -5 "$FZ_SCRATCH/$log.log"
    done
fi
finish
