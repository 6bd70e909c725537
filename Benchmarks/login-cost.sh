#!/usr/bin/env bash
# Server CPU per `POST /login` alone, split into user and kernel time: wrk (Debian's `wrk`)
# sends guest logins over 32 keep-alive connections for 5 s; the server is pinned to CPU 0
# and wrk to CPU 1, as `compare` does. The figures are the server's utime and stime
# (/proc/PID/stat) over the run, divided by the logins answered.
#
# usage: Benchmarks/login-cost.sh NAME "server command with PORT in it"
#   Benchmarks/login-cost.sh uws "/tmp/switchboard-bench/uws-venv/bin/python ../shared/bench/peers/uws/server.py"
# Switchboard's login limiter allows 2,000 attempts a second per address and wrk's all come
# from 127.0.0.1: refused logins (429) are counted and reported, and are cheaper than real ones.
set -eu
name=$1
port=${PORT_BASE:-19400}
cmd=${2//PORT/$port}
export PORT=$port # the peers read their port from the environment
script=$(mktemp --suffix=.lua)
cat >"$script" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"b1","password":""}'
wrk.headers["Content-Type"] = "application/json"
LUA
trap 'kill ${started:-} 2>/dev/null; wait 2>/dev/null; rm -f "$script" "$script.server"' EXIT
server_log="$script.server"
. "$(dirname "$0")/pinned-server.sh"
read -r user0 sys0 < <(awk '{print $14, $15}' /proc/"$pid"/stat)
report=$(taskset -c 1 wrk -t1 -c32 -d5s -s "$script" "http://127.0.0.1:$port/login")
read -r user1 sys1 < <(awk '{print $14, $15}' /proc/"$pid"/stat)
logins=$(echo "$report" | awk '/requests in/ {print $1}')
refused=$(echo "$report" | awk '/Non-2xx/ {print $NF}')
ticks=$(getconf CLK_TCK)
awk -v name="$name" -v n="$logins" -v refused="${refused:-0}" -v u="$((user1 - user0))" -v s="$((sys1 - sys0))" -v hz="$ticks" \
  'BEGIN { printf "%-10s logins %d (refused %d)  user %.1f us  kernel %.1f us per login\n", name, n, refused, u * 1e6 / hz / n, s * 1e6 / hz / n }'
