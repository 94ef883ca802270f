"""Sessions: timeout negotiation, resume, expiry (ephemerals go, watches
fire elsewhere), close, and a real client seeing its session expire."""

import queue
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.serialization import Create, Exists, GetData
from kazoo.protocol.states import EventType, KazooState
from kazoo.security import OPEN_ACL_UNSAFE

import zkwire
from tcpproxy import TcpProxy

# Servers in this suite run with tickTime=2000, minSessionTimeout=1000,
# maxSessionTimeout=60000.  ZooKeeper expires sessions on tick boundaries, so
# a 1 s session can take up to ~2 ticks to go.
EXPIRY_DEADLINE = 15.0


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)  # poll interval
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.parametrize("asked,granted", [(100, 1000), (5000, 5000), (10**7, 60000)])
def test_timeout_negotiation(raw, asked, granted):
    c = raw(timeout_ms=asked)
    assert c.negotiated_timeout == granted
    assert c.session_id != 0 and len(c.passwd) == 16


def test_session_ids_are_unique(raw):
    ids = {raw().session_id for _ in range(20)}
    assert len(ids) == 20


def test_resume_session_keeps_ephemerals(server, raw, zk, base):
    a = raw(timeout_ms=10000)
    hdr, path = a.call(Create(base + "/eph", b"", OPEN_ACL_UNSAFE, zkwire.EPHEMERAL))
    assert hdr.err == 0
    a.close()  # TCP gone, session not closed
    b = raw(connect=False)
    b.handshake(10000, a.session_id, a.passwd)
    assert b.session_id == a.session_id and b.negotiated_timeout == 10000
    assert zk.exists(path).ephemeralOwner == a.session_id
    hdr, _ = b.call(Exists(path, False))
    assert hdr.err == 0


def test_resume_with_wrong_password_is_refused(raw):
    a = raw(timeout_ms=10000)
    a.close()
    b = raw(connect=False)
    _, timeout, sid, _ = b.handshake(10000, a.session_id, b"\x01" * 16)
    assert timeout <= 0 and sid == 0, "bad password must look like an expired session"
    assert b.is_closed_by_peer(5)


def test_resume_unknown_session_is_refused(raw):
    b = raw(connect=False)
    _, timeout, sid, _ = b.handshake(10000, 0x7777000000000001, b"\0" * 16)
    assert timeout <= 0 and sid == 0
    assert b.is_closed_by_peer(5)


def test_expiry_removes_ephemerals_and_fires_watches(raw, zk, base):
    a = raw(timeout_ms=1000)
    hdr, path = a.call(Create(base + "/short", b"", OPEN_ACL_UNSAFE, zkwire.EPHEMERAL))
    assert hdr.err == 0
    events = queue.Queue()
    assert zk.exists(path, watch=events.put) is not None
    zk.get_children(base, watch=events.put)
    a.close()  # stop talking: no pings, no closeSession
    got = {(events.get(timeout=EXPIRY_DEADLINE).type) for _ in range(2)}
    assert got == {EventType.DELETED, EventType.CHILD}
    assert zk.exists(path) is None
    # The expired session can no longer be resumed.
    b = raw(connect=False)
    _, timeout, sid, _ = b.handshake(1000, a.session_id, a.passwd)
    assert timeout <= 0 and sid == 0


def test_pings_keep_a_session_alive(raw, zk, base):
    a = raw(timeout_ms=1000)
    hdr, path = a.call(Create(base + "/alive", b"", OPEN_ACL_UNSAFE, zkwire.EPHEMERAL))
    end = time.monotonic() + 3.5  # several session timeouts
    while time.monotonic() < end:
        hdr, _ = a.ping()
        assert hdr.xid == -2 and hdr.err == 0
        time.sleep(0.25)  # the ping interval under test, not synchronisation
    assert zk.exists(path).ephemeralOwner == a.session_id


def test_close_session_removes_ephemerals_at_once(raw, zk, base):
    a = raw()
    hdr, path = a.call(Create(base + "/bye", b"", OPEN_ACL_UNSAFE, zkwire.EPHEMERAL))
    w = queue.Queue()
    zk.exists(path, watch=w.put)
    hdr, _ = a.close_session()
    assert hdr.err == 0
    assert zk.exists(path) is None
    assert w.get(timeout=10).type == EventType.DELETED


def test_ephemerals_deleted_on_close_fire_watches_on_other_client(make_client, base):
    owner, watcher = make_client(), make_client()
    paths = [owner.create(f"{base}/e{i}", ephemeral=True) for i in range(5)]
    evs = queue.Queue()
    for p in paths:
        watcher.get(p, watch=evs.put)
    watcher.get_children(base, watch=evs.put)
    owner.stop()
    got = [evs.get(timeout=10) for _ in range(6)]
    assert sorted((e.type, e.path) for e in got) == sorted(
        [(EventType.DELETED, p) for p in paths] + [(EventType.CHILD, base)])
    assert watcher.get_children(base) == []


def test_request_after_session_closed_by_other_connection(server, make_client, base):
    """Closing a session from a second connection (same id and password)
    removes its ephemerals, and the first client's next reconnect finds the
    session expired (kazoo reports LOST)."""
    a = make_client()
    p = a.create(base + "/mine", ephemeral=True)
    states = queue.Queue()
    a.add_listener(states.put)
    sid, pw = a.client_id
    b = zkwire.RawClient(server.host, server.port, connect=False)
    b.handshake(10000, sid, pw)
    assert b.session_id == sid
    b.close_session()
    watcher = make_client()
    assert watcher.exists(p) is None
    end = time.monotonic() + 20
    seen = []
    while KazooState.LOST not in seen:
        seen.append(states.get(timeout=max(0.1, end - time.monotonic())))
    # kazoo then starts a brand new session by itself
    wait_for(lambda: a.connected and a.client_id and a.client_id[0] != sid, 20,
             "kazoo to start a new session")


@pytest.mark.slow
def test_kazoo_session_expires_behind_a_partition(server, make_client, base):
    """A real client cut off (TCP proxy blocked) longer than its session
    timeout: the server expires the session, another client sees the ephemeral
    go, and the first client gets LOST then a new session."""
    proxy = TcpProxy(server.host, server.port)
    try:
        states = queue.Queue()
        a = make_client(hosts=proxy.address, timeout=1.0)
        a.add_listener(states.put)
        sid = a.client_id[0]
        p = a.create(base + "/partitioned", ephemeral=True)
        other = make_client()
        gone = threading.Event()
        other.exists(p, watch=lambda ev: gone.set() if ev.type == EventType.DELETED else None)
        proxy.block()
        assert gone.wait(EXPIRY_DEADLINE), "server did not expire the cut-off session"
        proxy.unblock()
        seen = []
        end = time.monotonic() + 20
        while KazooState.LOST not in seen:
            seen.append(states.get(timeout=max(0.1, end - time.monotonic())))
        assert KazooState.SUSPENDED in seen
        wait_for(lambda: a.connected and a.client_id[0] != sid, 20, "a new session")
        with pytest.raises(NoNodeError):
            a.get(p)
    finally:
        proxy.close()


def test_many_concurrent_sessions(server, base):
    clients = []
    try:
        for i in range(30):
            c = zkwire.RawClient(server.host, server.port, timeout_ms=10000)
            clients.append(c)
            hdr, _ = c.call(Create(f"{base}/s{i}", b"", OPEN_ACL_UNSAFE, zkwire.EPHEMERAL))
            assert hdr.err == 0
        for i, c in enumerate(clients):
            hdr, (data, st) = c.call(GetData(f"{base}/s{i}", False))
            assert st.ephemeralOwner == c.session_id
    finally:
        for c in clients:
            try:
                c.close_session()
            except OSError:
                pass
    k = KazooClient(server.connect)
    k.start()
    try:
        assert k.get_children(base) == []
    finally:
        k.stop()
        k.close()
