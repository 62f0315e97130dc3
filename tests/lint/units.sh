#!/usr/bin/env bash
# The systemd units we ship: `systemd-analyze verify` finds no error, and `systemd-analyze security` rates each one
# at most 5.0 ("OK"). ExecStart points at where the README installs the binary, which a build machine does not
# have, so each unit is verified as a copy that runs /usr/bin/true.
set -uo pipefail
cd "$(dirname "$0")/../.."
if ! command -v systemd-analyze >/dev/null; then
    echo "units: systemd-analyze is missing (apt install systemd)" >&2
    exit 1
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
count=0
for unit in */firezone-*.service; do
    name=$(basename "$unit")
    count=$((count + 1))
    sed 's|^ExecStart=.*|ExecStart=/usr/bin/true|' "$unit" >"$scratch/$name"
    if ! output=$(systemd-analyze verify --man=no "$scratch/$name" 2>&1) || [ -n "$output" ]; then
        echo "units: $unit does not verify: $output" >&2
        status=1
    fi
    if ! systemd-analyze security --offline=yes --threshold=50 "$scratch/$name" >"$scratch/security.txt" 2>&1; then
        echo "units: $unit is exposed above 5.0: $(tail -1 "$scratch/security.txt")" >&2
        status=1
    fi
done
[ $status -eq 0 ] && echo "units: $count systemd units verify, exposure at most 5.0"
exit $status
