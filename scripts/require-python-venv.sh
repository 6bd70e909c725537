# Sourced by the test scripts: require_python_venv NAME VENV REQUIREMENTS IMPORTS
#
# Makes VENV a venv with REQUIREMENTS installed, reused while it still satisfies them (the
# requirements file is stamped into it, and IMPORTS, a Python import statement's module
# list, must import); a broken venv is made anew. NAME prefixes the messages.
require_python_venv() {
  local name=$1 venv=$2 reqs=$3 imports=$4
  local stamp="$venv/.requirements"
  if { [ -x "$venv/bin/python" ] && cmp -s "$reqs" "$stamp" &&
    "$venv/bin/python" -c "import $imports" 2>/dev/null; }; then
    return 0
  fi
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    echo "$name: creating venv $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  echo "$name: installing $reqs into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$stamp"
}
