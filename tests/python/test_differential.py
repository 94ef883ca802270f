"""Differential test: the same long operation script (tests/diff/zkdiff.py)
against a fresh Apache ZooKeeper 3.8 and a fresh paddock; the normalised
transcripts must be identical step by step.

On a mismatch the first divergence is printed with its context, and both
full transcripts are written next to the servers' logs (path in the
failure message) for `diff -u`."""

import json
import os
import shutil
import tempfile

import pytest

import zkdiff
import zkservers
from conftest import TARGETS


def write_transcript(path, script, records):
    with open(path, "w") as f:
        for i, (step, rec) in enumerate(zip(script, records)):
            f.write(f"[{i}] {zkdiff.describe(step)}\n    {json.dumps(rec, sort_keys=True)}\n")


@pytest.fixture(scope="module")
def script():
    return zkdiff.build_script()


@pytest.fixture(scope="module")
def reference(script):
    """The script's transcript on a fresh ZooKeeper."""
    srv = zkservers.ZooKeeperServer()
    srv.start()
    try:
        return zkdiff.run_and_normalize(srv.connect, script)
    finally:
        srv.destroy()


def test_reference_is_deterministic(script, reference):
    """Validates the harness itself: two fresh ZooKeepers give the same
    transcript, so any paddock difference is a real difference."""
    if "zookeeper" not in TARGETS:
        pytest.skip("zookeeper target not selected")
    srv = zkservers.ZooKeeperServer()
    srv.start()
    try:
        again = zkdiff.run_and_normalize(srv.connect, script)
    finally:
        srv.destroy()
    report = zkdiff.first_divergence(script, reference, again)
    assert report is None, report


def test_paddock_matches_zookeeper(script, reference):
    if "paddock" not in TARGETS:
        pytest.skip("paddock target not selected")
    srv = zkservers.PaddockServer()
    try:
        srv.start()
        got = zkdiff.run_and_normalize(srv.connect, script)
    except BaseException:
        srv.destroy()  # the error carries the log tail
        raise
    srv.stop()
    report = zkdiff.first_divergence(script, reference, got)
    if report is not None:
        out = tempfile.mkdtemp(prefix="paddock-diff-")
        write_transcript(os.path.join(out, "zookeeper.txt"), script, reference)
        write_transcript(os.path.join(out, "paddock.txt"), script, got)
        shutil.copy(srv.log_path, os.path.join(out, "paddock-server.log"))
        srv.destroy()
        n = zkdiff.count_mismatches(reference, got)
        pytest.fail(f"{report}\ndiffering steps (later ones may follow from earlier ones):\n"
                    f"{zkdiff.divergence_list(script, reference, got)}\n"
                    f"{n} of {len(script)} steps differ; full transcripts: "
                    f"diff -u {out}/zookeeper.txt {out}/paddock.txt\n"
                    f"paddock log: {out}/paddock-server.log", pytrace=False)
    srv.destroy()
