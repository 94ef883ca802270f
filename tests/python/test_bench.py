"""Smoke test of the load generator (`paddock bench run`), against both
servers: every workload, run on its own with a fresh base path (so each
one must set up everything it needs), finishes with operations done and no
errors; the same in open loop (`--rate`), whose results carry the offered
and achieved rates. Counts and fields only; timings are the benchmark's
business, not a test's."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import zkservers

REPO = Path(__file__).resolve().parents[2]

WORKLOADS = ["create", "delete", "set", "get", "exists", "mixed", "churn", "watch", "populate"]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_each_workload_runs_alone(server, workload):
    out = subprocess.run(
        [zkservers.paddock_bin(), "bench", "run", "--connect", server.connect,
         "--workloads", workload, "--sessions", "2", "--depth", "2", "--watchers", "3",
         "--keys", "20", "--count", "300", "--warmup", "0", "--duration", "0.3",
         "--base", f"/bench-smoke-{workload}", "--json", "--quiet", "--threads", "1"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    [r] = [r for r in doc["results"] if r["workload"] == workload]
    assert r["ops"] > 0, r
    assert r["errors"] == 0, r


def bench(server, *args):
    """Runs `paddock bench run --json` on `server`; returns the parsed document."""
    out = subprocess.run(
        [zkservers.paddock_bin(), "bench", "run", "--connect", server.connect,
         "--sessions", "2", "--depth", "2", "--watchers", "3", "--keys", "20",
         "--json", "--quiet", "--threads", "1", *args],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_paced(doc, rates):
    assert [r["workload"] for r in doc["results"]] == list(rates)
    for r in doc["results"]:
        want = rates[r["workload"]]
        assert r["ops"] > 0, r
        assert r["errors"] == 0 and r["lost_sessions"] == 0, r
        assert r["rate_target"] == want, r
        assert r["rate_achieved"] == r["ops_per_s"], r
        assert isinstance(r["behind"], bool), r


def test_rate_for_every_workload(server):
    doc = bench(server, "--workloads", "set,get", "--rate", "200", "--warmup", "0",
                "--duration", "1", "--base", "/bench-rate-all")
    assert doc["rate"] == "200"
    check_paced(doc, {"set": 200, "get": 200})


def test_rate_per_workload(server):
    # delete at a rate still drains what its window left (closed loop,
    # unrecorded); churn's op is a create or a delete; watch's an event.
    rates = {"create": 200, "delete": 150, "churn": 200, "watch": 150}
    spec = ",".join(f"{w}={r}" for w, r in rates.items())
    doc = bench(server, "--workloads", "create,delete,exists,churn,watch", "--rate", spec,
                "--warmup", "0.2", "--duration", "1", "--base", "/bench-rate-each")
    closed = [r for r in doc["results"] if r["workload"] == "exists"]
    assert closed and "rate_target" not in closed[0], closed
    doc["results"] = [r for r in doc["results"] if r["workload"] != "exists"]
    check_paced(doc, rates)


@pytest.mark.parametrize("spec", ["0", "create=-1", "create=5,create=6", "nope=5", "get=5"])
def test_bad_rate_is_refused(spec):
    out = subprocess.run(
        [zkservers.paddock_bin(), "bench", "run", "--workloads", "create", "--rate", spec],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out
    assert "--rate" in out.stderr, out.stderr


def result(workload, ops_per_s, p99, rate=None):
    r = {"workload": workload, "ops": int(ops_per_s * 2), "errors": 0, "seconds": 2.0,
         "ops_per_s": ops_per_s, "latency_ms": {"p50": p99 / 4, "p90": p99 / 2, "p99": p99,
                                                 "p999": p99 * 2, "max": p99 * 3,
                                                 "mean": p99 / 4},
         "lost_sessions": 0, "note": "", "server_cpu_s": 1.0,
         "server_cpu_us_per_op": 1e6 / (ops_per_s * 2), "client_cpu_s": 0.5,
         "error_codes": {}, "extra": {}}
    if rate is not None:
        r.update(rate_target=rate, rate_achieved=ops_per_s,
                 behind=not 0.95 <= ops_per_s / rate <= 1.05)
    return r


def write_run(path, label, results, **top):
    doc = {"label": label, "connect": "127.0.0.1:1", "sessions": 16, "depth": 8,
           "value_size": 100, "keys": 10000, "watchers": 100, "warmup_s": 1.0,
           "duration_s": 2.0, **top, "results": results}
    path.write_text(json.dumps(doc))


def report(out):
    run = subprocess.run([sys.executable, str(REPO / "bench" / "report.py"), str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_report_shows_the_same_load_pass_beside_the_closed_loop_one(tmp_path):
    write_run(tmp_path / "rep1-zookeeper.json", "zookeeper",
              [result("create", 20000, 30.0), result("get", 100000, 5.0)])
    write_run(tmp_path / "rep1-paddock.json", "paddock",
              [result("create", 160000, 6.0), result("get", 500000, 0.5)])
    closed = report(tmp_path)
    assert "at the same load" not in closed
    (tmp_path / "sameload.json").write_text(json.dumps(
        {"fraction": 0.5, "rates": {"create": 10000, "get": 50000}}))
    spec = "create=10000,get=50000"
    # ZooKeeper's create falls behind in rep 1 and works off a backlog in rep 2.
    for rep, zk_create in ((1, 9000), (2, 11000)):
        write_run(tmp_path / f"sameload-rep{rep}-zookeeper.json", "zookeeper",
                  [result("create", zk_create, 90.0, 10000), result("get", 50000, 3.0, 50000)],
                  rate=spec)
        write_run(tmp_path / f"sameload-rep{rep}-paddock.json", "paddock",
                  [result("create", 10000, 3.0, 10000), result("get", 49990, 1.5, 50000)],
                  rate=spec)
    both = report(tmp_path)
    # The closed-loop part is as it was without the same-load pass.
    assert both.startswith(closed.split("### Against the targets")[0].rstrip())
    assert ("### Latency at the same load (R ops/s offered to each, 0.5 of the slower "
            "server's throughput)") in both
    create = next(line for line in both.splitlines() if line.startswith("| create | 10,000 |"))
    assert "10,000 **behind 2/2**" in create, create  # the median of 9,000 and 11,000
    assert "| create: p99 ms | 30.00 | 6.00 |" in both
    assert "| create: p99 ms at the same load (ZK fell behind) | 90.00 | 3.00 | 0.033 |" in both
    assert "| get: p99 ms at the same load | 3.00 | 1.50 | 0.500 | <= 1/3 | **no** |" in both
    assert "| get: p99.9 ms at the same load | 6.00 | 3.00 |" in both
    assert "ZK create rep 1: 9,000 of 10,000 ops/s offered (90%): fell behind" in both
    assert ("ZK create rep 2: 11,000 of 10,000 ops/s offered (110%): was behind when the "
            "window opened and caught up inside it") in both
