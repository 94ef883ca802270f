"""Durability across server restarts (clean SIGTERM and SIGKILL), snapshots,
and sessions that outlive a restart.  Each test has its own server."""

import re
import threading
import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, KazooState
from kazoo.retry import KazooRetry
from kazoo.protocol.serialization import Create
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

import zkwire

WAIT = 30.0


def client(srv, **kw):
    kw.setdefault("timeout", 10.0)
    kw.setdefault("connection_retry", KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5))
    c = KazooClient(srv.connect, **kw)
    c.start(timeout=15)
    return c


def stop(c):
    try:
        c.stop()
    finally:
        c.close()


def snapshot_tree(c, path="/"):
    """{path: (data, stat-without-times, acl)} for everything below `path`."""
    out = {}

    def walk(p):
        data, st = c.get(p)
        acl, _ = c.get_acls(p)
        out[p] = (data, st, sorted((a.perms, a.id.scheme, a.id.id) for a in acl))
        for k in c.get_children(p):
            walk(p.rstrip("/") + "/" + k)

    walk(path)
    return out


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_data_survives_restart(fresh_server, hard):
    srv = fresh_server()
    c = client(srv)
    try:
        c.create("/app/a", b"alpha", makepath=True)
        c.create("/app/b", b"beta", acl=[make_digest_acl("u", "p", all=True)])
        c.create("/app/seq-", sequence=True)
        c.create("/app/seq-", sequence=True)
        c.set("/app/a", b"alpha2")
        c.delete("/app/seq-0000000002")
        tx = c.transaction()
        tx.create("/app/tx1", b"1")
        tx.set_data("/app/a", b"alpha3")
        tx.commit()
        c.add_auth("digest", "u:p")
        before = snapshot_tree(c, "/app")
        last_zxid = c.exists("/app/tx1").czxid
    finally:
        stop(c)
    srv.restart(hard=hard)
    c = client(srv, auth_data=[("digest", "u:p")])
    try:
        after = snapshot_tree(c, "/app")
        assert after == before
        # counters carry on: sequence numbers and zxids
        assert c.create("/app/seq-", sequence=True) == "/app/seq-0000000005"
        assert c.create("/app/new").startswith("/app/new")
        assert c.exists("/app/new").czxid > last_zxid
    finally:
        stop(c)


def _replayed_at_last_start(srv) -> int:
    """The txn count of the last 'recovered ... (N txns replayed)' log line."""
    lines = [l for l in srv.log_path.read_text(errors="replace").splitlines()
             if "txns replayed" in l]
    assert lines, srv.log_tail()
    return int(re.search(r"\((\d+) txns replayed\)", lines[-1]).group(1))


def _snapshot_zxids(srv) -> list:
    return sorted(int(p.name.split(".")[1], 16)
                  for p in (srv.data_dir / "paddock-1").glob("snapshot.*")
                  if not p.name.endswith(".tmp"))


@pytest.mark.paddock_only
@pytest.mark.parametrize("on", [True, False], ids=["default", "off"])
def test_stopping_writes_a_snapshot(fresh_server, on):
    """A SIGTERM-ed paddock snapshots its tree (paddock.snapshotOnShutdown,
    default yes), so the next start replays nothing; off, it replays its log."""
    srv = fresh_server(extra_cfg=None if on else {"paddock.snapshotOnShutdown": "false"})
    c = client(srv)
    try:
        c.create("/s")
        for i in range(200):
            c.create(f"/s/n{i:03d}", b"x" * 100)
        c.set("/s", b"after")
        last = c.exists("/s").mzxid
        before = snapshot_tree(c, "/s")
    finally:
        stop(c)
    srv.restart()
    # The session's close came after the last write: the snapshot is at or
    # after it, and restarting replays nothing when it is on.
    if on:
        assert _snapshot_zxids(srv)[-1] > last
        assert _replayed_at_last_start(srv) == 0
    else:
        assert all(z < last for z in _snapshot_zxids(srv))
        assert _replayed_at_last_start(srv) > 200
    c = client(srv)
    try:
        assert snapshot_tree(c, "/s") == before
        c.create("/s/more")
    finally:
        stop(c)
    srv.restart()
    if on:
        # Nothing happened since that start: no second snapshot of one zxid.
        count = len(_snapshot_zxids(srv))
        srv.restart()
        assert len(_snapshot_zxids(srv)) == count
        assert _replayed_at_last_start(srv) == 0


def test_many_writes_with_snapshots(fresh_server):
    srv = fresh_server(extra_cfg={"snapCount": "100"})
    c = client(srv)
    try:
        c.create("/bulk")
        for batch in range(6):
            tx = c.transaction()
            for i in range(100):
                tx.create(f"/bulk/n{batch:02d}-{i:03d}", str(i).encode())
            tx.commit()
        for i in range(0, 300):
            c.set(f"/bulk/n00-{i % 100:03d}", f"v{i}".encode())
        for i in range(50):
            c.delete(f"/bulk/n05-{i:03d}")
        before = snapshot_tree(c, "/bulk")
    finally:
        stop(c)
    srv.restart(hard=True)
    c = client(srv)
    try:
        assert snapshot_tree(c, "/bulk") == before
        assert len(c.get_children("/bulk")) == 550
    finally:
        stop(c)


def test_session_survives_restart(fresh_server):
    srv = fresh_server()
    c = client(srv, timeout=20.0)
    try:
        sid = c.client_id[0]
        c.create("/eph", b"mine", ephemeral=True)
        lost, back = threading.Event(), threading.Event()

        def listener(state):
            if state == KazooState.SUSPENDED:
                lost.set()
            elif state == KazooState.CONNECTED and lost.is_set():
                back.set()
            elif state == KazooState.LOST:
                back.set()

        c.add_listener(listener)
        # SIGKILL: a clean shutdown can leave a moment where the old listener
        # accepts but never answers, and kazoo's connect attempt then waits out
        # its whole connect timeout.
        srv.restart(hard=True)
        assert back.wait(WAIT), "client did not reconnect"
        assert c.client_id[0] == sid, "the session was restored from disk"
        assert c.exists("/eph").ephemeralOwner == sid
    finally:
        stop(c)


def test_sessions_not_coming_back_expire_after_restart(fresh_server):
    srv = fresh_server()
    owner = zkwire.RawClient(srv.host, srv.port, timeout_ms=2000)
    owner.check(Create("/left-behind", b"", OPEN_ACL_UNSAFE, zkwire.EPHEMERAL))
    owner.close()  # gone for good, session not closed
    srv.restart()
    c = client(srv)
    try:
        gone = threading.Event()
        if c.exists("/left-behind",
                    watch=lambda ev: gone.set() if ev.type == EventType.DELETED else None):
            assert gone.wait(WAIT), "restored session never expired"
    finally:
        stop(c)


def test_restart_keeps_zxid_monotonic(fresh_server):
    srv = fresh_server()
    c = client(srv)
    try:
        c.create("/z1")
        z1 = c.exists("/z1").czxid
    finally:
        stop(c)
    for _ in range(2):
        srv.restart()
    c = client(srv)
    try:
        c.create("/z2")
        assert c.exists("/z2").czxid > z1
        assert "Node count: 7" in srv.four_letter("srvr")
    finally:
        stop(c)
