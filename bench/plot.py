"""Figures of a bench/run_ws.py results JSON: how each peer's cost grows with work.

    bash bench/setup_peers.sh plot        # bench/.venvs/plot (matplotlib), once
    bench/.venvs/plot/bin/python bench/plot.py [RESULTS.json] [--out-dir DIR] [--prefix NAME]

Reads RESULTS.json (default bench/results/ws-latest.json, the last run of any
kind; ``make bench-curve`` passes bench/results/ws-curve-latest.json) and
writes into DIR (default bench/results/):

    PREFIX-idle.png   KiB of server RSS per idle connection vs connections
    PREFIX-calls.png  calls/s, call p99 and server CPU µs per call vs clients
    PREFIX-bcast.png  deliveries/s, p99 and server CPU µs per delivery vs clients
    PREFIX-group.png  the same for group sends vs members (when the run has them)

PREFIX is ``curve`` for a ``run_ws.py --curve`` run and ``ws`` otherwise, so
the figures of the curve keep stable names that bench/README.md embeds. One
line per peer, a log x axis (the y axis is logarithmic too when a panel spans
more than 30×); each point is the median over the run's repetitions. A point
is drawn hollow when the run judged that scenario client-bound, contended or
machine-saturated (its ``verdicts``): a lower bound for the server.

A figure whose scenarios are missing from the JSON is not written (its old
file is left alone); exit status 1 when none could be written.
"""

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
# run_ws.py's verdict kinds under which a figure is a lower bound for the server
LOWER_BOUND = ("client-bound", "machine-saturated", "contended")
PEER_STYLE = {
    "floorkit": ("tab:blue", "o"),
    "floorkit2": ("tab:cyan", "o"),
    "bare": ("dimgray", "s"),
    "channels": ("tab:red", "^"),
    "socketio": ("tab:green", "D"),
}
SPARE_COLORS = ["tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "gold"]
SPARE_MARKERS = ["v", "P", "X", "<", ">", "*"]

# family -> (scenario names, x field, x label, title, panels of (field, y label)); an
# idle scenario's x is the size asked for, and the connections open when RSS was
# read are written beside its point when fewer (capped, or closed by the server)
FAMILIES = {
    "idle": (
        r"idle\d*",
        "asked",
        "idle connections",
        "Server RSS per idle connection",
        [("kib_per_conn", "KiB RSS per connection")],
    ),
    "calls": (
        r"calls\d+",
        "clients",
        "concurrent clients",
        "Round-trip calls",
        [
            ("calls_per_s", "calls/s"),
            ("p99_ms", "call p99 (ms)"),
            ("server_us_per_op", "server CPU µs per call"),
        ],
    ),
    "bcast": (
        r"bcast\d+",
        "clients",
        "connected clients",
        "Broadcast",
        [
            ("deliveries_per_s", "deliveries/s"),
            ("p99_ms", "publish-to-receipt p99 (ms)"),
            ("server_us_per_op", "server CPU µs per delivery"),
        ],
    ),
    "group": (
        r"group\d+",
        "clients",
        "group members (as many outside)",
        "Group send",
        [
            ("deliveries_per_s", "deliveries/s"),
            ("p99_ms", "publish-to-receipt p99 (ms)"),
            ("server_us_per_op", "server CPU µs per delivery"),
        ],
    ),
}


def peer_style(peer, order):
    """(colour, marker) of a peer: fixed for the known ones, the next spare otherwise."""
    if peer in PEER_STYLE:
        return PEER_STYLE[peer]
    i = [p for p in order if p not in PEER_STYLE].index(peer)
    return SPARE_COLORS[i % len(SPARE_COLORS)], SPARE_MARKERS[i % len(SPARE_MARKERS)]


def series(doc, family):
    """peer -> [(x, {field: median}, lower_bound, note)] sorted by x, for the
    scenarios of ``family`` that produced numbers in at least one run; note is
    the number of connections measured when it differs from x, else None."""
    pattern, xfield, _xl, _t, panels = FAMILIES[family]
    name_re = re.compile(pattern + r"\Z")
    verdicts = doc.get("verdicts") or {}
    out = {}
    for peer in doc.get("peers", {}):
        by_sc = {}
        for run in doc.get("runs", []):
            if run.get("peer") != peer:
                continue
            for sc, res in run.get("scenarios", {}).items():
                if name_re.match(sc) and "error" not in res and "skipped" not in res:
                    by_sc.setdefault(sc, []).append(res)
        points = []
        for sc, results in by_sc.items():
            xs = [r.get(xfield) or r.get("clients") for r in results]
            xs = [x for x in xs if x]
            if not xs:
                continue
            x = statistics.median(xs)
            alive = [r["alive_at_measure"] for r in results if "alive_at_measure" in r]
            note = statistics.median(alive) if alive else None
            ys = {}
            for field, _label in panels:
                vals = [r[field] for r in results if r.get(field) is not None]
                if vals:
                    ys[field] = statistics.median(vals)
            kind = verdicts.get(peer, {}).get(sc, {}).get("kind")
            points.append((x, ys, kind in LOWER_BOUND, None if note in (None, x) else note))
        if points:
            out[peer] = sorted(points)
    return out


def count_label(x, _pos=None):
    return f"{x:,.0f}"


def draw(doc, family, path):
    """Write one figure; False when the JSON has nothing for it."""
    data = series(doc, family)
    if not data:
        return False
    _pattern, _xf, xlabel, title, panels = FAMILIES[family]
    order = list(doc.get("peers", {}))
    width = max(6.4, 4.6 * len(panels))
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 4.2), squeeze=False)
    any_hollow = False
    for ax, (field, ylabel) in zip(axes[0], panels, strict=True):
        ys_all = []
        xs_all = set()
        for peer, points in data.items():
            pts = [(x, ys[field], low, note) for x, ys, low, note in points if field in ys]
            if not pts:
                continue
            color, marker = peer_style(peer, order)
            style = {"marker": marker, "ms": 7, "color": color, "markeredgewidth": 1.6}
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            ax.plot(xs, ys, lw=1.6, label=peer, **style)
            hollow = [(x, y) for x, y, low, _n in pts if low]
            if hollow:
                any_hollow = True
                ax.plot(*zip(*hollow, strict=True), ls="", markerfacecolor="white", **style)
            for x, y, _low, note in pts:
                if note is not None:
                    ax.annotate(
                        f"{note:,.0f} open",
                        (x, y),
                        textcoords="offset points",
                        xytext=(-4, 8),
                        ha="right",
                        fontsize=7,
                        color=color,
                    )
            ys_all += ys
            xs_all.update(xs)
        ax.set_xscale("log")
        ax.set_xticks(sorted(xs_all))
        ax.xaxis.set_major_formatter(FuncFormatter(count_label))
        ax.xaxis.set_minor_formatter(NullFormatter())
        positive = [y for y in ys_all if y > 0]
        if positive and max(positive) / min(positive) > 30:
            ax.set_yscale("log")
        else:
            top = max(ys_all, default=0)
            ax.set_ylim(bottom=0, top=top * 1.15 if top > 0 else 1)
            if top >= 1000:
                ax.yaxis.set_major_formatter(FuncFormatter(count_label))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if any_hollow:
        handles.append(
            Line2D([], [], color="gray", marker="o", ls="", markerfacecolor="white", ms=7)
        )
        labels.append("hollow: client-bound or contended\n(a lower bound for the server)")
    axes[0][0].legend(handles, labels, fontsize=8, loc="best")
    fig.suptitle(f"{title}\n{subtitle(doc)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def subtitle(doc):
    cfg = doc.get("config", {})
    drv = (doc.get("driver") or {}).get("kind", "?")
    cpus = (doc.get("machine") or {}).get("cpus", "?")
    runs = cfg.get("runs", "?")
    return (
        f"run_ws.py{' --curve' if cfg.get('curve') else ''}, {doc.get('started_utc', '?')} UTC, "
        f"{runs} run{'s' if runs != 1 else ''}, {drv} driver, {cpus} cores"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("results", nargs="?", default=str(RESULTS / "ws-latest.json"))
    ap.add_argument("--out-dir", default=str(RESULTS))
    ap.add_argument("--prefix", help="file name prefix (default: curve for a --curve run, else ws)")
    args = ap.parse_args(argv)
    try:
        doc = json.loads(Path(args.results).read_text())
    except (OSError, ValueError) as exc:
        print(f"plot.py: cannot read {args.results}: {exc}", file=sys.stderr)
        return 2
    prefix = args.prefix or ("curve" if doc.get("config", {}).get("curve") else "ws")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrote = []
    for family in FAMILIES:
        path = out_dir / f"{prefix}-{family}.png"
        if draw(doc, family, path):
            wrote.append(path)
    for path in wrote:
        print(f"wrote {path}")
    if not wrote:
        print(f"plot.py: nothing to plot in {args.results}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
