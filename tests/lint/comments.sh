#!/usr/bin/env bash
# Comments cite public sources a reader can open (an RFC section, the WireGuard paper, a Firezone pull request
# number or a file in Firezone's public repository), never documents outside this repository, and they say why the
# code is as it is rather than narrate how it came to be. This lint catches the usual slips: references to private
# design notes and history narration.
set -euo pipefail
cd "$(dirname "$0")/../.."

patterns=(
    # Documents outside the repository.
    '[Rr]eference §' '[Ss]eed 0[0-9][0-9]' '[Ss]eed-era' 'precedence\.md' 'STYLE\.md' 'ARCHITECTURE\.md'
    '(^|[^-[:alnum:]_])shared/'
    'style-anchors' 'peers-and-numbers'
    # History narration.
    'as the issue' 'the issue asks' 'this issue' 'previous session' 'used to be' 'were replaced' 'these replaced'
)

paths=(Makefile Package.swift .ci platform ip-packet snownet relay ebpf phoenix-channel connlib gateway headless-client tests
    docker-compose.yml .env)
existing=()
for path in "${paths[@]}"; do
    [ -e "$path" ] && existing+=("$path")
done

failures=0
for pattern in "${patterns[@]}"; do
    if matches=$(git grep -nIE -e "$pattern" -- "${existing[@]}" ':!tests/lint/comments.sh' ':!*.json' ':!tests/fuzz/corpus'); then
        echo "comments: '$pattern' (cite a public source, or say why instead of how it came to be):"
        echo "$matches"
        failures=$((failures + 1))
    fi
done
if [ "$failures" -ne 0 ]; then
    exit 1
fi
echo "comments: no private references or history narration"
