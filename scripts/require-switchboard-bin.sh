# Sourced by the test scripts: require_switchboard_bin NAME
#
# SWITCHBOARD_BIN must name the built server executable; it is made absolute (the scripts
# change directory before starting it) and exported. NAME prefixes the messages.
require_switchboard_bin() {
  local name=$1
  if [ -z "${SWITCHBOARD_BIN:-}" ]; then
    echo "$name: SWITCHBOARD_BIN is not set; point it at the built server executable, e.g." >&2
    echo "     SWITCHBOARD_BIN=.build/debug/switchboard $0" >&2
    exit 2
  fi
  if [ ! -x "$SWITCHBOARD_BIN" ]; then
    echo "$name: SWITCHBOARD_BIN=$SWITCHBOARD_BIN is not an executable file" >&2
    exit 2
  fi
  case $SWITCHBOARD_BIN in /*) ;; *) SWITCHBOARD_BIN=$(cd "$(dirname "$SWITCHBOARD_BIN")" && pwd)/$(basename "$SWITCHBOARD_BIN") ;; esac
  export SWITCHBOARD_BIN
}
