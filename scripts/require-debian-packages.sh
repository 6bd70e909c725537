# Sourced by test scripts: install_missing WHO PACKAGE... installs Debian packages when a
# check failed, as root (CI runs as root); otherwise it says what to install and exits 2.
install_missing() {
  local who=$1
  shift
  if [ "$(id -u)" != 0 ]; then
    echo "$who: $* missing; install as root (apt-get install $*)" >&2
    exit 2
  fi
  echo "$who: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}
