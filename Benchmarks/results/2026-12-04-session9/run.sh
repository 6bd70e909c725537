#!/bin/bash
# Ninth session: two consecutive fanout compares, idle, ramp; the connect split and the
# login alone for the four servers and NIO's floor (Benchmarks/NIOFloor); PostgreSQL mode
# against memory, alternating. Nothing else may run meanwhile (2 cores: server CPU 0,
# load generator CPU 1).
cd /work/main
B=/work/shared/bench/run
SB=${SB:-/tmp/sb-s9}
FLOOR=${FLOOR:-/tmp/nio-floor}
out=${OUT:-/tmp/bench-s9}; mkdir -p $out
for i in 1 2; do
  $B compare fanout -clients 1000 -senders 10 -rate 100 -duration 10s -- sh -c "exec $SB serve --port \"\$PORT\" --log-level warning" > $out/compare-fanout-$i.txt 2>&1
done
$B compare idle -clients 19000 -local-ips 8 -- sh -c "exec $SB serve --port \"\$PORT\" --log-level warning" > $out/compare-idle.txt 2>&1 || true
$B compare ramp -clients 1000 -senders 10 -- sh -c "exec $SB serve --port \"\$PORT\" --log-level warning" > $out/compare-ramp.txt 2>&1 || true
command_for() {
  case $1 in
    ours) echo "$SB serve --port PORT --log-level warning";;
    nio-floor) echo "$FLOOR PORT 256";;
    gorilla) echo /tmp/switchboard-bench/bin/gorilla-peer;;
    node) echo "env NODE_PATH=/usr/share/nodejs node /work/shared/bench/peers/node-ws/server.js";;
    uws) echo "/tmp/switchboard-bench/uws-venv/bin/python /work/shared/bench/peers/uws/server.py";;
  esac
}
for n in ours nio-floor gorilla node uws; do
  Benchmarks/connect-split.sh $n "$(command_for $n)" 19000 >> $out/connect-split.txt 2>&1
done
# The login alone (wrk, keep-alive, 32 connections, 5 s). Our login limiter allows 2,000
# attempts per second per address; wrk's all come from 127.0.0.1, so ours runs with the
# limit raised (LOGIN_NOLIMIT_BIN, a build with LoginRateLimiter.Limits raised; not committed).
for n in ours nio-floor gorilla node uws; do
  cmd=$(command_for $n)
  [ $n = ours ] && cmd="${LOGIN_NOLIMIT_BIN:-$SB} serve --port PORT --log-level warning"
  Benchmarks/login-cost.sh $n "$cmd" >> $out/login-cost.txt 2>&1
done

# PostgreSQL mode against memory, our server alone, alternating, four pairs.
one() { # label extra-args...
  label=$1; shift
  taskset -c 0 $SB serve --port 19500 --log-level warning "$@" > $out/ab-$label.log 2>&1 &
  spid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null -X POST -d '{"username":"probe","password":""}' http://127.0.0.1:19500/login && break; sleep 0.2; done
  taskset -c 1 $B load fanout -url http://127.0.0.1:19500 -pid $spid -clients 1000 -senders 10 -rate 100 -duration 10s > $out/postgres-ab-$label.txt 2>&1
  kill $spid; wait $spid 2>/dev/null
}
for pair in 1 2 3 4; do
  one mem-$pair
  psql -h 127.0.0.1 -p 55432 -U postgres -qc "DROP DATABASE IF EXISTS bench$pair" -c "CREATE DATABASE bench$pair" postgres
  one pg-$pair --postgres "postgres://postgres@127.0.0.1:55432/bench$pair"
done
