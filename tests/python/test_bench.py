"""Smoke test of the load generator (`paddock bench run`), against both
servers: every workload, run on its own with a fresh base path (so each
one must set up everything it needs), finishes with operations done and no
errors; the same in open loop (`--rate`), whose results carry the offered
and achieved rates. Counts and fields only; timings are the benchmark's
business, not a test's."""

import json
import subprocess

import pytest

import zkservers

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
