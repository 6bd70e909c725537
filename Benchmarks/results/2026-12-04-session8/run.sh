#!/bin/bash
# Two consecutive fanout compares, then ramp, then connect splits. Nothing else may run.
cd /work/main
B=/work/shared/bench/run
SB=/tmp/sb-s8
out=/tmp/bench-s8; mkdir -p $out
for i in 1 2; do
  $B compare fanout -clients 1000 -senders 10 -rate 100 -duration 10s -- sh -c "exec $SB serve --port \"\$PORT\" --log-level warning" > $out/fanout-$i.txt 2>&1
done
$B compare idle -clients 19000 -local-ips 8 -- sh -c "exec $SB serve --port \"\$PORT\" --log-level warning" > $out/idle.txt 2>&1 || true
for n in ours gorilla node uws; do
  case $n in
    ours) cmd="$SB serve --port PORT --log-level warning";;
    gorilla) cmd=/tmp/switchboard-bench/bin/gorilla-peer;;
    node) cmd="env NODE_PATH=/usr/share/nodejs node /work/shared/bench/peers/node-ws/server.js";;
    uws) cmd="/tmp/switchboard-bench/uws-venv/bin/python /work/shared/bench/peers/uws/server.py";;
  esac
  Benchmarks/connect-split.sh $n "$cmd" 10000 >> $out/connect-split.txt 2>&1
done

# PostgreSQL mode against memory, our server alone, alternating, two pairs.
one() { # label extra-args...
  label=$1; shift
  taskset -c 0 $SB serve --port 19500 --log-level warning "$@" > $out/ab-$label.log 2>&1 &
  spid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null -X POST -d '{"username":"probe","password":""}' http://127.0.0.1:19500/login && break; sleep 0.2; done
  taskset -c 1 $B load fanout -url http://127.0.0.1:19500 -pid $spid -clients 1000 -senders 10 -rate 100 -duration 10s > $out/ab-$label.txt 2>&1
  kill $spid; wait $spid 2>/dev/null
}
for pair in 1 2; do
  one mem-$pair
  psql -h 127.0.0.1 -p 55432 -U postgres -qc "DROP DATABASE IF EXISTS bench$pair" -c "CREATE DATABASE bench$pair" postgres
  one pg-$pair --postgres "postgres://postgres@127.0.0.1:55432/bench$pair"
done

