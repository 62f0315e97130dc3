#!/usr/bin/env bash
# The container files of `make test`, which no machine of ours can run (no Docker engine), checked every way that
# needs none:
#   1. docker-compose.yml against the compose specification's JSON schema (check-jsonschema, with the schema it
#      ships; tests/install-deps.sh installs it into a venv);
#   2. the Dockerfiles with hadolint (their syntax, and their RUN lines with the ShellCheck it carries);
#   3. docker-compose.yml against the namespace topology's description, and each role's capabilities, sysctls and
#      healthcheck (tests/docker/compose_drift.py);
#   4. each runtime image of tests/docker/Dockerfile against what its program links (tests/docker/runtime_packages.py).
# Each check runs to the end; fails if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

tools=${FIREZONE_TEST_TOOLS:-/var/cache/firezone-tests}
status=0

for tool in check-jsonschema hadolint; do
    if [ ! -x "$tools/venv/bin/$tool" ]; then
        echo "container files: $tools/venv/bin/$tool is missing (tests/install-deps.sh installs it)" >&2
        exit 1
    fi
done
"$tools/venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml || status=1
if "$tools/venv/bin/hadolint" --no-color --config tests/docker/hadolint.yaml tests/docker/Dockerfile tests/docker/router/Dockerfile \
    tests/docker/resources/Dockerfile; then
    echo "hadolint: tests/docker/Dockerfile, tests/docker/router/Dockerfile and tests/docker/resources/Dockerfile are clean"
else
    status=1
fi

/usr/bin/python3 tests/docker/compose_drift.py docker-compose.yml tests/topology/topology.json .env \
    tests/docker/portal.json || status=1

bin=${FIREZONE_BIN_DIR:-.build/debug}
if [ -z "${FIREZONE_BIN_DIR:-}" ]; then
    for product in firezone-relay firezone-gateway firezone-headless-client firezone-portal; do
        swift build --product "$product" >/dev/null || {
            echo "runtime packages: swift build --product $product failed" >&2
            status=1
        }
    done
fi
/usr/bin/python3 tests/docker/runtime_packages.py "$bin" tests/docker/Dockerfile || status=1

exit $status
