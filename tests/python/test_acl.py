"""ACLs: digest auth, world/auth/ip schemes, per-permission checks, super user."""

import threading

import pytest
from kazoo.exceptions import (
    AuthFailedError, BadVersionError, InvalidACLError, NoAuthError,
)
from kazoo.protocol.states import EventType
from kazoo.security import (
    ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Permissions, make_acl,
    make_digest_acl, make_digest_acl_credential,
)


def acl_tuples(acls):
    return sorted((a.perms, a.id.scheme, a.id.id) for a in acls)


def test_default_acl_is_open(zk, base):
    p = zk.create(base + "/open")
    acls, st = zk.get_acls(p)
    assert acl_tuples(acls) == [(31, "world", "anyone")]
    assert st.aversion == 0


def test_digest_acl(zk, make_client, base):
    acl = make_digest_acl("alice", "secret", all=True)
    p = zk.create(base + "/private", b"hidden", acl=[acl])
    stranger = make_client()
    with pytest.raises(NoAuthError):
        stranger.get(p)
    with pytest.raises(NoAuthError):
        stranger.set(p, b"x")
    with pytest.raises(NoAuthError):
        stranger.get_children(p)
    with pytest.raises(NoAuthError):
        stranger.get_acls(p)
    with pytest.raises(NoAuthError):
        stranger.create(p + "/child")
    # exists() is not ACL-checked
    assert stranger.exists(p).dataLength == 6
    stranger.add_auth("digest", "alice:secret")
    assert stranger.get(p)[0] == b"hidden"
    stranger.set(p, b"seen")
    stranger.create(p + "/child")
    assert acl_tuples(stranger.get_acls(p)[0]) == [
        (31, "digest", "alice:" + make_digest_acl_credential("alice", "secret").split(":", 1)[1])]


def test_wrong_password(zk, make_client, base):
    p = zk.create(base + "/pw", acl=[make_digest_acl("bob", "right", all=True)])
    c = make_client(auth_data=[("digest", "bob:wrong")])
    with pytest.raises(NoAuthError):
        c.get(p)


def test_auth_data_on_connect(zk, make_client, base):
    p = zk.create(base + "/ad", b"v", acl=[make_digest_acl("carol", "pw", read=True)])
    c = make_client(auth_data=[("digest", "carol:pw")])
    assert c.get(p)[0] == b"v"
    with pytest.raises(NoAuthError):
        c.set(p, b"w")  # read only


def test_several_identities(zk, make_client, base):
    p = zk.create(base + "/multi", acl=[make_digest_acl("u1", "p1", read=True),
                                        make_digest_acl("u2", "p2", write=True)])
    c = make_client()
    c.add_auth("digest", "u2:p2")
    c.set(p, b"w")
    with pytest.raises(NoAuthError):
        c.get(p)
    c.add_auth("digest", "u1:p1")
    assert c.get(p)[0] == b"w"


def test_creator_all_acl(zk, make_client, base):
    with pytest.raises(InvalidACLError):
        zk.create(base + "/creator", acl=CREATOR_ALL_ACL)
    c = make_client(auth_data=[("digest", "dave:pw")])
    p = c.create(base + "/creator", acl=CREATOR_ALL_ACL)
    acls, _ = c.get_acls(p)
    assert acl_tuples(acls) == [(31, "digest", make_digest_acl_credential("dave", "pw"))]
    with pytest.raises(NoAuthError):
        zk.get(p)


def test_read_only_acl(zk, base):
    p = zk.create(base + "/ro", b"r", acl=READ_ACL_UNSAFE)
    assert zk.get(p)[0] == b"r"
    with pytest.raises(NoAuthError):
        zk.set(p, b"w")
    with pytest.raises(NoAuthError):
        zk.create(p + "/c")
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE)
    # delete needs DELETE on the parent, not on the node
    zk.delete(p)


def test_delete_needs_parent_delete_perm(zk, base):
    parent = zk.create(base + "/parent", acl=[make_acl("world", "anyone", read=True,
                                                       create=True, admin=True)])
    zk.create(parent + "/kid")
    with pytest.raises(NoAuthError):
        zk.delete(parent + "/kid")
    zk.set_acls(parent, OPEN_ACL_UNSAFE)
    zk.delete(parent + "/kid")


def test_set_acls_versions(zk, base):
    p = zk.create(base + "/av")
    st = zk.set_acls(p, READ_ACL_UNSAFE + [make_acl("world", "anyone", admin=True)], version=0)
    assert st.aversion == 1 and st.version == 0
    with pytest.raises(BadVersionError):
        zk.set_acls(p, OPEN_ACL_UNSAFE, version=0)
    st = zk.set_acls(p, OPEN_ACL_UNSAFE, version=1)
    assert st.aversion == 2
    acls, st2 = zk.get_acls(p)
    assert acl_tuples(acls) == [(31, "world", "anyone")] and st2.aversion == 2


def test_set_acls_needs_admin(zk, base):
    p = zk.create(base + "/noadmin", acl=[make_acl("world", "anyone", read=True, write=True)])
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE)


def test_get_acls_with_read_only(zk, base):
    p = zk.create(base + "/readable", acl=READ_ACL_UNSAFE)
    acls, _ = zk.get_acls(p)
    assert acl_tuples(acls) == [(1, "world", "anyone")]


def test_ip_acl(zk, base):
    ok = zk.create(base + "/ip-ok", b"1", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert zk.get(ok)[0] == b"1"
    net = zk.create(base + "/ip-net", b"2", acl=[make_acl("ip", "127.0.0.0/8", all=True)])
    assert zk.get(net)[0] == b"2"
    other = zk.create(base + "/ip-other", b"3", acl=[make_acl("ip", "10.1.2.3", all=True)])
    with pytest.raises(NoAuthError):
        zk.get(other)


@pytest.mark.parametrize("acl", [
    ACL(Permissions.ALL, Id("nosuchscheme", "x")),
    ACL(Permissions.ALL, Id("digest", "no-colon-here")),
    ACL(Permissions.ALL, Id("ip", "300.1.2.3")),
    ACL(Permissions.ALL, Id("auth", "")),  # no authenticated identity on this session
])
def test_invalid_acls(zk, base, acl):
    with pytest.raises(InvalidACLError):
        zk.create(base + "/bad", acl=[acl])
    with pytest.raises(InvalidACLError):
        zk.set_acls(base, [acl])


def test_duplicate_acl_entries_collapse(zk, base):
    p = zk.create(base + "/dup", acl=OPEN_ACL_UNSAFE + OPEN_ACL_UNSAFE)
    assert acl_tuples(zk.get_acls(p)[0]) == [(31, "world", "anyone")]


def test_super_user(zk, make_client, base):
    p = zk.create(base + "/locked", b"L", acl=[make_digest_acl("eve", "pw", all=True)])
    su = make_client(auth_data=[("digest", "super:test")])
    assert su.get(p)[0] == b"L"
    su.set_acls(p, OPEN_ACL_UNSAFE)
    assert zk.get(p)[0] == b"L"


def test_unknown_auth_scheme_fails(make_client):
    c = make_client()
    with pytest.raises(AuthFailedError):
        c.add_auth("nosuchscheme", "whatever")


def test_watch_events_need_read_permission(zk, make_client, base):
    """ZooKeeper 3.8 only delivers a watch event to a session that may READ
    the znode (the deleted/changed node itself, or the created one); exists()
    itself is not ACL-checked, so the watch can be set but never fires."""
    hidden = zk.create(base + "/hidden", acl=[make_digest_acl("u1", "p1", all=True)])
    no_read = zk.create(base + "/no-read", acl=[make_acl("world", "anyone", write=True,
                                                         delete=True, create=True)])
    watcher = make_client()
    events = []
    got = threading.Event()

    def rec(ev):
        if ev.type != EventType.NONE:
            events.append((ev.type, ev.path))
            got.set()

    assert watcher.exists(hidden, watch=rec) is not None
    assert watcher.exists(no_read, watch=rec) is not None
    assert watcher.exists(base + "/open", watch=rec) is None
    zk.delete(hidden)
    zk.set(no_read, b"changed")
    zk.create(base + "/open")  # readable: this one is delivered
    assert got.wait(10)
    # Events arrive in order, so the earlier two would have come first.
    assert events[0] == (EventType.CREATED, base + "/open"), events


def test_acl_in_multi(zk, base):
    p = zk.create(base + "/guarded", acl=READ_ACL_UNSAFE)
    tx = zk.transaction()
    tx.create(base + "/ok")
    tx.set_data(p, b"nope")
    res = tx.commit()
    assert type(res[1]) is NoAuthError
    assert zk.exists(base + "/ok") is None
