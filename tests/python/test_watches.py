"""One-shot watches: data, exists and child watches, their event types,
that they fire once, and that they fire for changes made by other sessions."""

import queue
import threading
import time

import pytest
import zkwire
from kazoo.protocol.serialization import GetData
from kazoo.protocol.states import Callback, EventType, KazooState

WAIT = 10.0


class Recorder:
    """A watch callback that records events in a queue."""

    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, event):
        self.q.put(event)

    def next(self, timeout=WAIT):
        """The next server event.  Events of type NONE are made by kazoo itself
        for connection state changes, not sent by the server: skip them."""
        end = time.monotonic() + timeout
        while True:
            try:
                ev = self.q.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no watch event within {timeout}s") from None
            if ev.type != EventType.NONE:
                return ev

    def assert_quiet(self, zk, path):
        """No further event.  A round trip through the same session proves the
        server has sent every event it queued before the reply (events and
        replies share one ordered stream); a marker put on kazoo's callback
        queue then proves every event received so far has been handed to its
        watcher (kazoo runs watch callbacks in order on one thread)."""
        zk.sync(path)
        zk.exists("/")
        flushed = threading.Event()
        zk.handler.dispatch_callback(Callback("watch", flushed.set, ()))
        assert flushed.wait(WAIT)
        assert self.q.empty(), f"unexpected event {self.q.queue[0]}"


def test_data_watch_changed_fires_once(zk, make_client, base):
    p = zk.create(base + "/d", b"0")
    other = make_client()
    w = Recorder()
    zk.get(p, watch=w)
    other.set(p, b"1")
    ev = w.next()
    assert (ev.type, ev.path, ev.state) == (EventType.CHANGED, p, KazooState.CONNECTED)
    other.set(p, b"2")
    w.assert_quiet(zk, p)


def test_data_watch_deleted(zk, make_client, base):
    p = zk.create(base + "/d")
    w = Recorder()
    zk.get(p, watch=w)
    make_client().delete(p)
    ev = w.next()
    assert (ev.type, ev.path) == (EventType.DELETED, p)


def test_exists_watch_on_missing_node_created(zk, make_client, base):
    p = base + "/later"
    w = Recorder()
    assert zk.exists(p, watch=w) is None
    make_client().create(p, b"x")
    ev = w.next()
    assert (ev.type, ev.path) == (EventType.CREATED, p)
    make_client().set(p, b"y")
    w.assert_quiet(zk, p)


def test_exists_watch_on_existing_node(zk, make_client, base):
    p = zk.create(base + "/e")
    w = Recorder()
    assert zk.exists(p, watch=w) is not None
    make_client().set(p, b"changed")
    ev = w.next()
    assert (ev.type, ev.path) == (EventType.CHANGED, p)


def test_exists_watch_then_deleted(zk, make_client, base):
    p = zk.create(base + "/e")
    w = Recorder()
    zk.exists(p, watch=w)
    make_client().delete(p)
    assert w.next().type == EventType.DELETED


def test_child_watch_create_and_delete_child(zk, make_client, base):
    other = make_client()
    w = Recorder()
    assert zk.get_children(base, watch=w) == []
    other.create(base + "/kid")
    ev = w.next()
    assert (ev.type, ev.path) == (EventType.CHILD, base)
    # fired once: a second child does not fire the old watch
    other.create(base + "/kid2")
    w.assert_quiet(zk, base)
    w2 = Recorder()
    zk.get_children(base, watch=w2)
    other.delete(base + "/kid")
    ev = w2.next()
    assert (ev.type, ev.path) == (EventType.CHILD, base)


def test_child_watch_not_fired_by_data_change(zk, make_client, base):
    w = Recorder()
    zk.create(base + "/c")
    zk.get_children(base, watch=w)
    make_client().set(base, b"parent data")
    make_client().set(base + "/c", b"child data")
    w.assert_quiet(zk, base)


def test_child_watch_on_deleted_parent(zk, make_client, base):
    p = zk.create(base + "/parent")
    w = Recorder()
    zk.get_children(p, watch=w)
    make_client().delete(p)
    ev = w.next()
    assert (ev.type, ev.path) == (EventType.DELETED, p)


def test_data_watch_not_fired_by_child_change(zk, make_client, base):
    w = Recorder()
    zk.get(base, watch=w)
    make_client().create(base + "/child")
    w.assert_quiet(zk, base)


def test_watch_fired_by_own_session(zk, base):
    p = zk.create(base + "/own")
    w = Recorder()
    zk.get(p, watch=w)
    zk.set(p, b"mine")
    assert w.next().type == EventType.CHANGED


def test_several_watchers_and_sessions(make_client, base):
    writer = make_client()
    p = writer.create(base + "/shared")
    watchers = []
    for _ in range(4):
        c = make_client()
        w1, w2 = Recorder(), Recorder()
        c.get(p, watch=w1)
        c.exists(p, watch=w2)
        watchers += [w1, w2]
    writer.set(p, b"go")
    for w in watchers:
        assert w.next().type == EventType.CHANGED


def test_watches_on_many_paths(zk, make_client, base):
    other = make_client()
    recs = {}
    for i in range(50):
        p = zk.create(f"{base}/n{i}")
        recs[p] = Recorder()
        zk.get(p, watch=recs[p])
    for p in recs:
        other.set(p, b"x")
    for p, w in recs.items():
        ev = w.next()
        assert ev.path == p and ev.type == EventType.CHANGED


def test_event_order_delete_subtree(zk, make_client, base):
    """Deleting a child then its parent: the watches see the matching events."""
    other = make_client()
    zk.create(base + "/a/b", makepath=True)
    events = queue.Queue()
    zk.get_children(base + "/a", watch=events.put)
    zk.get(base + "/a/b", watch=events.put)
    other.delete(base + "/a", recursive=True)
    got = []
    for _ in range(2):
        got.append(events.get(timeout=WAIT))
    assert sorted((e.type, e.path) for e in got) == sorted(
        [(EventType.CHILD, base + "/a"), (EventType.DELETED, base + "/a/b")])


def test_multi_triggers_watches(zk, make_client, base):
    p = zk.create(base + "/m", b"0")
    w_data, w_child = Recorder(), Recorder()
    zk.get(p, watch=w_data)
    zk.get_children(base, watch=w_child)
    tx = make_client().transaction()
    tx.set_data(p, b"1")
    tx.create(base + "/new")
    tx.commit()
    assert w_data.next().type == EventType.CHANGED
    assert w_child.next().type == EventType.CHILD


def test_data_watch_recipe(zk, make_client, base):
    p = zk.create(base + "/dw", b"v0")
    seen = queue.Queue()

    @zk.DataWatch(p)
    def watcher(data, stat, event=None):
        seen.put((data, stat.version if stat else None, event.type if event else None))

    assert seen.get(timeout=WAIT) == (b"v0", 0, None)
    other = make_client()
    other.set(p, b"v1")
    assert seen.get(timeout=WAIT) == (b"v1", 1, EventType.CHANGED)
    other.delete(p)
    assert seen.get(timeout=WAIT) == (None, None, EventType.DELETED)
    other.create(p, b"again")
    assert seen.get(timeout=WAIT) == (b"again", 0, EventType.CREATED)


def test_children_watch_recipe(zk, make_client, base):
    seen = queue.Queue()

    @zk.ChildrenWatch(base)
    def watcher(children):
        seen.put(sorted(children))

    assert seen.get(timeout=WAIT) == []
    other = make_client()
    other.create(base + "/x")
    assert seen.get(timeout=WAIT) == ["x"]
    other.create(base + "/y")
    assert seen.get(timeout=WAIT) == ["x", "y"]
    other.delete(base + "/x")
    assert seen.get(timeout=WAIT) == ["y"]


def test_kazoo_reconnect_keeps_session(zk, make_client, base):
    """Drop the TCP connection (not the session): kazoo reconnects to the same
    session and its ephemeral node is still there."""
    p = zk.create(base + "/eph", ephemeral=True)
    reconnected, lost = threading.Event(), threading.Event()

    def listener(state):
        if state == KazooState.SUSPENDED:
            lost.set()
        elif state == KazooState.CONNECTED and lost.is_set():
            reconnected.set()
            return True

    zk.add_listener(listener)
    sid = zk.client_id[0]
    zk._connection._socket.shutdown(2)  # break the TCP connection under kazoo
    assert reconnected.wait(WAIT), "kazoo did not reconnect"
    assert zk.client_id[0] == sid, "same session after reconnect"
    assert zk.exists(p).ephemeralOwner == sid


# kazoo forgets its watches on a disconnect, so SetWatches (what the Java and
# C clients send after reconnecting) is exercised on the raw protocol.
def _reconnect(server, old):
    c = zkwire.RawClient(server.host, server.port, connect=False)
    c.last_zxid = old.last_zxid
    c.handshake(10000, old.session_id, old.passwd)
    assert c.session_id == old.session_id
    return c


def test_set_watches_after_reconnect(server, zk, base):
    p = zk.create(base + "/sw", b"0")
    zk.create(base + "/sw/c")
    a = zkwire.RawClient(server.host, server.port)
    try:
        a.check(GetData(p, True))
        a.close()  # drop the connection, keep the session
        b = _reconnect(server, a)
        b.check(zkwire.SetWatches(b.last_zxid, [p], [base + "/sw-missing"], [p]))
        zk.set(p, b"1")
        ev = b.wait_event()
        assert (ev.type, ev.path) == (zkwire.EV_CHANGED, p)
        zk.create(base + "/sw-missing")
        ev = b.wait_event()
        assert (ev.type, ev.path) == (zkwire.EV_CREATED, base + "/sw-missing")
        zk.delete(base + "/sw/c")
        ev = b.wait_event()
        assert (ev.type, ev.path) == (zkwire.EV_CHILD, p)
    finally:
        a.close()


def test_set_watches_fires_for_changes_while_away(server, zk, base):
    """SetWatches carries the last zxid the client saw: changes made after it
    fire at once on reconnect."""
    p = zk.create(base + "/away", b"0")
    zk.create(base + "/away/kid")
    gone = zk.create(base + "/gone")
    a = zkwire.RawClient(server.host, server.port)
    try:
        a.check(GetData(p, True))
        a.close()
        zk.set(p, b"changed while away")
        zk.create(base + "/appeared")
        zk.delete(gone)
        zk.create(base + "/away/kid2")
        b = _reconnect(server, a)
        b.check(zkwire.SetWatches(a.last_zxid, [p, gone], [base + "/appeared"], [p]))
        got = set()
        for _ in range(4):
            ev = b.wait_event()
            got.add((ev.type, ev.path))
        assert got == {(zkwire.EV_CHANGED, p), (zkwire.EV_DELETED, gone),
                       (zkwire.EV_CREATED, base + "/appeared"), (zkwire.EV_CHILD, p)}
    finally:
        a.close()
