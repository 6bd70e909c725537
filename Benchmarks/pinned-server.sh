# Sourced by connect-split.sh and login-cost.sh: starts "$cmd" on CPU 0 (as `compare` does),
# logging to "$server_log", waits until `POST /login` answers on $port, and sets `pid` to the
# process that listens there (a peer may run under a wrapper). The caller's EXIT trap stops it.
taskset -c 0 bash -c "exec $cmd" >"$server_log" 2>&1 &
started=$!
for _ in $(seq 1 300); do
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"username":"probe","password":""}' \
    "http://127.0.0.1:$port/login" && break
  sleep 0.2
done
pid=$(ss -ltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
