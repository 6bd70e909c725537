#!/usr/bin/env bash
# Multi-node tests (tests/cluster): three `switchboard serve` processes on one private
# PostgreSQL 15, real WebSocket clients spread over them, faults injected for real (the
# database stopped and killed, the listener connection terminated, a node killed with -9).
#
#   SWITCHBOARD_BIN=.build/debug/switchboard scripts/cluster-tests.sh [extra pytest args]
#
# Idempotent set-up, then the run:
#   - Debian's postgresql (the tests start their own instance with scripts/postgres.sh) and
#     nginx (the load-balancer check; skipped without it), installed if missing (needs root);
#   - a venv at ${CLUSTER_VENV:-/tmp/switchboard-cluster-venv} with tests/cluster/requirements.txt,
#     reused while it still satisfies the requirements;
#   - pytest tests/cluster. Server logs go to ${CLUSTER_ARTIFACTS:-tests/cluster/artifacts}.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

source "$repo/scripts/require-switchboard-bin.sh"
require_switchboard_bin cluster-tests

# --- PostgreSQL and nginx from Debian ---
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] && command -v psql >/dev/null || missing+=(postgresql)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "cluster-tests: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d-less containers: the packages' own services are never used here
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "cluster-tests: ${missing[*]} missing and not root: install them (apt-get install ${missing[*]})" >&2
  fi
fi

# --- python venv with pytest and websockets ---
source "$repo/scripts/require-python-venv.sh"
venv=${CLUSTER_VENV:-/tmp/switchboard-cluster-venv}
require_python_venv cluster-tests "$venv" tests/cluster/requirements.txt "pytest, websockets.asyncio.client"

export CLUSTER_ARTIFACTS=${CLUSTER_ARTIFACTS:-$repo/tests/cluster/artifacts}
mkdir -p "$CLUSTER_ARTIFACTS"
echo "cluster-tests: server $SWITCHBOARD_BIN; artifacts in $CLUSTER_ARTIFACTS" >&2
cd tests/cluster
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider --durations=10 "$@"
