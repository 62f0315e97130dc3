#!/bin/bash
# http-healthy PORT PATH: exit 0 when http://127.0.0.1:PORT/PATH answers 200. The images' healthcheck, in bash alone
# (no curl in the runtime images).
set -eu
exec 3<>"/dev/tcp/127.0.0.1/$1"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
read -r -t 5 _ status _ <&3
[ "$status" = 200 ]
