#!/usr/bin/env bash
# Builds (release) and runs all benchmarks and prints their results, one table per metric with a row per
# benchmark: malloc count, throughput and wall-clock time, per packet (`*`: divided by the 1,000 packets
# of a sample). `make bench` calls this; docs/benchmarks.md has the results.
#
# The malloc column here is rounded per packet, so it hides fewer than one allocation per two packets:
# check-allocations.sh, which judges raw per-sample counts, is the authority on allocations.
#
# Extra options go to `swift package benchmark run`, e.g. `--filter '.*IPv6.*'` or `--format markdown`.
# The canary benchmark, which only exists to prove to check-allocations.sh that malloc counting works,
# is skipped, and so is "snownet gateway, 10000 idle connections", which simulates ten thousand clients for
# about 17 minutes and takes 10 minutes or more (docs/benchmarks.md has its command).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
echo "Machine: $(nproc) cores, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
swift package benchmark run --skip 'canary.*' --skip 'snownet gateway.*' --grouping metric --no-progress "$@"
