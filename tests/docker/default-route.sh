#!/bin/sh
# The runtime images' entrypoint: default-route [--via IPV4] [--via6 IPV6] [--drop-capabilities] -- PROGRAM ARGS...
# Docker gives a container its default route through the host's bridge; a service behind one of
# docker-compose.yml's NAT routers must send through the router instead, as a host behind a home router does. With
# --drop-capabilities the program runs with an empty capability bounding set: the portal needs CAP_NET_ADMIN only
# for its route. Without options it runs the program as it is.
set -eu
via4="" via6="" drop=""
while [ $# -gt 0 ]; do
    case "$1" in
    --via) via4=$2 && shift 2 ;;
    --via6) via6=$2 && shift 2 ;;
    --drop-capabilities) drop=yes && shift ;;
    --) shift && break ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "default-route: no program to run" >&2 && exit 2; }
[ -z "$via4" ] || ip -4 route replace default via "$via4"
[ -z "$via6" ] || ip -6 route replace default via "$via6"
if [ -n "$drop" ]; then
    exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"
fi
exec "$@"
