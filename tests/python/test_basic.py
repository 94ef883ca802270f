"""Core znode operations through kazoo: create/get/set/delete/exists,
children, ephemeral and sequential nodes, stat fields and error codes."""

import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError, BadVersionError, NoChildrenForEphemeralsError, NoNodeError,
    NodeExistsError, NotEmptyError,
)
from kazoo.protocol.serialization import Create
from kazoo.protocol.states import ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE


def now_ms():
    return int(time.time() * 1000)


def test_create_get(zk, base):
    t0 = now_ms()
    path = zk.create(base + "/a", b"hello")
    assert path == base + "/a"
    data, st = zk.get(path)
    assert data == b"hello"
    assert isinstance(st, ZnodeStat)
    assert st.version == 0 and st.cversion == 0 and st.aversion == 0
    assert st.ephemeralOwner == 0
    assert st.dataLength == 5
    assert st.numChildren == 0
    assert st.czxid == st.mzxid == st.pzxid > 0
    assert st.ctime == st.mtime
    assert t0 - 5000 <= st.ctime <= now_ms() + 5000, "ctime is wall-clock milliseconds"


def test_create_returns_stat(zk, base):
    path, st = zk.create(base + "/a", b"xy", include_data=True)
    data, st2 = zk.get(path)
    assert st == st2


def test_empty_and_binary_data(zk, base):
    zk.create(base + "/empty")
    data, st = zk.get(base + "/empty")
    assert data == b"" and st.dataLength == 0
    blob = bytes(range(256)) * 4
    zk.create(base + "/bin", blob)
    assert zk.get(base + "/bin")[0] == blob


def test_large_data_limit(zk, base):
    big = b"x" * 1_000_000
    zk.create(base + "/big", big)
    data, st = zk.get(base + "/big")
    assert data == big and st.dataLength == len(big)


def test_unicode_names(zk, base):
    p = zk.create(base + "/ünï-cødé ✓", b"u")
    assert p == base + "/ünï-cødé ✓"
    assert zk.get_children(base) == ["ünï-cødé ✓"]
    assert zk.get(p)[0] == b"u"


def test_set_data_versions(zk, base):
    p = zk.create(base + "/n", b"v0")
    _, st0 = zk.get(p)
    st1 = zk.set(p, b"v1")
    assert st1.version == 1
    assert st1.czxid == st0.czxid
    assert st1.mzxid > st0.mzxid
    assert st1.mtime >= st0.ctime
    assert st1.dataLength == 2
    st2 = zk.set(p, b"v22", version=1)
    assert st2.version == 2 and st2.mzxid > st1.mzxid
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=1)
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=7)
    data, st = zk.get(p)
    assert data == b"v22" and st.version == 2
    # set does not touch pzxid/cversion
    assert st.pzxid == st0.pzxid and st.cversion == 0


def test_set_missing(zk, base):
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"x")


def test_get_missing(zk, base):
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")


def test_exists(zk, base):
    assert zk.exists(base + "/nope") is None
    zk.create(base + "/yes", b"abc")
    st = zk.exists(base + "/yes")
    assert st is not None and st.dataLength == 3
    assert st == zk.get(base + "/yes")[1]


def test_create_errors(zk, base):
    zk.create(base + "/a")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/a")
    with pytest.raises(NoNodeError):
        zk.create(base + "/missing/child")
    with pytest.raises(NodeExistsError):
        zk.create("/")


# kazoo normalises paths on the client side ("//" collapses, "." raises), so
# path syntax is checked on the raw protocol.
@pytest.mark.parametrize("bad", ["/x/.", "/x/..", "/x/", "/a\x00b", "/x/a\x01", "/x/a\x1f",
                                 "/x/a\x7f", "/x/a\x9f", "/x/a\ue000", "/x/a\ufff5"])
def test_invalid_paths(zk, base, raw, bad):
    zk.create(base + "/x")  # the parent exists, so the path syntax is what fails
    hdr, _ = raw().call(Create(base + bad, b"", OPEN_ACL_UNSAFE, 0))
    assert hdr.err == BadArgumentsError.code


def test_double_slash_under_root(raw):
    hdr, _ = raw().call(Create("//x", b"", OPEN_ACL_UNSAFE, 0))
    assert hdr.err == BadArgumentsError.code


def test_missing_parent_is_checked_before_path_syntax(base, raw):
    # ZooKeeper looks the parent ("/base/y") up before validating the path.
    hdr, _ = raw().call(Create(base + "/y/", b"", OPEN_ACL_UNSAFE, 0))
    assert hdr.err == NoNodeError.code
    hdr, _ = raw().call(Create(base + "/y/./z", b"", OPEN_ACL_UNSAFE, 0))
    assert hdr.err == NoNodeError.code


def test_relative_path_no_parent(raw):
    hdr, _ = raw().call(Create("a/b", b"", OPEN_ACL_UNSAFE, 0))
    assert hdr.err in (NoNodeError.code, BadArgumentsError.code)


def test_trailing_slash_sequential_is_fine(zk, base, raw):
    zk.create(base + "/x")
    hdr, path = raw().call(Create(base + "/x/", b"", OPEN_ACL_UNSAFE, 2))
    assert hdr.err == 0 and path == base + "/x/0000000000"


def test_delete(zk, base):
    p = zk.create(base + "/d", b"")
    zk.set(p, b"1")
    with pytest.raises(BadVersionError):
        zk.delete(p, version=0)
    zk.delete(p, version=1)
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.delete(p)


def test_delete_not_empty(zk, base):
    zk.create(base + "/p/c", makepath=True)
    with pytest.raises(NotEmptyError):
        zk.delete(base + "/p")
    zk.delete(base + "/p", recursive=True)
    assert zk.exists(base + "/p") is None


def test_delete_root_is_bad_arguments(zk):
    with pytest.raises(BadArgumentsError):
        zk.delete("/")


def test_makepath(zk, base):
    zk.create(base + "/1/2/3/4", b"deep", makepath=True)
    assert zk.get(base + "/1/2/3/4")[0] == b"deep"
    assert zk.get_children(base + "/1/2") == ["3"]
    zk.ensure_path(base + "/1/2/3/4")  # already there: no error


def test_children_and_parent_stat(zk, base):
    _, st0 = zk.get(base)
    names = ["b", "a", "c", "a-1", "z", "0"]
    for n in names:
        zk.create(f"{base}/{n}", n.encode())
    assert sorted(zk.get_children(base)) == sorted(names)
    _, st = zk.get(base)
    assert st.numChildren == len(names)
    assert st.cversion == st0.cversion + len(names)
    assert st.version == st0.version, "child changes do not bump the data version"
    last = zk.exists(f"{base}/0")
    assert st.pzxid == last.czxid, "pzxid = zxid of the last child change"
    zk.delete(f"{base}/z")
    _, st2 = zk.get(base)
    assert st2.numChildren == len(names) - 1
    assert st2.cversion == st.cversion + 1
    assert st2.pzxid > st.pzxid
    assert st2.mzxid == st.mzxid


def test_children_with_stat(zk, base):
    zk.create(base + "/k")
    children, st = zk.get_children(base, include_data=True)
    assert children == ["k"]
    assert st.numChildren == 1


def test_root_and_zookeeper_nodes(zk):
    assert "zookeeper" in zk.get_children("/")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    st = zk.exists("/")
    assert st.czxid == 0 and st.ephemeralOwner == 0
    _, st_cfg = zk.get("/zookeeper/config")
    assert st_cfg.czxid == 0
    acl, _ = zk.get_acls("/zookeeper/config")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acl] == [(1, "world", "anyone")]


def test_sequential(zk, base):
    zk.create(base + "/folder")
    p1 = zk.create(base + "/folder/a", b"s", sequence=True)
    assert p1 == base + "/folder/a0000000000"
    p2 = zk.create(base + "/folder/a", b"s", sequence=True)
    assert p2 == base + "/folder/a0000000001"
    # The suffix counts the children ever *created* under the parent
    # (deletes do not advance it).
    zk.create(base + "/folder/plain")
    zk.delete(base + "/folder/plain")
    p3 = zk.create(base + "/folder/b-", sequence=True)
    assert p3 == base + "/folder/b-0000000003"
    p4 = zk.create(base + "/folder/", sequence=True)
    assert p4 == base + "/folder/0000000004"
    assert sorted(zk.get_children(base + "/folder")) == [
        "0000000004", "a0000000000", "a0000000001", "b-0000000003"]


def test_cversion_semantics(zk, base):
    """ZooKeeper stores the number of child creates C and reports
    cversion = 2*C - numChildren (one step per create and per delete); the
    sequential suffix is C."""
    f = zk.create(base + "/f")
    assert zk.exists(f).cversion == 0
    zk.create(f + "/a", sequence=True)             # C=1, n=1
    assert zk.exists(f).cversion == 1
    zk.create(f + "/p")                            # C=2, n=2
    assert zk.exists(f).cversion == 2
    zk.delete(f + "/p")                            # C=2, n=1
    assert zk.exists(f).cversion == 3
    assert zk.create(f + "/b", sequence=True) == f + "/b0000000002"  # C=3, n=2
    assert zk.exists(f).cversion == 4
    zk.delete(f + "/b0000000002")
    zk.delete(f + "/a0000000000")                  # C=3, n=0
    assert zk.exists(f).cversion == 6
    assert zk.create(f + "/b", sequence=True) == f + "/b0000000003"
    assert zk.exists(f).cversion == 7


def test_root_and_system_node_stats(zk):
    """Fresh-tree quirks that follow from the cversion rule: the root's stored
    create count is 0 with /zookeeper as a child, so a fresh root reports
    cversion -1; /zookeeper reports -2; /zookeeper/config has aversion -1."""
    st = zk.exists("/zookeeper")
    assert st.cversion == -2 and st.numChildren == 2 and st.czxid == 0
    st = zk.exists("/zookeeper/config")
    assert st.aversion == -1 and st.cversion == 0


def test_sequential_concurrent_unique(make_client, base):
    import threading
    clients = [make_client() for _ in range(4)]
    out, lock = [], threading.Lock()

    def worker(c):
        for _ in range(25):
            p = c.create(base + "/q-", sequence=True)
            with lock:
                out.append(p)

    ts = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(out) == 100 and len(set(out)) == 100
    assert sorted(int(p[-10:]) for p in out) == list(range(100))


def test_ephemeral(zk, make_client, base):
    p = zk.create(base + "/e", b"eph", ephemeral=True)
    _, st = zk.get(p)
    assert st.ephemeralOwner == zk.client_id[0]
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(p + "/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(p + "/child", ephemeral=True)
    other = make_client()
    assert other.exists(p).ephemeralOwner == zk.client_id[0]


def test_ephemeral_sequential(zk, base):
    p = zk.create(base + "/es-", b"x", ephemeral=True, sequence=True)
    assert p.startswith(base + "/es-") and len(p) == len(base + "/es-") + 10
    assert zk.exists(p).ephemeralOwner == zk.client_id[0]


def test_ephemeral_removed_on_close(zk, make_client, base):
    owner = make_client()
    p = owner.create(base + "/gone", ephemeral=True)
    owner.create(base + "/gone-seq-", ephemeral=True, sequence=True)
    assert len(zk.get_children(base)) == 2
    owner.stop()
    # closeSession is synchronous: the nodes are gone when stop() returns
    assert zk.exists(p) is None
    assert zk.get_children(base) == []


def test_sync(zk, base):
    assert zk.sync(base) == base


def test_many_children_listing(zk, base):
    tx = zk.transaction()
    for i in range(300):
        tx.create(f"{base}/c{i:04d}")
    res = tx.commit()
    assert len(res) == 300 and all(isinstance(r, str) for r in res)
    kids = zk.get_children(base)
    assert sorted(kids) == [f"c{i:04d}" for i in range(300)]
    assert zk.exists(base).numChildren == 300


def test_read_your_writes_across_clients(make_client, base):
    a, b = make_client(), make_client()
    for i in range(20):
        a.set(base, str(i).encode())
        b.sync(base)
        assert b.get(base)[0] == str(i).encode()
