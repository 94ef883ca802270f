"""Smoke test of the load generator (`paddock bench run`), against both
servers: every workload, run on its own with a fresh base path (so each
one must set up everything it needs), finishes with operations done and no
errors. Counts only; timings are the benchmark's business, not a test's."""

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
