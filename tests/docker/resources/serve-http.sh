#!/bin/sh
# An HTTP server on port 80 serving /srv: index.html names the host, 10M.bin holds 10 MiB of random bytes and
# 10M.bin.sha256 its checksum, for downloads checked end to end through the tunnel.
set -eu
mkdir -p /srv
echo "$(hostname)" >/srv/index.html
head -c 10485760 /dev/urandom >/srv/10M.bin
(cd /srv && sha256sum 10M.bin >10M.bin.sha256)
exec busybox httpd -f -v -p 80 -h /srv
