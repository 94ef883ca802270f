"""`paddock data import`: an Apache ZooKeeper 3.8 data dir becomes a paddock
one with the same nodes, data, ACLs, stats, sessions and zxids.

ZooKeeper runs with a small snapCount so it writes several (fuzzy)
snapshots and rolls its log while the load runs; the import then has to
load the newest snapshot and replay the log after it.
"""

import os
import subprocess
import time

import pytest
from kazoo.client import KazooClient
from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl

import zkservers
import zkwire

SUPER = [("digest", "super:test")]
PIPELINED_OPS = 1500


def client(srv, **kw):
    kw.setdefault("timeout", 30.0)
    c = KazooClient(srv.connect, auth_data=SUPER, **kw)
    c.start(timeout=15)
    return c


def dump(c):
    """{path: (data, stat, acl)} for every node, as a client sees them."""
    out = {}
    stack = ["/"]
    while stack:
        p = stack.pop()
        data, st = c.get(p)
        acl, _ = c.get_acls(p)
        out[p] = (data, tuple(st), sorted((a.perms, a.id.scheme, a.id.id) for a in acl))
        stack.extend(p.rstrip("/") + "/" + k for k in c.get_children(p))
    return out


def zxid_of(srv):
    for line in srv.four_letter("srvr").splitlines():
        if line.startswith("Zxid:"):
            return int(line.split()[1], 16)
    raise AssertionError("srvr has no Zxid line")


def load(c, eph):
    """A mixed workload: persistent, ephemeral, sequential, container and TTL
    nodes, digest ACLs, setACL, a multi, deletes, and enough pipelined txns
    for several snapshots at snapCount=100."""
    c.create("/imp")
    c.create("/imp/acl", b"secret",
             acl=[make_digest_acl("u", "p", all=True), make_acl("world", "anyone", read=True)])
    c.create("/imp/seq")
    for _ in range(5):
        c.create("/imp/seq/s-", b"x", sequence=True)
    c.delete("/imp/seq/s-0000000001")
    c.set_acls("/imp/acl", [make_digest_acl("u", "p", all=True)])
    zkwire.kz_call(c, zkwire.CreateContainer("/imp/box", b"c", OPEN_ACL_UNSAFE))
    c.create("/imp/box/item", b"i")
    zkwire.kz_call(c, zkwire.CreateTTL("/imp/ttl", b"t", OPEN_ACL_UNSAFE,
                                       zkwire.PERSISTENT_WITH_TTL, 3_600_000))
    tx = c.transaction()
    tx.create("/imp/multi", b"m")
    tx.set_data("/imp/acl", b"secret2")
    tx.check("/imp/seq", 0)
    tx.commit()
    eph.create("/imp/eph", b"mine", ephemeral=True)
    eph.create("/imp/seq/e-", b"", ephemeral=True, sequence=True)
    # Pipelined creates, sets and deletes: snapshots are taken while
    # requests are in flight, so they are fuzzy.
    c.create("/imp/bulk")
    pending = [c.create_async(f"/imp/bulk/n{i:05d}", str(i).encode())
               for i in range(PIPELINED_OPS // 3)]
    pending += [c.set_async(f"/imp/bulk/n{i:05d}", b"v%d" % i)
                for i in range(PIPELINED_OPS // 3)]
    pending += [c.delete_async(f"/imp/bulk/n{i:05d}")
                for i in range(0, PIPELINED_OPS // 3, 3)]
    for p in pending:
        p.get(timeout=30)
    # A session that closes: its ephemeral goes with it.
    gone = client_like(c)
    gone.create("/imp/gone", ephemeral=True)
    gone.stop()
    gone.close()


def client_like(c):
    host = c.hosts[0]
    g = KazooClient(f"{host[0]}:{host[1]}", timeout=10.0)
    g.start(timeout=15)
    return g


# Absolute: the servers run with their work dir as cwd.
PADDOCK = os.path.abspath(zkservers.paddock_bin())


def run_paddock(*args, timeout=60):
    return subprocess.run([PADDOCK, "data", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("stop_how", ["sigterm", "sigkill"])
def test_import_zookeeper_data_dir(stop_how):
    if not zkservers.ZooKeeperServer.available():
        pytest.fail("Apache ZooKeeper (Debian package 'zookeeper') or java is missing")
    zk = zkservers.ZooKeeperServer(extra_cfg={"snapCount": "100"})
    pd = zkservers.PaddockServer(binary=PADDOCK)
    try:
        zk.start()
        c, eph = client(zk), client(zk)
        try:
            load(c, eph)
            before = dump(c)
        finally:
            c.stop()
            c.close()
        last_zxid = zxid_of(zk)
        # The ephemeral owner's session is still open when ZooKeeper stops.
        if stop_how == "sigkill":
            zk.kill()
        zk.stop()
        eph.stop()
        eph.close()

        version2 = zk.data_dir / "version-2"
        snaps = sorted(version2.glob("snapshot.*"))
        logs = sorted(version2.glob("log.*"))
        print(f"ZooKeeper wrote {len(snaps)} snapshots, {len(logs)} logs, last zxid {last_zxid:#x}")
        assert len(snaps) >= 2, "snapCount=100 should have produced snapshots"

        started = time.monotonic()
        r = run_paddock("import", str(zk.data_dir), "--to", str(pd.data_dir))
        took = time.monotonic() - started
        print(r.stdout, r.stderr, f"import took {took:.3f} s")
        assert r.returncode == 0, r.stderr

        again = run_paddock("import", str(zk.data_dir), "--to", str(pd.data_dir))
        assert again.returncode != 0 and "not empty" in again.stderr

        v = run_paddock("verify", str(pd.data_dir))
        assert v.returncode == 0, v.stdout + v.stderr
        ins = run_paddock("inspect", str(version2))
        assert ins.returncode == 0, ins.stderr
        assert "createSession" in ins.stdout and "/imp/multi" in ins.stdout

        pd.start()
        assert zxid_of(pd) == last_zxid
        c = client(pd)
        try:
            after = dump(c)
            assert set(after) == set(before)
            for p in sorted(before):
                assert after[p] == before[p], p
            # Counters carry on: sequence numbers and zxids.
            # (s-0..s-4 and e-5 were created before)
            assert c.create("/imp/seq/s-", sequence=True) == "/imp/seq/s-0000000006"
            assert c.exists("/imp/seq/s-0000000006").czxid > last_zxid
        finally:
            c.stop()
            c.close()
    finally:
        zk.destroy()
        pd.destroy()
