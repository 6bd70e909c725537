#!/usr/bin/env python3
"""One node in memory vs one, two and three nodes on PostgreSQL, at the same fan-out load.

    Benchmarks/cluster.py --server /tmp/sb-release --admin-url postgres://postgres@127.0.0.1:PORT/postgres \
        [--rates 100,1000] [--clients 1000] [--duration 10s] [--out results.json]

For each setup and rate: a fresh database, the nodes started on CPU 0 (PostgreSQL's
postmaster is moved to CPU 0 too, so its backends are), `switchboard bench fanout` on
CPU 1 with its clients spread over the nodes round-robin (logins on the first node, so
tickets cross nodes). Server CPU is read from /proc for every node and every PostgreSQL
process, before and after the run; "per delivery" divides it by the deliveries the bench
counted. Ratios between setups come from one invocation; absolute numbers vary by machine.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def parse_seconds(text):
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    if text.endswith("m"):
        return float(text[:-1]) * 60
    return float(text)


def postgres_pids():
    out = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def postgres_cpu():
    return sum(cpu_seconds(p) for p in postgres_pids())


def psql(admin_url, sql):
    subprocess.run(["psql", admin_url, "-qAtc", sql], check=True, capture_output=True)


def wait_healthy(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200:
                return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"node on {port} never became healthy")


def run_setup(args, nodes, rate):
    database_url = None
    if nodes > 0:
        name = f"sb_bench_{int(time.time() * 1000)}"
        psql(args.admin_url, f"CREATE DATABASE {name}")
        parts = urllib.parse.urlsplit(args.admin_url)
        database_url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    ports, servers = [], []
    for index in range(max(nodes, 1)):
        port = free_port()
        command = ["taskset", "-c", "0", args.server, "serve", "--port", str(port), "--log-level", "warning"]
        if database_url:
            command += ["--postgres", database_url, "--node-name", f"bench{index}"]
        servers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(f"/tmp/cluster-bench-node{index}.log", "w")))
        ports.append(port)
    try:
        for port in ports:
            wait_healthy(port)
        bench = ["taskset", "-c", "1", args.server, "bench", "fanout", "--json", "--clients", str(args.clients),
                 "--senders", "10", "--rate", str(rate), "--duration", args.duration, "--threads", "1"]
        for port in ports:
            bench += ["--url", f"http://127.0.0.1:{port}"]
        # CPU is read over the sending phase only: from the bench's "sending" line to the
        # end of its duration plus a second for the last deliveries (connecting, joining
        # and the closing at the end are not what is compared).
        process = subprocess.Popen(bench, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr_lines = []
        before_nodes = before_pg = after_nodes = after_pg = None
        for line in process.stderr:
            stderr_lines.append(line)
            if before_nodes is None and line.strip().startswith("sending"):
                before_nodes = sum(cpu_seconds(s.pid) for s in servers)
                before_pg = postgres_cpu() if nodes else 0.0
                time.sleep(parse_seconds(args.duration) + 1)
                after_nodes = sum(cpu_seconds(s.pid) for s in servers)
                after_pg = postgres_cpu() if nodes else 0.0
        stdout = process.stdout.read()
        process.wait()
        if process.returncode != 0 or before_nodes is None:
            print("".join(stderr_lines[-30:]), file=sys.stderr)
            before_nodes = after_nodes = before_pg = after_pg = 0.0
        report = json.loads(stdout)
        fanout = report.get("fanout") or {}
        deliveries = fanout.get("received_deliveries") or 0
        return {
            "setup": "memory, 1 node" if nodes == 0 else f"postgres, {nodes} node{'s' if nodes > 1 else ''}",
            "rate": rate,
            "clients": args.clients,
            "send_rate": fanout.get("send_rate"),
            "deliveries_per_s": fanout.get("deliveries_per_s"),
            "loss_pct": fanout.get("loss_pct"),
            "p50_ms": (fanout.get("latency_ms") or {}).get("p50"),
            "p99_ms": (fanout.get("latency_ms") or {}).get("p99"),
            "max_ms": (fanout.get("latency_ms") or {}).get("max"),
            "node_cpu_s": after_nodes - before_nodes,
            "postgres_cpu_s": after_pg - before_pg,
            "node_us_per_delivery": (after_nodes - before_nodes) * 1e6 / deliveries if deliveries else None,
            "total_us_per_delivery": (after_nodes - before_nodes + after_pg - before_pg) * 1e6 / deliveries if deliveries else None,
            "seq_gaps": report.get("seq_gaps"),
            "seq_reorders": report.get("seq_reorders"),
            "error": report.get("error"),
        }
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True)
    parser.add_argument("--admin-url", required=True)
    parser.add_argument("--rates", default="100,1000")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--setups", default="0,1,2,3", help="0 = in memory; n = n nodes on PostgreSQL")
    parser.add_argument("--out")
    args = parser.parse_args()
    postmaster = min(postgres_pids(), default=None)
    if postmaster:
        subprocess.run(["taskset", "-acp", "0", str(postmaster)], capture_output=True)
    rows = []
    for rate in [float(r) for r in args.rates.split(",")]:
        for nodes in [int(n) for n in args.setups.split(",")]:
            row = run_setup(args, nodes, rate)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    print("\n| setup | msg/s asked | msg/s sent | deliveries/s | loss % | p50 ms | p99 ms | node CPU µs/delivery | + PostgreSQL µs/delivery |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        def f(v, d=2):
            return "–" if v is None else f"{v:.{d}f}"
        print(f"| {r['setup']} | {r['rate']:.0f} | {f(r['send_rate'], 0)} | {f(r['deliveries_per_s'], 0)} | {f(r['loss_pct'])} | "
              f"{f(r['p50_ms'], 1)} | {f(r['p99_ms'], 1)} | {f(r['node_us_per_delivery'])} | {f(r['total_us_per_delivery'])} |")


if __name__ == "__main__":
    main()
