#!/usr/bin/env python3
"""Summarise a bench/compare.sh output dir: one Markdown table with both
servers and their ratios (paddock / ZooKeeper), the targets, and plot.tsv
for `paddock bench plot`.

Each number is the median over repetitions (for max latency too).
A run of `compare.sh --ensemble N` (OUT_DIR/mode.json) is labelled as an
N-node ensemble: server CPU and RSS are then sums over the N processes, and
exec to serving is from exec of the first node until the whole ensemble
serves with one leader. The same-load pass (OUT_DIR/sameload.json and
sameload-repN-KIND.json: both servers offered the same ops/s, open loop)
gets a section of its own and p99/p99.9 rows in the targets table.
Standard library only.

usage: bench/report.py OUT_DIR
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

SERVERS = ("zookeeper", "paddock")
SHORT = {"zookeeper": "ZK", "paddock": "paddock"}
ORDER = ("create", "delete", "set", "get", "exists", "mixed", "churn", "watch", "populate")
# The shares of its offered rate outside which `paddock bench --rate` marks
# an open-loop run behind (below: it fell behind; above: it worked off a
# backlog from before its window), for the report's text.
BEHIND_SHARE = 0.95
CAUGHT_UP_SHARE = 1.05


def load(out: Path):
    runs = {s: {} for s in SERVERS}  # server -> workload -> [result]
    for f in sorted(out.glob("rep*-*.json")):
        doc = json.loads(f.read_text())
        for r in doc["results"]:
            runs[doc["label"]].setdefault(r["workload"], []).append(r)
    for f in sorted(out.glob("populate*-*.json")):
        doc = json.loads(f.read_text())
        for r in doc["results"]:
            runs[doc["label"]].setdefault("populate", []).append(r)
    events = []
    ev = out / "events.jsonl"
    if ev.exists():
        events = [json.loads(line) for line in ev.read_text().splitlines() if line.strip()]
    return runs, events


def load_same(out: Path):
    """The same-load pass: (sameload.json or None, server -> workload -> [result]);
    each result gets "_rep", its repetition."""
    spec = out / "sameload.json"
    runs = {s: {} for s in SERVERS}
    if not spec.exists():
        return None, runs
    for f in sorted(out.glob("sameload-rep*-*.json")):
        doc = json.loads(f.read_text())
        rep = int(f.name[len("sameload-rep"):].split("-")[0])
        for r in doc["results"]:
            runs[doc["label"]].setdefault(r["workload"], []).append(dict(r, _rep=rep))
    return json.loads(spec.read_text()), runs


def behind(r):
    """Whether an open-loop result did not keep to its schedule (the bench
    decides and writes it beside rate_target)."""
    return r["behind"]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def metric(results, key):
    if key.startswith("lat:"):
        return med(r["latency_ms"][key[4:]] for r in results)
    return med(r.get(key) for r in results)


def fmt(v, digits=2):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def ratio(p, z):
    if p is None or z in (None, 0):
        return None
    return p / z


def workload_table(runs):
    cols = [("ops/s", "ops_per_s"), ("p50 ms", "lat:p50"), ("p99 ms", "lat:p99"),
            ("p99.9 ms", "lat:p999"), ("max ms", "lat:max"),
            ("srv CPU µs/op", "server_cpu_us_per_op")]
    head = ["workload"]
    for name, _ in cols:
        head += [f"ZK {name}", f"paddock {name}", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = [w for w in ORDER if w in runs["zookeeper"] or w in runs["paddock"]]
    rows = {}
    for w in order:
        cells = [w]
        cells += metric_cells(runs, w, cols, rows)
        lines.append("| " + " | ".join(cells) + " |")
    return lines, rows, error_notes(runs)


def metric_cells(runs, w, cols, rows):
    """ZK, paddock and ratio cells of workload w for each column; records
    each (ZK, paddock) pair in rows."""
    cells = []
    for _, key in cols:
        z = metric(runs["zookeeper"].get(w, []), key)
        p = metric(runs["paddock"].get(w, []), key)
        rows[(w, key)] = (z, p)
        cells += [fmt(z), fmt(p), fmt(ratio(p, z))]
    return cells


def error_notes(runs):
    """One line per server and workload with errors, lost sessions or notes."""
    out = []
    for s in SERVERS:
        for w, rs in runs[s].items():
            e = sum(r["errors"] for r in rs)
            lost = sum(r["lost_sessions"] for r in rs)
            why = {r["note"] for r in rs if r["note"]}
            if e or lost or why:
                out.append(f"- {SHORT[s]} {w}: {e} errors, {lost} lost sessions"
                           + (f"; notes: {'; '.join(sorted(why))}" if why else ""))
    return out


LATENCY_COLS = [("p50 ms", "lat:p50"), ("p99 ms", "lat:p99"), ("p99.9 ms", "lat:p999"),
                ("max ms", "lat:max")]


def same_load_table(spec, runs):
    """The same-load section's table, its rows {(workload, key): (zk, paddock)},
    the workloads where a server fell behind {workload: [short names]}, and
    notes (errors, lost sessions, repetitions that fell behind)."""
    head = ["workload", "offered ops/s", "ZK ops/s", "paddock ops/s"]
    cols = LATENCY_COLS + [("srv CPU µs/op", "server_cpu_us_per_op")]
    for name, _ in cols:
        head += [f"ZK {name}", f"paddock {name}", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows, fell, notes = {}, {}, []
    for w in [w for w in ORDER if w in spec["rates"]]:
        cells = [w, fmt(spec["rates"][w])]
        for s in SERVERS:
            rs = runs[s].get(w, [])
            late = [r for r in rs if behind(r)]
            cell = fmt(metric(rs, "ops_per_s"))
            if late:
                cell += f" **behind {len(late)}/{len(rs)}**"
                fell.setdefault(w, []).append(SHORT[s])
            cells.append(cell)
            for r in late:
                share = r["ops_per_s"] / r["rate_target"]
                why = ("fell behind" if share < 1 else
                       "was behind when the window opened and caught up inside it")
                notes.append(f"- {SHORT[s]} {w} rep {r['_rep']}: {fmt(r['ops_per_s'])} of "
                             f"{fmt(r['rate_target'])} ops/s offered ({100 * share:.0f}%): "
                             f"{why}; its latencies include the backlog")
        cells += metric_cells(runs, w, cols, rows)
        lines.append("| " + " | ".join(cells) + " |")
    notes += error_notes(runs)
    return lines, rows, fell, notes


def event_values(events, server, name, key):
    return [e[key] for e in events if e["server"] == server and e["event"] == name and key in e]


def server_table(runs, events, rows, nodes=0, same_rows=None, same_fell=None):
    lines = ["| metric | ZK | paddock | paddock/ZK | target | met |", "|---|---|---|---|---|---|"]

    def add(name, z, p, target, ok):
        r = ratio(p, z)
        met = "-" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| {name} | {fmt(z)} | {fmt(p)} | {fmt(r, 3)} | {target} | {met} |")

    for w in [k[0] for k in rows if k[1] == "ops_per_s"]:
        z, p = rows[(w, "ops_per_s")]
        add(f"{w}: throughput ops/s", z, p, ">= 2x", None if None in (z, p) else p >= 2 * z)
    for w in [k[0] for k in rows if k[1] == "lat:p99"]:
        z, p = rows[(w, "lat:p99")]
        add(f"{w}: p99 ms", z, p, "<= 1/3", None if None in (z, p) else p * 3 <= z)
    for key, name in (("lat:p99", "p99"), ("lat:p999", "p99.9")):
        for w in [k[0] for k in (same_rows or {}) if k[1] == key]:
            z, p = same_rows[(w, key)]
            late = (same_fell or {}).get(w)
            mark = f" ({' and '.join(late)} fell behind)" if late else ""
            add(f"{w}: {name} ms at the same load{mark}", z, p, "<= 1/3",
                None if None in (z, p) else p * 3 <= z)
    for w in [k[0] for k in rows if k[1] == "server_cpu_us_per_op"]:
        z, p = rows[(w, "server_cpu_us_per_op")]
        add(f"{w}: server CPU µs/op", z, p, "<= 1/3", None if None in (z, p) else p * 3 <= z)
    z = max(event_values(events, "zookeeper", "peak", "hwm_kib"), default=None)
    p = max(event_values(events, "paddock", "peak", "hwm_kib"), default=None)
    rss_name = ("peak RSS MiB (after the workloads)" if not nodes
                else f"peak RSS MiB, sum of the {nodes} servers (after the workloads)")
    add(rss_name, z and z / 1024, p and p / 1024, "<= 1/10",
        None if None in (z, p) else p * 10 <= z)
    z = med(event_values(events, "zookeeper", "startup", "ms"))
    p = med(event_values(events, "paddock", "startup", "ms"))
    if nodes:
        add(f"exec of {nodes} servers to ensemble serving (one leader), empty dirs, ms",
            z, p, "-", None)
    else:
        add("exec to serving, empty dir, ms", z, p, "paddock <= 20 ms",
            None if p is None else p <= 20)
    sizes = sorted({int(e["event"][len("recovery"):]) for e in events
                    if e["event"].startswith("recovery")})
    for n in sizes:
        z = med(event_values(events, "zookeeper", f"recovery{n}", "ms"))
        p = med(event_values(events, "paddock", f"recovery{n}", "ms"))
        target, ok = ("-", None)
        if n >= 1_000_000:
            target, ok = "paddock < 1000 ms", None if p is None else p < 1000
        what = (f"recovery of {n:,} znodes, exec of {nodes} servers to ensemble serving ms"
                if nodes else f"recovery of {n:,} znodes, exec to serving ms")
        add(what + " (after SIGTERM)", z, p, target, ok)
        z = med(event_values(events, "zookeeper", f"crash{n}", "ms"))
        p = med(event_values(events, "paddock", f"crash{n}", "ms"))
        if (z, p) != (None, None):
            ok = None if p is None or target == "-" else p < 1000
            add(what + " (after SIGKILL)", z, p, target, ok)
        z = max(event_values(events, "zookeeper", f"recovered{n}", "hwm_kib"), default=None)
        p = max(event_values(events, "paddock", f"recovered{n}", "hwm_kib"), default=None)
        add(f"RSS MiB after recovering {n:,} znodes", z and z / 1024, p and p / 1024,
            "-", None)
        z = max(event_values(events, "zookeeper", f"populated{n}", "hwm_kib"), default=None)
        p = max(event_values(events, "paddock", f"populated{n}", "hwm_kib"), default=None)
        add(f"peak RSS MiB populating {n:,} znodes", z and z / 1024, p and p / 1024, "-", None)
        z = max(event_values(events, "zookeeper", f"disk{n}", "kib"), default=None)
        p = max(event_values(events, "paddock", f"disk{n}", "kib"), default=None)
        add(f"data dir MiB with {n:,} znodes", z and z / 1024, p and p / 1024, "-", None)
    return lines


def plot_tsv(runs, path: Path):
    with path.open("w") as f:
        f.write("workload\tserver\tops_per_s\tp50_ms\tp99_ms\tp999_ms\n")
        for s in SERVERS:
            for w, rs in runs[s].items():
                vals = [metric(rs, k) for k in ("ops_per_s", "lat:p50", "lat:p99", "lat:p999")]
                f.write("\t".join([w, s] + [f"{v or 0:.6f}" for v in vals]) + "\n")


def leader_notes(events, name="leader"):
    notes = []
    for e in events:
        if e["event"] != name:
            continue
        if e["before"] != e["after"] or e["after"] == 0:
            notes.append(f"- {SHORT[e['server']]} rep {e['rep']}: leader changed during the "
                         f"workloads (server {e['before']} before, {e['after'] or 'none'} after)")
    return notes


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    runs, events = load(out)
    mode_file = out / "mode.json"
    nodes = json.loads(mode_file.read_text())["ensemble"] if mode_file.exists() else 0
    machine = (out / "machine.txt").read_text() if (out / "machine.txt").exists() else ""
    reps = max((len(v) for s in SERVERS for w, v in runs[s].items() if w != "populate"), default=0)
    print(f"### Machine\n\n```\n{machine.strip()}\n```\n")
    if nodes:
        print(f"Mode: **{nodes}-node ensemble** of each server (all on 127.0.0.1, fsync on); "
              f"sessions round-robin over the {nodes} client ports; server CPU and RSS summed "
              f"over the {nodes} processes; recovery restarts the whole ensemble.\n")
    first = next(iter(sorted(out.glob("rep*-*.json"))), None)
    if first:
        d = json.loads(first.read_text())
        print(f"{d['sessions']} sessions x depth {d['depth']}, {d['value_size']} B values, "
              f"{d['keys']} keys, {d['watchers']} watchers; warm-up {d['warmup_s']} s, "
              f"window {d['duration_s']} s; median of {reps} repetitions.\n")
    lines, rows, errors = workload_table(runs)
    where = f", {nodes}-node ensemble" if nodes else ""
    print(f"### Workloads{where} (ratio = paddock / ZK)\n")
    print("\n".join(lines))
    errors += leader_notes(events)
    if errors:
        print("\nErrors and notes:\n")
        print("\n".join(errors))
    spec, same_runs = load_same(out)
    same_rows, same_fell = {}, {}
    if spec and spec["rates"]:
        same_reps = max((len(v) for s in SERVERS for v in same_runs[s].values()), default=0)
        print(f"\n### Latency at the same load (R ops/s offered to each, {spec['fraction']:g} "
              f"of the slower server's throughput){where}\n")
        print(f"Per workload, R = {spec['fraction']:g} x the lower of the two servers' median "
              f"closed-loop ops/s above; a second pass (fresh servers, same order, warm-up "
              f"and window) offers R to each, open loop (`paddock bench --rate`): every "
              f"session sends on a fixed schedule, at most depth in flight, and latency runs "
              f"from each request's scheduled time, so a server that falls behind shows its "
              f"queue. Achieved ops/s below {BEHIND_SHARE:.0%} of R (or above "
              f"{CAUGHT_UP_SHARE:.0%}: a backlog from the warm-up worked off in the window) "
              f"is marked behind. "
              f"Median of {same_reps} repetitions.\n")
        lines, same_rows, same_fell, notes = same_load_table(spec, same_runs)
        print("\n".join(lines))
        notes += leader_notes(events, "sameload_leader")
        if notes:
            print("\nErrors and notes:\n")
            print("\n".join(notes))
    print(f"\n### Against the targets{where}\n")
    print("\n".join(server_table(runs, events, rows, nodes, same_rows, same_fell)))
    plot_tsv(runs, out / "plot.tsv")


if __name__ == "__main__":
    main()
