#!/usr/bin/env bash
# A private, throw-away PostgreSQL 15 for tests: its own data folder, a free port on
# 127.0.0.1, trust authentication for the superuser `postgres`, nothing shared with a
# system cluster.
#
#   scripts/postgres.sh start DIR     initdb into DIR/data on first use (a free port, kept in
#                                     DIR/port), start, wait until it accepts connections, print
#                                     the superuser URL postgres://postgres@127.0.0.1:PORT/postgres
#                                     (also written to DIR/url). Again after stop/kill: same port,
#                                     same data.
#   scripts/postgres.sh stop DIR      fast shutdown (sessions ended, data kept)
#   scripts/postgres.sh kill DIR      immediate shutdown: every process ends at once without a
#                                     checkpoint, as in a crash; the next start runs recovery
#   scripts/postgres.sh restart DIR   stop, then start on the same port
#   scripts/postgres.sh pause DIR     SIGSTOP the server and its backends: connections hang
#                                     instead of being refused (a network partition)
#   scripts/postgres.sh resume DIR    SIGCONT them
#   scripts/postgres.sh status DIR    exit 0 while it accepts connections
#   scripts/postgres.sh url DIR       print the URL
#   scripts/postgres.sh psql DIR ARGS psql as the superuser on database postgres
#   scripts/postgres.sh destroy DIR   kill it if running, then remove DIR
#
# PostgreSQL refuses to run as root. As root (CI), the server runs as the Debian `postgres`
# user (created if missing), and Debian's postgresql package is installed if missing. As
# another user, it runs as that user. PG_BIN overrides /usr/lib/postgresql/15/bin.
#
# Tuned for tests, not for production: fsync=off keeps what a commit wrote in the kernel's
# page cache, which survives the server's own crash (kill) but not the machine's;
# synchronous_commit stays on, so a commit is in the kernel before the client hears of it and
# an acknowledged transaction survives `kill`.
set -euo pipefail

pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
superuser=postgres

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "postgres.sh: $*" >&2; exit 1; }

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac
data=$dir/data
log=$dir/postgres.log

# Who runs the server: root may not, so root hands it to the `postgres` account.
if [ "$(id -u)" = 0 ]; then
  runner=postgres
  as_runner() { (cd "$dir" && runuser -u "$runner" -- "$@"); }
else
  runner=$(id -un)
  as_runner() { (cd "$dir" && "$@"); }
fi

ensure_installed() {
  [ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL 15 is not installed ($pg_bin/initdb missing); install Debian's postgresql package as root"
  echo "postgres.sh: installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  [ -x "$pg_bin/initdb" ] || die "installed postgresql, but $pg_bin/initdb is still missing (another major version? set PG_BIN)"
}

ensure_runner() {
  [ "$(id -u)" = 0 ] || return 0
  id -u "$runner" >/dev/null 2>&1 && return 0
  useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$runner"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

postmaster_pid() {
  [ -f "$data/postmaster.pid" ] && head -1 "$data/postmaster.pid"
}

running() { as_runner "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

init_cluster() {
  mkdir -p "$dir"
  # The server's account must reach DIR: every folder above it needs search permission.
  local up=$dir
  while [ "$up" != / ]; do
    up=$(dirname "$up")
    if [ "$(id -u)" = 0 ] && ! runuser -u "$runner" -- test -x "$up"; then
      die "$runner cannot enter $up; put DIR somewhere it can (e.g. under /tmp)"
    fi
  done
  # a unix socket path is limited to 107 bytes
  [ ${#dir} -le 80 ] || die "DIR is too long for PostgreSQL's unix socket ($dir); use a shorter path"
  if [ "$(id -u)" = 0 ]; then chown "$runner" "$dir"; fi
  chmod 700 "$dir"
  as_runner "$pg_bin/initdb" -D "$data" -U "$superuser" --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  local port
  port=$(free_port)
  echo "$port" >"$dir/port"
  # Loopback only; the socket lives in DIR so nothing touches /var/run/postgresql.
  cat >>"$data/postgresql.conf" <<EOF

# scripts/postgres.sh: private test instance
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
fsync = off
full_page_writes = off
synchronous_commit = on
shared_buffers = 64MB
logging_collector = off
log_min_messages = warning
log_connections = off
log_disconnections = off
EOF
  # trust only for loopback TCP and the private socket
  cat >"$data/pg_hba.conf" <<EOF
local all all trust
host  all all 127.0.0.1/32 trust
EOF
}

url() { echo "postgres://$superuser@127.0.0.1:$(cat "$dir/port")/postgres"; }

start() {
  ensure_installed
  ensure_runner
  [ -f "$data/PG_VERSION" ] || init_cluster
  if running; then url; return 0; fi
  # a postmaster.pid left by a killed server whose processes are all gone is harmless:
  # pg_ctl start checks whether that pid still lives
  if ! as_runner "$pg_bin/pg_ctl" -D "$data" -l "$log" -w -t 30 start >/dev/null; then
    tail -20 "$log" >&2 || true
    die "pg_ctl start failed; see $log"
  fi
  url >"$dir/url"
  url
}

stop_mode() {
  running || return 0
  # a paused server cannot shut down
  signal_all CONT
  as_runner "$pg_bin/pg_ctl" -D "$data" -m "$1" -w -t 30 stop >/dev/null
}

# The postmaster and its direct children (backends, background workers), by pid.
signal_all() {
  local pid
  pid=$(postmaster_pid) || return 0
  [ -n "$pid" ] || return 0
  kill -s "$1" "$pid" 2>/dev/null || return 0
  for child in $(ps -o pid= --ppid "$pid"); do kill -s "$1" "$child" 2>/dev/null || true; done
}

case $cmd in
  start) start ;;
  stop) stop_mode fast ;;
  kill) stop_mode immediate ;;
  restart) stop_mode fast; start ;;
  pause) running || die "not running"; signal_all STOP ;;
  resume) signal_all CONT ;;
  status) running ;;
  url) url ;;
  psql) exec psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cat "$dir/port")" -U "$superuser" -d postgres "$@" ;;
  destroy) stop_mode immediate 2>/dev/null || true; rm -rf "$dir" ;;
  *) usage ;;
esac
