#!/usr/bin/env bash
# Browser end-to-end tests of the chat page (tests/e2e) against a built server.
#
#   SWITCHBOARD_BIN=.build/release/<executable> scripts/e2e.sh [extra pytest args]
#
# Idempotent set-up, then the run:
#   - Debian's chromium and chromium-driver, installed if missing (needs root);
#   - a venv at ${E2E_VENV:-/tmp/switchboard-e2e-venv} with tests/e2e/requirements.txt,
#     reused while it still satisfies the requirements;
#   - pytest -q tests/e2e. Screenshots and logs go to ${E2E_ARTIFACTS:-tests/e2e/artifacts}.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

if [ -z "${SWITCHBOARD_BIN:-}" ]; then
  echo "e2e: SWITCHBOARD_BIN is not set; point it at the built server executable, e.g." >&2
  echo "     SWITCHBOARD_BIN=.build/release/<executable> scripts/e2e.sh" >&2
  exit 2
fi
if [ ! -x "$SWITCHBOARD_BIN" ]; then
  echo "e2e: SWITCHBOARD_BIN=$SWITCHBOARD_BIN is not an executable file" >&2
  exit 2
fi
# the server runs from the repository root, so resolve a relative path now
case $SWITCHBOARD_BIN in /*) ;; *) SWITCHBOARD_BIN=$(cd "$(dirname "$SWITCHBOARD_BIN")" && pwd)/$(basename "$SWITCHBOARD_BIN") ;; esac
export SWITCHBOARD_BIN

# --- browser and driver from Debian ---
source "$repo/scripts/require-debian-packages.sh"
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  install_missing e2e chromium chromium-driver
fi

# --- python venv with selenium and pytest ---
source "$repo/scripts/require-python-venv.sh"
venv=${E2E_VENV:-/tmp/switchboard-e2e-venv}
require_python_venv e2e "$venv" tests/e2e/requirements.txt "selenium, pytest"

export E2E_ARTIFACTS=${E2E_ARTIFACTS:-$repo/tests/e2e/artifacts}
mkdir -p "$E2E_ARTIFACTS"
echo "e2e: server $SWITCHBOARD_BIN; artifacts in $E2E_ARTIFACTS" >&2
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/e2e "$@"
