"""multi (transactions): all-or-nothing, per-op results, one zxid."""

import pytest
from kazoo.exceptions import (
    BadVersionError, NoNodeError, NodeExistsError, NotEmptyError, RolledBackError,
    RuntimeInconsistency,
)


def test_commit_results(zk, base):
    zk.create(base + "/s", b"0")
    zk.create(base + "/d")
    tx = zk.transaction()
    tx.create(base + "/new", b"n")
    tx.create(base + "/seq-", sequence=True)
    tx.set_data(base + "/s", b"1", version=0)
    tx.check(base + "/s", 0)  # stale: set_data above already made it version 1
    tx.delete(base + "/d")
    res = tx.commit()
    # Ops see the effects of earlier ops in the same multi, so the check
    # fails and the whole transaction is rolled back.
    assert isinstance(res[3], BadVersionError)
    assert all(isinstance(r, RolledBackError) for r in res[:3])
    assert isinstance(res[4], RuntimeInconsistency)
    assert zk.exists(base + "/new") is None
    assert zk.get(base + "/s")[0] == b"0"

    tx = zk.transaction()
    tx.create(base + "/new", b"n")
    tx.create(base + "/seq-", sequence=True)
    tx.set_data(base + "/s", b"1", version=0)
    tx.check(base + "/s", 1)
    tx.delete(base + "/d")
    res = tx.commit()
    assert res[0] == base + "/new"
    assert res[1].startswith(base + "/seq-") and len(res[1]) == len(base + "/seq-") + 10
    assert res[2].version == 1 and res[2].dataLength == 1
    assert res[3] is True and res[4] is True
    assert zk.get(base + "/new")[0] == b"n"
    assert zk.exists(base + "/d") is None


def test_all_ops_share_one_zxid(zk, base):
    zk.create(base + "/x")
    tx = zk.transaction()
    tx.create(base + "/a")
    tx.create(base + "/b")
    tx.set_data(base + "/x", b"v")
    res = tx.commit()
    za, zb = zk.exists(base + "/a").czxid, zk.exists(base + "/b").czxid
    assert za == zb == res[2].mzxid
    assert zk.exists(base).pzxid == za


def test_failure_rolls_back_everything(zk, base):
    zk.create(base + "/keep", b"orig")
    tx = zk.transaction()
    tx.create(base + "/a")
    tx.set_data(base + "/keep", b"changed")
    tx.create(base + "/missing/child")
    tx.create(base + "/b")
    res = tx.commit()
    assert [type(r) for r in res] == [RolledBackError, RolledBackError, NoNodeError,
                                      RuntimeInconsistency]
    assert zk.exists(base + "/a") is None and zk.exists(base + "/b") is None
    data, st = zk.get(base + "/keep")
    assert data == b"orig" and st.version == 0


@pytest.mark.parametrize("op,exc", [
    ("create_existing", NodeExistsError),
    ("delete_missing", NoNodeError),
    ("delete_nonempty", NotEmptyError),
    ("set_badversion", BadVersionError),
    ("check_missing", NoNodeError),
])
def test_failure_kinds(zk, base, op, exc):
    zk.create(base + "/n/c", makepath=True)
    tx = zk.transaction()
    tx.create(base + "/first")
    if op == "create_existing":
        tx.create(base + "/n")
    elif op == "delete_missing":
        tx.delete(base + "/nope")
    elif op == "delete_nonempty":
        tx.delete(base + "/n")
    elif op == "set_badversion":
        tx.set_data(base + "/n", b"", version=5)
    elif op == "check_missing":
        tx.check(base + "/nope", 0)
    res = tx.commit()
    assert isinstance(res[0], RolledBackError)
    assert isinstance(res[1], exc)
    assert zk.exists(base + "/first") is None


def test_ops_see_earlier_ops(zk, base):
    tx = zk.transaction()
    tx.create(base + "/p")
    tx.create(base + "/p/c")
    tx.set_data(base + "/p/c", b"x", version=0)
    tx.check(base + "/p/c", 1)
    tx.delete(base + "/p/c", version=1)
    tx.delete(base + "/p")
    res = tx.commit()
    assert res[:2] == [base + "/p", base + "/p/c"]
    assert res[2].version == 1
    assert res[3:] == [True, True, True]
    assert zk.exists(base + "/p") is None
    # The base saw one create and one delete of its child /p.
    assert zk.exists(base).cversion == 2


def test_sequential_in_multi(zk, base):
    tx = zk.transaction()
    for _ in range(3):
        tx.create(base + "/s-", sequence=True)
    res = tx.commit()
    assert res == [f"{base}/s-{i:010d}" for i in range(3)]


def test_empty_transaction(zk):
    assert zk.transaction().commit() == []


def test_ephemeral_in_multi(zk, make_client, base):
    c = make_client()
    tx = c.transaction()
    tx.create(base + "/e", ephemeral=True)
    tx.commit()
    assert zk.exists(base + "/e").ephemeralOwner == c.client_id[0]
    c.stop()
    assert zk.exists(base + "/e") is None


def test_transaction_context_manager(zk, base):
    with zk.transaction() as tx:
        tx.create(base + "/cm", b"1")
    assert tx.committed
    assert zk.get(base + "/cm")[0] == b"1"
