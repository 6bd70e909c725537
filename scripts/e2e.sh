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

source "$repo/scripts/require-switchboard-bin.sh"
require_switchboard_bin e2e

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
