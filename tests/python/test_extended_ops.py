"""Operations kazoo 2.11 has no method for, sent through kazoo's connection
(zkwire request classes) or a raw socket: containers, TTL nodes,
getEphemerals, getAllChildrenNumber, persistent watches (addWatch),
removeWatches, whoAmI.

ZooKeeper needs -Dzookeeper.extendedTypesEnabled=true for TTL nodes (the
fixture sets it) and checks containers/TTLs every 500 ms here
(-Dznode.container.checkIntervalMs=500).  paddock accepts TTL nodes always;
these tests give a server up to SWEEP_DEADLINE seconds to reap."""

import threading

import pytest
from kazoo.exceptions import BadArgumentsError, NoNodeError, NoWatcherError
from kazoo.protocol.serialization import Create, GetData
from kazoo.protocol.states import EventType
from kazoo.security import OPEN_ACL_UNSAFE

import zkwire
from zkwire import kz_call

SWEEP_DEADLINE = 30.0


def wait_gone(zk, path, timeout=SWEEP_DEADLINE):
    gone = threading.Event()

    def watch(ev):
        if ev.type == EventType.DELETED:
            gone.set()

    if zk.exists(path, watch=watch) is None:
        return
    assert gone.wait(timeout), f"{path} was not removed within {timeout}s"


# -- containers -------------------------------------------------------------
def test_container_create_returns_stat(zk, base):
    path, st = kz_call(zk, zkwire.CreateContainer(base + "/c", b"data", None))
    assert path == base + "/c"
    assert st.ephemeralOwner == 0 and st.dataLength == 4 and st.version == 0
    assert st == zk.exists(path)


def test_container_reaped_after_last_child_goes(zk, make_client, base):
    used, _ = kz_call(zk, zkwire.CreateContainer(base + "/used", b"", None))
    never, _ = kz_call(zk, zkwire.CreateContainer(base + "/never", b"", None))
    busy, _ = kz_call(zk, zkwire.CreateContainer(base + "/busy", b"", None))
    zk.create(used + "/child")
    zk.create(busy + "/child")
    zk.delete(used + "/child")
    wait_gone(zk, used)
    # The sweep that took /used left these alone: one has a child, the other
    # never had one.
    assert zk.exists(busy) is not None
    assert zk.exists(never) is not None


def test_container_reaped_when_ephemeral_child_session_ends(zk, make_client, base):
    c, _ = kz_call(zk, zkwire.CreateContainer(base + "/lockdir", b"", None))
    owner = make_client()
    owner.create(c + "/lock-", ephemeral=True, sequence=True)
    owner.stop()
    wait_gone(zk, c)


def test_container_cannot_be_sequential_or_ephemeral_child_parent(zk, base):
    e = zk.create(base + "/eph", ephemeral=True)
    with pytest.raises(Exception) as ei:
        kz_call(zk, zkwire.CreateContainer(e + "/c", b"", None))
    assert type(ei.value).__name__ == "NoChildrenForEphemeralsError"


# -- TTL nodes --------------------------------------------------------------
def test_ttl_node_expires(zk, base):
    short, st = kz_call(zk, zkwire.CreateTTL(base + "/short", b"x", None,
                                             zkwire.PERSISTENT_WITH_TTL, 200))
    assert st.ephemeralOwner == 0, "the TTL is not visible in the stat"
    parent, _ = kz_call(zk, zkwire.CreateTTL(base + "/parent", b"", None,
                                             zkwire.PERSISTENT_WITH_TTL, 200))
    zk.create(parent + "/kid")
    long_, _ = kz_call(zk, zkwire.CreateTTL(base + "/long", b"", None,
                                            zkwire.PERSISTENT_WITH_TTL, 3_600_000))
    wait_gone(zk, short)
    assert zk.exists(parent) is not None, "a TTL node with children stays"
    assert zk.exists(long_) is not None


def test_ttl_sequential(zk, base):
    p, _ = kz_call(zk, zkwire.CreateTTL(base + "/ts-", b"", None,
                                        zkwire.PERSISTENT_SEQUENTIAL_WITH_TTL, 3_600_000))
    assert p == base + "/ts-0000000000"


@pytest.mark.parametrize("flags,ttl", [
    (zkwire.PERSISTENT_WITH_TTL, 0),
    (zkwire.PERSISTENT_WITH_TTL, -1),
    (zkwire.PERSISTENT_WITH_TTL, 0x10000000000),  # over the 40-bit maximum
    (zkwire.PERSISTENT, 1000),                     # TTL opcode, non-TTL mode
    (zkwire.EPHEMERAL, 1000),
])
def test_ttl_bad_arguments(zk, base, flags, ttl):
    with pytest.raises(BadArgumentsError):
        kz_call(zk, zkwire.CreateTTL(base + "/bad", b"", None, flags, ttl))


def test_ttl_maximum_accepted(zk, base):
    p, _ = kz_call(zk, zkwire.CreateTTL(base + "/max", b"", None,
                                        zkwire.PERSISTENT_WITH_TTL, 0xFFFFFFFFFF))
    assert zk.exists(p) is not None


@pytest.mark.parametrize("flags", [zkwire.PERSISTENT_WITH_TTL, 7, -1])
def test_plain_create_rejects_ttl_and_unknown_modes(raw, base, flags):
    hdr, _ = raw().call(Create(base + "/m", b"", OPEN_ACL_UNSAFE, flags))
    assert hdr.err == BadArgumentsError.code


# -- getEphemerals / getAllChildrenNumber / whoAmI --------------------------
def test_get_ephemerals(zk, make_client, base):
    zk.create(base + "/app/x", makepath=True)
    mine = [zk.create(base + "/app/e1", ephemeral=True),
            zk.create(base + "/app/x/e2", ephemeral=True),
            zk.create(base + "/apple", ephemeral=True)]
    make_client().create(base + "/app/theirs", ephemeral=True)
    assert sorted(kz_call(zk, zkwire.GetEphemerals(base + "/app/"))) == sorted(mine[:2])
    # the prefix is a plain string prefix, not a path prefix
    assert sorted(kz_call(zk, zkwire.GetEphemerals(base + "/app"))) == sorted(mine)
    assert set(mine) <= set(kz_call(zk, zkwire.GetEphemerals("/")))


def test_get_all_children_number(zk, base):
    zk.create(base + "/a/b/c", makepath=True)
    zk.create(base + "/a/d")
    zk.create(base + "/e")
    assert kz_call(zk, zkwire.GetAllChildrenNumber(base)) == 5
    assert kz_call(zk, zkwire.GetAllChildrenNumber(base + "/a/b/c")) == 0
    with pytest.raises(NoNodeError):
        kz_call(zk, zkwire.GetAllChildrenNumber(base + "/missing"))


def test_who_am_i(make_client):
    c = make_client()
    assert ("ip", "127.0.0.1") in kz_call(c, zkwire.WhoAmI())
    c.add_auth("digest", "alice:pw")
    assert ("digest", "alice") in kz_call(c, zkwire.WhoAmI())


# -- persistent watches -----------------------------------------------------
def drain(c, n, timeout=10.0):
    return [(e.type, e.path) for e in (c.wait_event(timeout) for _ in range(n))]


def test_persistent_watch(server, zk, base, raw):
    w = raw()
    node = zk.create(base + "/pw", b"0")
    w.check(zkwire.AddWatch(node, zkwire.PERSISTENT_WATCH))
    zk.create(node + "/k")
    zk.set(node, b"1")
    zk.set(node + "/k", b"not watched")  # not recursive
    zk.set(node, b"2")                   # fires again: persistent
    zk.delete(node + "/k")
    zk.delete(node)
    zk.create(node)                      # still registered after the delete
    assert drain(w, 6) == [(zkwire.EV_CHILD, node), (zkwire.EV_CHANGED, node),
                           (zkwire.EV_CHANGED, node), (zkwire.EV_CHILD, node),
                           (zkwire.EV_DELETED, node), (zkwire.EV_CREATED, node)]


def test_persistent_recursive_watch(server, zk, base, raw):
    w = raw()
    top = zk.create(base + "/tree")
    w.check(zkwire.AddWatch(top, zkwire.PERSISTENT_RECURSIVE_WATCH))
    zk.create(top + "/a")
    zk.create(top + "/a/b")
    zk.set(top + "/a/b", b"x")
    zk.delete(top + "/a/b")
    zk.set(top, b"y")
    # no NodeChildrenChanged events in recursive mode
    assert drain(w, 5) == [(zkwire.EV_CREATED, top + "/a"), (zkwire.EV_CREATED, top + "/a/b"),
                           (zkwire.EV_CHANGED, top + "/a/b"), (zkwire.EV_DELETED, top + "/a/b"),
                           (zkwire.EV_CHANGED, top)]


def test_remove_watches(zk, base, raw):
    w = raw()
    node = zk.create(base + "/rw")
    w.check(GetData(node, True))
    w.check(zkwire.RemoveWatches(node, 2))  # data
    hdr, _ = w.call(zkwire.RemoveWatches(node, 2))
    assert hdr.err == NoWatcherError.code
    hdr, _ = w.call(zkwire.RemoveWatches(node, 1))  # no child watch either
    assert hdr.err == NoWatcherError.code
    zk.set(node, b"after removal")
    w.check(zkwire.AddWatch(node, zkwire.PERSISTENT_WATCH))
    w.check(zkwire.RemoveWatches(node, 3))  # any: takes the persistent one
    zk.set(node, b"again")
    # A round trip on w: an event queued before its reply would be read first.
    w.check(GetData(node, False))
    assert w.events == []
