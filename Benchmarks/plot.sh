#!/usr/bin/env bash
# Plot a `bench/run compare ramp` result folder: Benchmarks/plot.sh RESULTS_DIR [OUT.png]
# matplotlib lives in a venv outside the repository (${PLOT_VENV:-/tmp/switchboard-plot-venv}).
set -euo pipefail
venv=${PLOT_VENV:-/tmp/switchboard-plot-venv}
if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "matplotlib==3.10.*"
fi
exec "$venv/bin/python" "$(dirname "$0")/plot_ramp.py" "$@"
