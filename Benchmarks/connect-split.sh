#!/usr/bin/env bash
# Connect cost split into user time, kernel time and context switches, for any server that
# speaks the bench protocol (issue 14 asks for it for all four). The server is pinned to
# CPU 0 and the load generator to CPU 1, as `compare` does; the figures are the server's
# utime, stime (/proc/PID/stat) and voluntary + involuntary context switches of all its
# threads (/proc/PID/task/*/status) over N connects (login + upgrade + join) and a 1 s hold.
#
# usage: Benchmarks/connect-split.sh NAME "server command with PORT in it" [clients]
#   Benchmarks/connect-split.sh ours "/tmp/sb-release serve --port PORT --log-level warning"
#   Benchmarks/connect-split.sh gorilla /tmp/switchboard-bench/bin/gorilla-peer      (peers: port from $PORT)
#   Benchmarks/connect-split.sh node "env NODE_PATH=/usr/share/nodejs node ../shared/bench/peers/node-ws/server.js"
#     (node finds `ws` only through NODE_PATH, which `run` sets for its own peers)
set -eu
name=$1
n=${3:-10000}
port=${PORT_BASE:-19340}
bench=${BENCH:-$(cd "$(dirname "$0")/../../shared/bench" && pwd)/run}
ulimit -n $((n + 1000))
cmd=${2//PORT/$port}
export PORT=$port # the peers read their port from the environment
log=$(mktemp)
trap 'kill ${started:-} 2>/dev/null; wait 2>/dev/null; rm -f "$log" "$log.server"' EXIT
server_log="$log.server"
. "$(dirname "$0")/pinned-server.sh"
switches() { grep -h ctxt_switches /proc/"$pid"/task/*/status | awk '{s += $2} END {print s}'; }
read -r user0 sys0 < <(awk '{print $14, $15}' /proc/"$pid"/stat)
switches0=$(switches)
taskset -c 1 "$bench" load idle -url "http://127.0.0.1:$port" -pid "$pid" -clients "$n" -local-ips 8 -hold 1s >"$log" 2>&1
read -r user1 sys1 < <(awk '{print $14, $15}' /proc/"$pid"/stat)
switches1=$(switches)
ticks=$(getconf CLK_TCK)
awk -v name="$name" -v n="$n" -v u="$((user1 - user0))" -v s="$((sys1 - sys0))" -v c="$((switches1 - switches0))" -v hz="$ticks" \
  -v total="$(grep -o 'cpu/connect *[0-9.]*' "$log" | awk '{print $2}')" \
  -v rss="$(grep -o 'rss per conn *[0-9.]*' "$log" | awk '{print $4}')" \
  'BEGIN { printf "%-10s clients %d  loadgen ms/connect %s  user %.3f ms  kernel %.3f ms  context switches %.2f per connect  (rss/conn %s KiB)\n",
           name, n, total, u * 1000 / hz / n, s * 1000 / hz / n, c / n, rss }'
