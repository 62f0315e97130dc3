#!/usr/bin/env bash
# Our ICE agent against aioice (Debian's python3-aioice, an RFC 5245/8445 implementation) over UDP on 127.0.0.1, in
# both roles: checks must complete both ways (ice_aioice.py says how that is observed).
set -euo pipefail
cd "$(dirname "$0")"

binary=${ICE_INTEROP:-../../.build/debug/ice-interop}
[ -x "$binary" ] || { echo "build ice-interop first (swift build --product ice-interop)" >&2; exit 2; }
/usr/bin/python3 -c 'import aioice' || { echo "python3-aioice is missing (tests/install-deps.sh)" >&2; exit 2; }
timeout 120 /usr/bin/python3 ./ice_aioice.py "$(readlink -f "$binary")"
