#!/usr/bin/env bash
# Fails if any hot-path benchmark (ip-packet, relay, wireguard, snownet's Node per packet and per idle timer tick,
# connlib's client and gateway per packet and the client's idle timer tick) allocates.
#
# Builds and runs the hot-path benchmarks (plus the canary) and judges only the
# malloc count (`mallocCountTotal`), never time: our machines are too noisy for timing limits.
#
# Why not package-benchmark's own threshold checks: `thresholds check` compares p90 only, and the in-code
# `thresholds:` are tolerances between two runs, not limits. The JSON and text outputs divide counts by the
# scaling factor (1,000 packets per sample) and round, so one allocation per 1,000 packets would read as 0.
# The JMH export keeps every sample's raw count; this script fails if any sample of any ip-packet
# benchmark counted an allocation. The canary benchmark allocates on purpose: if it counts none, malloc
# counting is not working in this build and a zero would prove nothing, so that fails too.
#
# Usage: tests/benchmarks/check-allocations.sh [extra `swift package benchmark` options]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
out="$PWD/.build/allocation-check"
rm -rf "$out"
mkdir -p "$out"

# `--metric` overrides the benchmarks' own metrics: the malloc count, plus throughput, which the JMH
# export needs as its primary metric and which is not judged.
swift package --allow-writing-to-directory "$out" benchmark run \
    --filter 'ip-packet.*' --filter 'relay.*' --filter 'wireguard.*' --filter 'canary.*' \
    --filter 'snownet (en|de)capsulate.*' --filter 'snownet handleTimeout.*' --filter 'connlib.*' \
    --metric mallocCountTotal --metric throughput \
    --format jmh --path "$out" --no-progress "$@"

python3 - "$out/Current_run.jmh.json" <<'PY'
import json
import sys

import re

HOT_PATHS = ("ip-packet", "relay", "wireguard", "snownet", "connlib")
METRIC = "Malloc (total)"

with open(sys.argv[1]) as f:
    results = json.load(f)

hot_paths, failures, canary_counts = [], [], None
for element in sorted(results, key=lambda element: element["benchmark"]):
    name = re.sub(r"^package\.benchmark\.[A-Za-z]+\.", "", element["benchmark"]).replace("_", " ")
    metric = element.get("secondaryMetrics", {}).get(METRIC)
    if metric is None:
        failures.append(f"{name}: no '{METRIC}' metric in the results")
        continue
    samples = [int(value) for value in metric["rawData"][0]]
    if not samples:
        failures.append(f"{name}: no samples")
        continue
    if name.startswith("canary"):
        canary_counts = samples
        continue
    if not name.startswith(HOT_PATHS):
        continue
    hot_paths.append(name)
    allocating = [count for count in samples if count > 0]
    print(f"{'FAIL' if allocating else 'ok  '}  {name}: max {max(samples)} mallocs per sample, "
          f"{len(allocating)} of {len(samples)} samples allocated")
    if allocating:
        failures.append(f"{name}: allocated in {len(allocating)} of {len(samples)} samples "
                        f"(max {max(samples)} mallocs per sample of 1,000 packets)")

for prefix in HOT_PATHS:
    if not any(name.startswith(prefix) for name in hot_paths):
        failures.append(f"no {prefix} benchmark ran")
if canary_counts is None:
    failures.append("the canary benchmark did not run, so malloc counting is unverified")
elif max(canary_counts) == 0:
    failures.append("the canary benchmark, which allocates on purpose, counted no allocation: "
                    "malloc counting does not work in this build (is the MallocInterposer trait on?)")
else:
    print(f"ok    canary: malloc counting works ({max(canary_counts)} mallocs per sample)")

if failures:
    print("\nAllocation check FAILED:", file=sys.stderr)
    for failure in failures:
        print(f"  {failure}", file=sys.stderr)
    sys.exit(1)
print(f"\nAllocation check passed: {len(hot_paths)} hot-path benchmarks, no allocation in any sample.")
PY
