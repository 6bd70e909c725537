#!/usr/bin/env bash
# usage: utsys.sh "server cmd with PORT" [clients] [loadgen args]: user/sys ms per connect
set -u
port=19340
B=/work/shared/bench/run
n=${2:-10000}
ulimit -n 20000
cmd=${1//PORT/$port}
taskset -c 0 bash -c "exec $cmd" >/tmp/srv-u.log 2>&1 &
sp=$!
for i in $(seq 1 200); do curl -s -o /dev/null -X POST -d '{}' http://127.0.0.1:$port/login && break; sleep 0.2; done
pid=$(ss -ltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
read u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
cs0=$(grep -h ctxt /proc/$pid/task/*/status | awk '{s+=$2} END {print s}')
taskset -c 1 $B load idle -url http://127.0.0.1:$port -pid $pid -clients $n -local-ips 8 -hold 1s ${3:-} > /tmp/idle-u.txt 2>&1
read u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
cs1=$(grep -h ctxt /proc/$pid/task/*/status | awk '{s+=$2} END {print s}')
grep -E "cpu/connect" /tmp/idle-u.txt
echo "user ms/conn $(echo "($u1-$u0)*10/$n" | bc -l | cut -c1-6)  sys ms/conn $(echo "($s1-$s0)*10/$n" | bc -l | cut -c1-6)  ctxsw/conn $(echo "($cs1-$cs0)/$n" | bc -l | cut -c1-5) (incl. hold)"
kill $sp; wait 2>/dev/null
