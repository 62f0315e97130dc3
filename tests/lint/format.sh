#!/usr/bin/env bash
# Every Swift file follows the committed .swift-format configuration (swift-nio-ssh's: 4 spaces, 120 columns).
# `swift format format --in-place --recursive --parallel <paths>` fixes what this reports.
set -euo pipefail
cd "$(dirname "$0")/../.."
mapfile -t files < <(git ls-files '*.swift')
swift format lint --strict --parallel "${files[@]}"
echo "format: ${#files[@]} Swift files follow .swift-format"
