"""Replicated 3-server ensemble: leader election, followers, quorum commit,
failover, rejoin and catch-up.

Run against a 3-server Apache ZooKeeper 3.8 ensemble (QuorumPeerMain, the
reference that validates the tests) and a 3-server paddock ensemble; both read
the same zoo.cfg (tickTime=500, initLimit=10, syncLimit=5, server.1..3 on
127.0.0.1, <dataDir>/myid).  See zkservers.Ensemble.

One ensemble per kind is shared by the module; before each test the `ens`
fixture starts whatever a previous test left stopped and waits until there is
exactly one leader and two followers.  If that fails the ensemble is replaced
by a fresh one; if a fresh one cannot be started, the remaining tests of that
kind fail at once with the reason (no minute-long waits per test).

Nothing sleeps to synchronise: reads after another server's write go through
sync() on the reading session, events are awaited with deadlines, roles are
polled with deadlines.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
import uuid

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType

import zkservers
from conftest import TARGETS, stop_clients

SESSION_TIMEOUT = 6.0      # seconds; the failover must fit well inside it
FAILOVER_DEADLINE = 20.0   # a new leader after the old one died
EVENT_DEADLINE = 10.0
# Reconnect quickly: kazoo's default backoff doubles up to an hour.
CONN_RETRY = dict(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5)


def wait_for(cond, deadline, what):
    """Poll cond() until it returns a truthy value; fail after `deadline` s.
    `what` is a string or a callable giving the failure message."""
    end = time.monotonic() + deadline
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= end:
            pytest.fail(f"not within {deadline}s: {what() if callable(what) else what}")
        time.sleep(0.05)  # poll interval, not synchronisation


def uniq(prefix):
    return f"/{prefix}-{uuid.uuid4().hex[:10]}"


# -- fixtures ------------------------------------------------------------------

@pytest.fixture(scope="module", params=TARGETS)
def ensemble_kind(request):
    kind = request.param
    if kind == "zookeeper" and not zkservers.ZooKeeperServer.available():
        pytest.skip("Apache ZooKeeper (Debian package 'zookeeper') or java is missing")
    return kind


@pytest.fixture(scope="module")
def _ensembles(ensemble_kind):
    state = {"ens": None, "error": None, "all": []}
    yield state
    for e in state["all"]:
        e.destroy()


@pytest.fixture
def ens(request, ensemble_kind, _ensembles):
    """The module's ensemble of the current kind, all three servers serving."""
    st = _ensembles
    if st["error"]:
        pytest.fail(f"{ensemble_kind} ensemble could not be started earlier in this "
                    f"module:\n{st['error']}")
    e = st["ens"]
    if e is not None:
        request.node._fresh_servers = list(e.members)  # logs on failure (conftest)
        try:
            e.start()
        except zkservers.ServerStartError:
            e.stop()  # keep its dir for the logs until module teardown
            e = st["ens"] = None
    if e is None:
        e = zkservers.Ensemble(ensemble_kind)
        st["all"].append(e)
        request.node._fresh_servers = list(e.members)
        try:
            e.start()
        except zkservers.ServerStartError as ex:
            st["error"] = str(ex)[:4000]
            raise
        st["ens"] = e
    yield e


@pytest.fixture
def clients(ens):
    """clients(*members, **kw): a started KazooClient on those members
    (default: all three, random order); all are stopped at teardown."""
    made = []

    def factory(*members, start=True, timeout=SESSION_TIMEOUT, **kw):
        c = KazooClient(hosts=ens.hosts(*members), timeout=timeout,
                        connection_retry=dict(CONN_RETRY), **kw)
        made.append(c)
        if start:
            c.start(timeout=15)
        return c

    yield factory
    stop_clients(made)


def per_server(ens, clients):
    """{sid: client connected to that server only}."""
    return {m.sid: clients(m) for m in ens.members}


def synced_children(c, path):
    c.sync(path)
    return sorted(c.get_children(path))


def read_all(c, paths):
    """{path: (data, version)} read through c (pipelined)."""
    asyncs = [(p, c.get_async(p)) for p in paths]
    out = {}
    for p, a in asyncs:
        data, stat = a.get(timeout=EVENT_DEADLINE)
        out[p] = (data, stat.version)
    return out


def pipelined(call, paths_data, window=250):
    """Pipelined writes (`call` is e.g. c.create_async); every one must be
    acknowledged."""
    items = list(paths_data)
    for i in range(0, len(items), window):
        asyncs = [call(p, d) for p, d in items[i:i + window]]
        for a in asyncs:
            a.get(timeout=EVENT_DEADLINE)


def create_many(c, paths_data, window=250):
    pipelined(c.create_async, paths_data, window)


def set_many(c, paths_data, window=250):
    pipelined(c.set_async, paths_data, window)


def wait_same_zxid(ens, cs, path, at_least=0, members=None):
    """sync() every client, then srvr on each member, until all zxids agree
    (and are >= at_least).  Session txns of other tests may still be in
    flight, hence the poll."""
    ms = [ens.member(m) for m in members] if members else ens.members
    last = {}

    def same():
        for m in ms:
            cs[m.sid].sync(path)
        last.clear()
        last.update({m.sid: ens.zxid(m) for m in ms})
        vals = set(last.values())
        return len(vals) == 1 and None not in vals and min(vals) >= at_least

    wait_for(same, EVENT_DEADLINE,
             lambda: f"srvr zxids differ after write + sync (want >= {at_least:#x}): "
             + ", ".join(f"server.{k}={v if v is None else hex(v)}" for k, v in last.items()))
    return next(iter(last.values()))


# -- 1. roles and zxids ----------------------------------------------------------

def test_one_leader_two_followers_same_zxid(ens, clients):
    roles = ens.roles()
    assert sorted(r or "-" for r in roles.values()) == ["follower", "follower", "leader"], roles
    cs = per_server(ens, clients)
    path = uniq("e1")
    f = ens.followers()[0]
    cs[f.sid].create(path, b"x")
    stat = cs[f.sid].set(path, b"y")
    z = wait_same_zxid(ens, cs, path, at_least=stat.mzxid)
    assert z >= stat.mzxid
    for sid, c in cs.items():
        c.sync(path)
        assert c.get(path)[0] == b"y", f"server.{sid}"
    # Still exactly one leader after the writes.
    assert sorted(r or "-" for r in ens.roles().values()) == ["follower", "follower", "leader"]


# -- 2. writes through a follower, sequential nodes ------------------------------

def test_follower_write_visible_everywhere_and_sequence_numbers_distinct(ens, clients):
    cs = per_server(ens, clients)
    f = ens.followers()[0]
    base = uniq("e2")
    cs[f.sid].create(base, b"")
    cs[f.sid].create(base + "/n", b"through-follower")
    for sid, c in cs.items():
        c.sync(base + "/n")
        data, stat = c.get(base + "/n")
        assert data == b"through-follower", f"server.{sid}"
        assert stat.version == 0

    # Sequential creates interleaved through all three servers at once.
    c0 = next(iter(cs.values()))
    c0.create(base + "/seq", b"")
    for c in cs.values():
        c.sync(base + "/seq")
    per = 40
    asyncs = []
    for _ in range(per):
        for sid, c in cs.items():
            asyncs.append((sid, c.create_async(base + "/seq/s-", str(sid).encode(),
                                                sequence=True)))
    names = [(sid, a.get(timeout=EVENT_DEADLINE)) for sid, a in asyncs]
    leaves = [n.rsplit("/", 1)[1] for _, n in names]
    assert len(set(leaves)) == len(leaves), "a sequence number was handed out twice"
    seqs = sorted(int(x[len("s-"):]) for x in leaves)
    assert seqs == list(range(3 * per)), "sequence numbers skip or repeat"
    for sid, c in cs.items():
        assert synced_children(c, base + "/seq") == sorted(leaves), f"server.{sid}"
    # Each node holds the id of the server it was created through.
    got = read_all(cs[ens.leader().sid], [n for _, n in names])
    for sid, n in names:
        assert got[n][0] == str(sid).encode(), n


# -- 3. watches across servers ---------------------------------------------------

def test_watch_fires_for_change_through_another_server(ens, clients):
    cs = per_server(ens, clients)
    writer_member = ens.followers()[0]
    writer = clients(writer_member)
    base = uniq("e3")
    writer.create(base, b"")
    writer.create(base + "/w", b"0")

    events = {}
    for sid, c in cs.items():
        c.sync(base)
        evs = {"data": [], "child": [], "exists": []}
        done = {k: threading.Event() for k in evs}

        def cb(kind, evs=evs, done=done):
            def f(e):
                evs[kind].append(e)
                done[kind].set()
            return f

        assert c.get(base + "/w", watch=cb("data"))[0] == b"0"
        assert c.get_children(base, watch=cb("child")) == ["w"]
        assert c.exists(base + "/later", watch=cb("exists")) is None
        events[sid] = (evs, done)

    writer.set(base + "/w", b"1")
    writer.create(base + "/later", b"")

    for sid, (evs, done) in events.items():
        for kind in ("data", "child", "exists"):
            assert done[kind].wait(EVENT_DEADLINE), \
                f"{kind} watch set through server.{sid} did not fire"
        assert [(e.type, e.path) for e in evs["data"]] == [(EventType.CHANGED, base + "/w")]
        assert [(e.type, e.path) for e in evs["child"]] == [(EventType.CHILD, base)]
        assert [(e.type, e.path) for e in evs["exists"]] == [(EventType.CREATED, base + "/later")]
        # The watching session reads the new data once its watch has fired.
        assert cs[sid].get(base + "/w")[0] == b"1", f"server.{sid}"


# -- 4. ephemeral through a follower ---------------------------------------------

def test_ephemeral_through_follower_vanishes_everywhere_on_close(ens, clients):
    cs = per_server(ens, clients)
    f = ens.followers()[0]
    owner = clients(f)
    base = uniq("e4")
    owner.create(base, b"")
    owner.create(base + "/eph", b"e", ephemeral=True)
    owner_sid = owner.client_id[0]

    gone = {}
    for sid, c in cs.items():
        c.sync(base)
        deleted = threading.Event()
        st = c.exists(base + "/eph",
                      watch=lambda e, d=deleted: d.set() if e.type == EventType.DELETED else None)
        assert st is not None, f"ephemeral not visible through server.{sid}"
        assert st.ephemeralOwner == owner_sid, f"server.{sid}"
        gone[sid] = deleted

    owner.stop()  # closes the session: its ephemerals go with it
    for sid, deleted in gone.items():
        assert deleted.wait(EVENT_DEADLINE), f"no NodeDeleted through server.{sid}"
        cs[sid].sync(base)
        assert cs[sid].exists(base + "/eph") is None, f"server.{sid}"
        assert cs[sid].get_children(base) == []


# -- 5. leader failover ----------------------------------------------------------

def test_leader_killed_new_leader_elected_session_survives(ens, clients):
    leader = ens.leader()
    others = [m for m in ens.members if m.sid != leader.sid]
    base = uniq("e5")
    setup = clients(*others)
    setup.create(base, b"")
    # Acknowledged writes through the followers.
    create_many(setup, [(f"{base}/pre-{i:03d}", str(i).encode()) for i in range(30)])

    # A client with all three hosts, leader first: it is on the leader when
    # the leader dies, and must move to another server inside its session.
    survivor = clients(leader, *others, randomize_hosts=False)
    # (kazoo internals: the peer of its current socket)
    assert survivor._connection._socket.getpeername()[1] == leader.port
    session = survivor.client_id[0]
    survivor.create(base + "/alive", b"eph", ephemeral=True)
    suspended, back, states = threading.Event(), threading.Event(), []

    def listener(state):
        states.append(state)
        if state == KazooState.SUSPENDED:
            suspended.set()
        elif state == KazooState.CONNECTED and suspended.is_set():
            back.set()

    survivor.add_listener(listener)

    # A writer on the leader alone, writing until the leader dies.
    writer = clients(leader)
    acked, stop_err = [], []
    enough = threading.Event()

    def write_loop():
        i = 0
        while True:
            p = f"{base}/w-{i:05d}"
            try:
                writer.create_async(p, str(i).encode()).get(timeout=5)
            except Exception as e:  # ConnectionLoss, timeout: the leader is gone
                stop_err.append(e)
                return
            acked.append(p)
            i += 1
            if i >= 50:
                enough.set()
            if i >= 100000:
                return

    t = threading.Thread(target=write_loop, daemon=True)
    t.start()
    assert enough.wait(30), f"writer made only {len(acked)} writes: {stop_err}"

    t0 = time.monotonic()
    ens.kill(leader)
    new_leader = ens.wait_roles(FAILOVER_DEADLINE, members=others)
    elapsed = time.monotonic() - t0
    assert new_leader.sid != leader.sid
    assert elapsed < FAILOVER_DEADLINE
    t.join(15)
    assert not t.is_alive(), "writer did not notice the leader's death"

    # The session moved to a surviving server and was not expired.
    assert suspended.wait(EVENT_DEADLINE), f"client never lost its connection: {states}"
    assert back.wait(FAILOVER_DEADLINE), f"client did not reconnect: {states}"
    # Its first reconnection may be to a follower that has not yet noticed
    # the leader's death and drops it as it joins the election: wait until
    # it is connected again, to a surviving server.
    surviving_ports = {m.port for m in others}

    def settled():
        sock = survivor._connection._socket
        try:
            return (survivor.client_id is not None and sock is not None
                    and sock.getpeername()[1] in surviving_ports)
        except OSError:
            return False

    wait_for(settled, FAILOVER_DEADLINE, lambda: f"client connected to a surviving server: {states}")
    assert KazooState.LOST not in states, states
    assert survivor.client_id[0] == session

    # Everything acknowledged is there, through both surviving servers; the
    # ephemeral of the surviving session too.
    pre = [f"{base}/pre-{i:03d}" for i in range(30)]
    for m in others:
        c = clients(m)
        kids = set(synced_children(c, base))
        missing = [p for p in pre + acked if p.rsplit("/", 1)[1] not in kids]
        assert not missing, f"server.{m.sid} lost acknowledged writes: {missing[:5]}"
        st = c.exists(base + "/alive")
        assert st is not None and st.ephemeralOwner == session, f"server.{m.sid}"
        got = read_all(c, acked[-5:] + pre[:5])
        for p, (data, _) in got.items():
            assert data == str(int(p.rsplit("-", 1)[1])).encode(), p

    # New writes succeed: through each surviving server and through the survivor.
    for m in others:
        c = clients(m)
        c.create(f"{base}/post-{m.sid}", b"p")
    survivor.create(base + "/post-survivor", b"s")
    survivor.sync(base)
    kids = survivor.get_children(base)
    assert {f"post-{m.sid}" for m in others} | {"post-survivor", "alive"} <= set(kids)


# -- 6. the killed server rejoins and catches up -------------------------------

def test_killed_server_rejoins_as_follower_and_catches_up(ens, clients):
    leader = ens.leader()
    others = [m for m in ens.members if m.sid != leader.sid]
    base = uniq("e6")
    c = clients()
    c.create(base, b"")
    create_many(c, [(f"{base}/before-{i:03d}", b"b") for i in range(20)])
    c.stop()

    ens.kill(leader)
    ens.wait_roles(FAILOVER_DEADLINE, members=others)
    w = clients(*others)
    create_many(w, [(f"{base}/down-{i:03d}", str(i).encode()) for i in range(300)])
    set_many(w, [(f"{base}/before-{i:03d}", b"changed") for i in range(20)])
    w.delete(f"{base}/down-000")

    ens.start(leader)  # waits for one leader + two followers
    assert ens.role(leader) == "follower", ens.roles()
    assert ens.leader().sid != leader.sid

    r = clients(leader)
    expected = sorted([f"before-{i:03d}" for i in range(20)]
                      + [f"down-{i:03d}" for i in range(1, 300)])
    assert synced_children(r, base) == expected
    got = read_all(r, [f"{base}/before-{i:03d}" for i in range(20)]
                   + [f"{base}/down-{i:03d}" for i in range(1, 300)])
    for i in range(20):
        assert got[f"{base}/before-{i:03d}"] == (b"changed", 1)
    for i in range(1, 300):
        assert got[f"{base}/down-{i:03d}"] == (str(i).encode(), 0)
    cs = {m.sid: clients(m) for m in ens.members}
    wait_same_zxid(ens, cs, base)


# -- 7. no quorum, no writes -----------------------------------------------------

def test_lone_server_refuses_writes_until_quorum_returns(ens, clients):
    leader = ens.leader()
    f1, f2 = [m for m in ens.members if m.sid != leader.sid]
    base = uniq("e7")
    c = clients(leader)
    c.create(base, b"")
    create_many(c, [(f"{base}/ok-{i:03d}", str(i).encode()) for i in range(50)])
    c.stop()

    lone = clients(leader)
    ens.stop(f1, f2)
    ens.wait_not_serving(leader)  # the leader steps down without a quorum

    # A write through the session already on it does not succeed...
    with pytest.raises((KazooException, KazooTimeoutError)):
        lone.create_async(base + "/lonely-1", b"x").get(timeout=2)
    # ...nor through a new session.
    fresh = KazooClient(hosts=ens.hosts(leader), timeout=SESSION_TIMEOUT,
                        connection_retry=dict(CONN_RETRY))
    try:
        try:
            fresh.start(timeout=2)
        except KazooTimeoutError:
            pass  # refused: not serving
        else:
            with pytest.raises((KazooException, KazooTimeoutError)):
                fresh.create_async(base + "/lonely-2", b"x").get(timeout=2)
    finally:
        fresh.stop()
        fresh.close()
    lone.stop()
    assert ens.role(leader) not in zkservers.SERVING_ROLES

    # One follower back: a quorum of two again.
    ens.start(f1)  # waits until leader and f1 serve
    w = clients(leader, f1)
    w.create(base + "/after", b"a")
    for m in (leader, f1):
        r = clients(m)
        kids = set(synced_children(r, base))
        missing = [i for i in range(50) if f"ok-{i:03d}" not in kids]
        assert not missing, f"server.{m.sid} lost acknowledged writes {missing[:5]}"
        assert "after" in kids
        got = read_all(r, [f"{base}/ok-{i:03d}" for i in range(50)])
        assert all(got[f"{base}/ok-{i:03d}"][0] == str(i).encode() for i in range(50))


# -- 8. full restart -------------------------------------------------------------

def test_stop_all_start_all_keeps_acknowledged_writes(ens, clients):
    base = uniq("e8")
    c = clients()
    c.create(base, b"")
    c.create(base + "/counter", b"0")
    create_many(c, [(f"{base}/n-{i:03d}", str(i).encode()) for i in range(200)])
    for i in range(1, 51):
        c.set(base + "/counter", str(i).encode())
    seq = [c.create(base + "/s-", b"", sequence=True) for _ in range(10)]
    c.stop()

    ens.stop()
    assert not ens.running()
    ens.start()  # the same data dirs; waits for one leader + two followers

    for m in ens.members:
        r = clients(m)
        kids = synced_children(r, base)
        expected = sorted(["counter"] + [f"n-{i:03d}" for i in range(200)]
                          + [s.rsplit("/", 1)[1] for s in seq])
        assert kids == expected, f"server.{m.sid}"
        data, stat = r.get(base + "/counter")
        assert (data, stat.version) == (b"50", 50), f"server.{m.sid}"
        got = read_all(r, [f"{base}/n-{i:03d}" for i in range(200)])
        assert all(got[f"{base}/n-{i:03d}"] == (str(i).encode(), 0) for i in range(200))
    # And the ensemble takes writes again; sequence numbers carry on.
    w = clients()
    nxt = w.create(base + "/s-", b"", sequence=True)
    assert int(nxt[-10:]) == int(seq[-1][-10:]) + 1


# -- 9. a follower that missed many writes ---------------------------------------

def test_follower_down_during_2000_writes_catches_up(ens, clients):
    leader = ens.leader()
    f_down, f_up = ens.followers()
    base = uniq("e9")
    c = clients()
    c.create(base, b"")
    c.stop()

    ens.stop(f_down)
    w = clients(leader, f_up)
    n = 1000
    create_many(w, [(f"{base}/n-{i:04d}", str(i).encode()) for i in range(n)])   # 1000 creates
    set_many(w, [(f"{base}/n-{i:04d}", f"v2-{i}".encode()) for i in range(n)])   # 1000 sets
    last = w.set(base, b"done")

    ens.start(f_down)  # waits for one leader + two followers
    assert ens.role(f_down) == "follower", ens.roles()

    r = clients(f_down)
    r.sync(base)
    data, stat = r.get(base)
    assert data == b"done" and stat.mzxid == last.mzxid
    assert synced_children(r, base) == [f"n-{i:04d}" for i in range(n)]
    got = read_all(r, [f"{base}/n-{i:04d}" for i in range(n)])
    bad = [p for i, p in enumerate(f"{base}/n-{i:04d}" for i in range(n))
           if got[p] != (f"v2-{i}".encode(), 1)]
    assert not bad, f"{len(bad)} nodes wrong on the restarted follower, e.g. {bad[:3]}"
    cs = {m.sid: clients(m) for m in ens.members}
    wait_same_zxid(ens, cs, base, at_least=last.mzxid)


@pytest.mark.paddock_only
def test_follower_behind_the_window_syncs_by_diff_from_the_leaders_log(ens, clients):
    """A follower that missed more than the leader's in-memory window of
    txns (1 MiB) is synced from the leader's on-disk log, not by snapshot
    (the diff, 1.6 MB, is under a third of the 6 MB tree)."""
    leader = ens.leader()
    f_down, f_up = ens.followers()
    base = uniq("e9b")
    n, changed, size = 1500, 400, 4000
    c = clients()
    c.create(base, b"")
    create_many(c, [(f"{base}/n-{i:04d}", b"a" * size) for i in range(n)])
    c.stop()

    ens.stop(f_down)
    w = clients(leader, f_up)
    set_many(w, [(f"{base}/n-{i:04d}", bytes([i % 251]) * size) for i in range(changed)])
    last = w.set(base, b"done")
    log_before = leader.log_path.read_text(errors="replace")

    ens.start(f_down)
    r = clients(f_down)
    r.sync(base)
    data, stat = r.get(base)
    assert data == b"done" and stat.mzxid == last.mzxid
    got = read_all(r, [f"{base}/n-{i:04d}" for i in range(n)])
    want = {f"{base}/n-{i:04d}": (bytes([i % 251]) * size, 1) if i < changed else (b"a" * size, 0)
            for i in range(n)}
    bad = [p for p in want if got[p] != want[p]]
    assert not bad, f"{len(bad)} nodes wrong on the restarted follower, e.g. {bad[:3]}"
    new_lines = leader.log_path.read_text(errors="replace")[len(log_before):]
    assert f"syncing server {f_down.sid} by diff from the log" in new_lines, new_lines[-3000:]
    assert f"sending server {f_down.sid} a snapshot" not in new_lines, new_lines[-3000:]


def create_big_tree(c, base, n, size):
    """base and n children of `size` bytes each, through c."""
    c.create(base, b"")
    create_many(c, [(f"{base}/n-{i:04d}", bytes([i % 251]) * size) for i in range(n)])


def same_children_and_data(r, c, base):
    """base's children and their (data, version) read through r are what c
    reads; returns them as read through r."""
    kids = synced_children(r, base)
    assert kids == synced_children(c, base)
    paths = [f"{base}/{k}" for k in kids]
    got, want = read_all(r, paths), read_all(c, paths)
    bad = [p for p in paths if got[p] != want[p]]
    assert not bad, f"{len(bad)} nodes differ on the synced follower, e.g. {bad[:3]}"
    return got


def test_wiped_follower_syncs_by_snapshot_while_writes_go_on(ens, clients):
    """A follower whose data dir was wiped gets the leader's whole tree
    (12 MB here) while a writer keeps setting and creating through the
    leader; afterwards it holds exactly what the leader holds.  paddock
    streams that snapshot in parts (1 MiB each) between requests, and what
    the leader proposes meanwhile reaches the follower after the last part:
    its log says how many parts went."""
    leader = ens.leader()
    f_wiped, f_up = ens.followers()
    base = uniq("e9c")
    n, size = 3000, 4000
    c = clients(leader)
    create_big_tree(c, base, n, size)
    f_wiped.wipe()
    log_before = leader.log_path.read_text(errors="replace")
    stop = threading.Event()
    acked: dict[str, bytes] = {}
    errors: list[str] = []

    def writer():
        i = 0
        while not stop.is_set() and i < 20_000:
            path = f"{base}/n-{i % n:04d}"
            data = f"w{i}".encode()
            try:
                c.set(path, data)
                c.create(f"{base}/new-{i:05d}", data)
            except Exception as e:  # noqa: BLE001
                errors.append(f"write {i}: {e!r}")
                return
            acked[path] = data
            acked[f"{base}/new-{i:05d}"] = data
            i += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    ens.start(f_wiped)  # waits for one leader + two followers
    wait_for(lambda: len(acked) > 200 or errors, EVENT_DEADLINE, "writes after the sync")
    stop.set()
    t.join(timeout=30)
    assert not errors, errors
    assert ens.role(f_wiped) == "follower", ens.roles()

    r = clients(f_wiped)
    got = same_children_and_data(r, c, base)
    for p, data in acked.items():
        assert got[p][0] == data, p
    cs = {m.sid: clients(m) for m in ens.members}
    wait_same_zxid(ens, cs, base)
    if ens.kind == "paddock":
        new_lines = leader.log_path.read_text(errors="replace")[len(log_before):]
        sent = re.search(rf"sent server {f_wiped.sid} the snapshot of \S+: (\d+) bytes in (\d+) parts",
                         new_lines)
        assert sent, new_lines[-3000:]
        assert int(sent.group(1)) > n * size and int(sent.group(2)) >= 3, sent.group(0)


def _peer_frame(tag, *fields):
    body = bytes([tag]) + b"".join(struct.pack(">q", f) for f in fields)
    return struct.pack(">I", len(body)) + body


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"peer link closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _recv_frame(sock):
    (n,) = struct.unpack(">I", _recv_exact(sock, 4))
    return _recv_exact(sock, n)


@pytest.mark.paddock_only
def test_a_follower_that_stops_reading_a_snapshot_stalls_only_its_own_sync(ens, clients):
    """A follower (here a stand-in speaking paddock's peer protocol: hello,
    FOLLOWERINFO, ACKEPOCH) takes the first part of its snapshot and reads
    no more, so the leader's stream to it stalls once the link is full
    (a 30 MB tree; the link keeps at most 4 MiB unwritten). Writes still
    commit with the other follower meanwhile. When that link closes the
    stream is dropped, and the real server, started again on an empty data
    dir, is streamed a snapshot anew and ends up with the leader's tree."""
    leader = ens.leader()
    if leader.sid == min(m.sid for m in ens.members):
        # The stand-in must dial the leader: its id must be the lower.
        ens.stop(leader)
        ens.start(leader)
        leader = ens.leader()
    fake = next(m for m in ens.followers() if m.sid < leader.sid)
    base = uniq("e9d")
    n, size = 7500, 4000
    c = clients(leader)
    create_big_tree(c, base, n, size)
    fake.wipe()
    log_before = leader.log_path.read_text(errors="replace")
    quorum_port = leader.peers[leader.sid][0]
    sock = socket.create_connection(("127.0.0.1", quorum_port), timeout=EVENT_DEADLINE)
    try:
        sock.sendall(b"PDKQ" + struct.pack(">IQ", 1, fake.sid))
        sock.sendall(_peer_frame(2, 0, 0))  # FOLLOWERINFO: accepted epoch 0, last zxid 0
        while _recv_frame(sock)[0] != 3:  # NEWEPOCH
            pass
        sock.sendall(_peer_frame(4, 0, 0))  # ACKEPOCH: current epoch 0, last zxid 0
        while _recv_frame(sock)[0] != 15:  # the snapshot's first part
            pass

        def stream_started():
            return f"sending server {fake.sid} a snapshot" in \
                leader.log_path.read_text(errors="replace")[len(log_before):]
        wait_for(stream_started, EVENT_DEADLINE, "the leader streaming a snapshot")
        set_many(c, [(f"{base}/n-{i:04d}", b"during") for i in range(300)])
        new_lines = leader.log_path.read_text(errors="replace")[len(log_before):]
        assert f"sent server {fake.sid} the snapshot" not in new_lines, new_lines[-3000:]
    finally:
        sock.close()
    set_many(c, [(f"{base}/n-{i:04d}", b"after") for i in range(300, 400)])
    ens.start(fake)
    r = clients(fake)
    got = same_children_and_data(r, c, base)
    assert got[f"{base}/n-0000"] == (b"during", 1) and got[f"{base}/n-0300"] == (b"after", 1)
    new_lines = leader.log_path.read_text(errors="replace")[len(log_before):]
    assert re.search(rf"sent server {fake.sid} the snapshot of \S+: \d+ bytes in \d+ parts",
                     new_lines), new_lines[-3000:]


def test_crashes_under_write_load_lose_no_acknowledged_write(ens, clients):
    """Jepsen-style, small: a writer keeps creating znodes through all three
    servers while members are crashed (kill -9) and restarted, the leader
    among them; afterwards every server holds every create the writer was
    told succeeded (NodeExists counts: a retried create whose first attempt
    committed), and all servers agree on the children. ZooKeeper 3.8.0
    itself sometimes loses one (known defects, see below): for it a lost
    create is an expected failure, for paddock a failure."""
    import random

    rng = random.Random(0xC0FFEE)
    base = uniq("chaos")
    setup = clients()
    setup.create(base)
    acked: set[str] = set()
    stop = threading.Event()
    lock = threading.Lock()
    errors: list[str] = []

    def writer():
        c = clients(start=False)
        try:
            c.start(timeout=15)
        except Exception as e:  # noqa: BLE001
            errors.append(f"writer could not connect: {e!r}")
            return
        i = 0
        while not stop.is_set():
            path = f"{base}/n{i:06d}"
            try:
                c.create(path, b"x")
                ok = True
            except Exception as e:  # noqa: BLE001
                ok = type(e).__name__ == "NodeExistsError"
                if not ok:
                    # Not acknowledged (connection lost, no quorum): the
                    # same name again, after a short backoff.
                    stop.wait(0.02)
                    continue
            if ok:
                with lock:
                    acked.add(path)
            i += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()

    def progress(n):
        with lock:
            return len(acked) >= n

    target = 0
    for round_ in range(6):
        target += 100
        wait_for(lambda: progress(target), 40, f"writer past {target} acks before crash {round_}")
        victim = ens.leader().sid if round_ % 2 == 0 else rng.choice([m.sid for m in ens.followers()])
        ens.kill(victim)
        target += 50
        wait_for(lambda: progress(target), 40, f"writes go on after killing server.{victim}")
        ens.start(victim)
    stop.set()
    t.join(timeout=30)
    assert not errors, errors
    with lock:
        want = set(acked)
    for m in ens.members:
        c = clients(m.sid)
        c.sync(base)
        have = {f"{base}/{n}" for n in c.get_children(base)}
        missing = want - have
        lost = f"server.{m.sid} lost {len(missing)} acknowledged creates, e.g. {sorted(missing)[:5]}"
        if missing and ens.kind == "zookeeper":
            # Seen once in CI (2026-12-07: server.1 lost 1 of ~1,200).
            # ZooKeeper 3.8.0, Debian's, can lose committed txns when
            # members crash around a sync (ZOOKEEPER-4646, -4643, -4685,
            # -4785; fixed in later releases by apache/zookeeper#2111 and
            # #2152). The reference is known wrong here; paddock must not be.
            pytest.xfail(f"ZooKeeper 3.8.0's known loss of committed txns: {lost}")
        assert not missing, lost
        c.stop()
    first = None
    for m in ens.members:
        c = clients(m.sid)
        c.sync(base)
        kids = sorted(c.get_children(base))
        if first is None:
            first = kids
        assert kids == first, f"server.{m.sid} differs from server.1"


def test_observer_serves_and_forwards_but_does_not_vote(ensemble_kind):
    """Three voters and an observer (`server.4=...:observer`,
    `peerType=observer`): the observer reports Mode: observer, serves reads
    and forwards writes, sees every write; the voters commit without it; and
    with two voters down the observer plus one voter accept no write."""
    e = zkservers.Ensemble(ensemble_kind, observers=1)
    made = []

    def client(*ms):
        c = KazooClient(hosts=e.hosts(*ms), timeout=SESSION_TIMEOUT,
                        connection_retry=dict(CONN_RETRY))
        made.append(c)
        c.start(timeout=15)
        return c

    try:
        e.start()
        assert e.role(4) == "observer", e.roles()
        assert sorted(r for r in e.roles().values()) == ["follower", "follower", "leader", "observer"]
        base = uniq("obs")
        via_observer = client(4)
        via_observer.create(base, b"from-observer")
        via_voter = client(e.leader().sid)
        via_voter.sync(base)
        assert via_voter.get(base)[0] == b"from-observer"
        via_voter.set(base, b"from-leader")
        via_observer.sync(base)
        assert via_observer.get(base)[0] == b"from-leader"
        via_observer.stop()
        # The voters do not need the observer.
        e.kill(4)
        via_voter.set(base, b"without-observer")
        e.start(4)
        late = client(4)
        late.sync(base)
        assert late.get(base)[0] == b"without-observer"
        late.stop()
        via_voter.stop()
        # The observer and one voter are no quorum.
        leader = e.leader().sid
        others = [sid for sid in (1, 2, 3) if sid != leader]
        e.stop(*others)
        e.wait_not_serving(leader)
        e.wait_not_serving(4)
        e.start(*others)
        e.wait_roles()
        assert e.role(4) == "observer"
    finally:
        stop_clients(made)
        e.destroy()
