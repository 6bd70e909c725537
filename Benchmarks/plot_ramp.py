#!/usr/bin/env python3
"""Plot deliveries/s against p99 latency for every server of one `bench/run compare ramp` run.

    Benchmarks/plot.sh RESULTS_DIR [OUT.png]

RESULTS_DIR is the folder `compare` prints at the end (it holds project.json, gorilla.json,
node.json, uws.json). Each point is one ramp step; hollow markers are steps that failed the
ramp's limits (loss > 0.1 %, p99 > limit, or a lost connection).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"project": "Switchboard", "gorilla": "Go + Gorilla", "node": "Node + ws", "uws": "uWebSockets"}
STYLES = {"project": ("tab:red", "o"), "gorilla": ("tab:blue", "s"), "node": ("tab:green", "^"), "uws": ("tab:purple", "D")}


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    results = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(results, "ramp.png")
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    plotted = 0
    for name in ["project", "gorilla", "node", "uws"]:
        path = os.path.join(results, f"{name}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            data = json.load(f)
        steps = [s for s in data.get("steps") or [] if s.get("deliveries_per_s")]
        if not steps:
            continue
        color, marker = STYLES[name]
        xs = [s["deliveries_per_s"] for s in steps]
        ys = [max(s["latency_ms"]["p99"], 0.01) for s in steps]
        ax.plot(xs, ys, color=color, linewidth=1, alpha=0.6)
        for s, x, y in zip(steps, xs, ys):
            passed = s.get("pass", True)
            ax.scatter([x], [y], color=color if passed else "white", edgecolors=color, marker=marker, s=36, zorder=3)
        best = data.get("max_deliveries_per_s") or 0
        ax.scatter([], [], color=color, marker=marker, label=f"{LABELS[name]} (max {best / 1000:,.0f}k/s)")
        plotted += 1
    if plotted == 0:
        print(f"no ramp results in {results}", file=sys.stderr)
        return 1
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(200, color="grey", linestyle="--", linewidth=0.8)
    ax.text(ax.get_xlim()[0] * 1.05, 210, "p99 limit 200 ms", color="grey", fontsize=8)
    ax.set_xlabel("deliveries per second (log)")
    ax.set_ylabel("p99 latency, ms (log)")
    ax.set_title("Fan-out ramp: 1000 clients in one room, 10 senders (one run, same machine)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
