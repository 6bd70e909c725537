#!/usr/bin/env bash
# Chaos soak: 1,000+ churning WebSocket clients against one server on 127.0.0.1,
# healthy clients checking exactly-once, in-order delivery, then the live count
# back to 0 and RSS within 10 % of its warm baseline. See scripts/soak.py.
#
#   SWITCHBOARD_BIN=.build/release/<executable> scripts/soak.sh [extra soak.py args]
#
#   SOAK_SECONDS   run time (default 600; CI runs 60)
#   SOAK_VENV      venv with scripts/soak-requirements.txt (default /tmp/switchboard-soak-venv)
#   ARTIFACTS      where soak-server.log goes (default /tmp)
#   SOAK_SERVER_ARGS  extra server flags, appended to the defaults below
#
# Exit code: soak.py's (0 PASS, 1 FAIL, 2 usage or set-up error).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

source "$repo/scripts/require-switchboard-bin.sh"
require_switchboard_bin soak.sh

# --- python venv (idempotent: reused while it matches the requirements) ---
venv=${SOAK_VENV:-/tmp/switchboard-soak-venv}
reqs=scripts/soak-requirements.txt
stamp="$venv/.soak-requirements"
if ! { [ -x "$venv/bin/python" ] && cmp -s "$reqs" "$stamp" &&
  "$venv/bin/python" -c 'import websockets.asyncio.client' 2>/dev/null; }; then
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    echo "soak.sh: creating venv $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  echo "soak.sh: installing $reqs into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$stamp"
fi

# --- open files: raise the soft limit to the hard one (thousands of sockets) ---
hard=$(ulimit -Hn)
ulimit -Sn "$hard" 2>/dev/null || true

# --- the server, on a free port, with short heartbeats and small queues ---
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
ping_interval=2 ping_timeout=4 close_timeout=2 max_queued=200 retention=200
artifacts=${ARTIFACTS:-/tmp}
mkdir -p "$artifacts"
log="$artifacts/soak-server.log"
# shellcheck disable=SC2086 # SOAK_SERVER_ARGS is a list of flags
"$SWITCHBOARD_BIN" serve --host 127.0.0.1 --port "$port" \
  --ping-interval "$ping_interval" --ping-timeout "$ping_timeout" --close-timeout "$close_timeout" \
  --max-queued-messages "$max_queued" --max-queued-bytes 1048576 --room-retention "$retention" \
  ${SOAK_SERVER_ARGS:-} >"$log" 2>&1 &
server=$!

stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server" 2>/dev/null; then
      echo "soak.sh: server $server did not stop within 15 s of SIGTERM; killing it" >&2
      kill -KILL "$server" 2>/dev/null || true
    fi
  fi
  wait "$server" 2>/dev/null || true
}
trap stop_server EXIT

ready=
for _ in $(seq 1 150); do
  if ! kill -0 "$server" 2>/dev/null; then break; fi
  if "$venv/bin/python" - "$port" <<'PY' 2>/dev/null; then ready=1; break; fi
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
opener.open(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1).read()
PY
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "soak.sh: the server did not come up on 127.0.0.1:$port; its log ($log):" >&2
  tail -n 30 "$log" >&2 || true
  echo "soak: FAIL server did not start"
  exit 1
fi
echo "soak.sh: server pid $server on 127.0.0.1:$port, log $log" >&2

set +e
"$venv/bin/python" scripts/soak.py --port "$port" --server-pid "$server" \
  --duration "${SOAK_SECONDS:-600}" \
  --ping-interval "$ping_interval" --ping-timeout "$ping_timeout" --close-timeout "$close_timeout" \
  --max-queued-messages "$max_queued" --room-retention "$retention" "$@"
status=$?
set -e
exit "$status"
