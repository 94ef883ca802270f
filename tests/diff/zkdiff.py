"""Differential test: one long script of ZooKeeper operations run against two
servers (Apache ZooKeeper 3.8 as the reference, paddock as the subject),
with the outputs normalised and compared step by step.

Normalisation keeps everything a client can rely on and drops what is
legitimately different between two runs:

* ctime / mtime values are dropped;
* zxids (czxid, mzxid, pzxid) are replaced by their rank among all distinct
  zxids seen in that run (0 stays 0), so their relative order still counts;
* session ids (ephemeralOwner, whoAmI) become the session's script name,
  e.g. "B#2" for the second session opened under the name B;
* getChildren / getEphemerals lists are sorted.

Watch events are recorded per session: after every step each open session
does a round trip and flushes kazoo's callback queue, so the events a step
caused are attributed to that step, in the order the session received them.

Run from the command line against two servers you started yourself (both
must be fresh, i.e. have an empty tree):

    .venv/bin/python tests/diff/zkdiff.py 127.0.0.1:2181 127.0.0.1:2182
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import KazooException, ZookeeperError  # noqa: E402
from kazoo.handlers.threading import AsyncResult, KazooTimeoutError  # noqa: E402
from kazoo.protocol.serialization import (  # noqa: E402
    CheckVersion, Create, Create2, Delete, Exists, GetACL, GetChildren, GetChildren2,
    GetData, SetACL, SetData, Sync, Transaction,
)
from kazoo.protocol.states import Callback, EventType, ZnodeStat  # noqa: E402
from kazoo.security import (  # noqa: E402
    ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, make_acl, make_digest_acl,
)

import zkwire  # noqa: E402

STEP_TIMEOUT = 20.0
AWAIT_DEADLINE = 30.0
MAX_TIMEOUTS = 3  # a server that stops answering ends the run early

ACLS = {
    "open": OPEN_ACL_UNSAFE,
    "read": READ_ACL_UNSAFE,
    "creator": CREATOR_ALL_ACL,
    "u1": [make_digest_acl("u1", "p1", all=True)],
    "u1-read+u2": [make_digest_acl("u1", "p1", read=True), make_digest_acl("u2", "p2", all=True)],
    "rw-world": [make_acl("world", "anyone", read=True, write=True)],
    "rcd-world": [make_acl("world", "anyone", read=True, create=True, admin=True)],
    "ip-local": [make_acl("ip", "127.0.0.1", all=True)],
    "ip-net": [make_acl("ip", "127.0.0.0/8", read=True, write=True, create=True,
                        delete=True)],
    "ip-far": [make_acl("ip", "10.9.8.7", all=True)],
    "dup": OPEN_ACL_UNSAFE + OPEN_ACL_UNSAFE,
    "empty": [],
    "bad-scheme": [ACL(31, Id("nosuch", "x"))],
    "bad-digest": [ACL(31, Id("digest", "nocolon"))],
    "bad-ip": [ACL(31, Id("ip", "999.1.1.1"))],
    "auth": [ACL(31, Id("auth", ""))],
}


# ---------------------------------------------------------------------------
# The script
# ---------------------------------------------------------------------------
def op(kind, sess=None, *args):
    return [kind, sess, *args]


def scripted_part():
    """Hand-written steps covering each behaviour at least once."""
    s = []
    add = s.append
    for name in "ABC":
        add(op("open", name))
    # fresh-tree reads
    for p in ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]:
        add(op("get", "A", p, False))
        add(op("getacl", "A", p))
        add(op("children2", "A", p, False))
    add(op("allchildren", "A", "/"))
    # watches before creation
    add(op("exists", "A", "/d", True))
    add(op("children", "B", "/", True))
    add(op("create", "A", "/d", b"root", "open", 0))
    add(op("get", "A", "/d", False))
    add(op("get", "B", "/", False))
    # errors on missing nodes
    add(op("create", "A", "/d", b"again", "open", 0))
    add(op("create", "A", "/missing/x", b"", "open", 0))
    add(op("delete", "A", "/missing", -1))
    add(op("set", "A", "/missing", b"x", -1))
    add(op("get", "A", "/missing", False))
    add(op("children", "A", "/missing", False))
    add(op("children2", "A", "/missing", False))
    add(op("getacl", "A", "/missing"))
    add(op("setacl", "A", "/missing", "open", -1))
    add(op("exists", "A", "/missing", False))
    # path syntax (sent raw: no client-side normalisation)
    for bad in ["d", "/d/", "//d", "/d/.", "/d/..", "/d/x\x00y", "/d/\x01", "/d/a\x7f",
                "/d/./x", "/d/../x", "/d//x", "/", "/zookeeper", "/zookeeper/x"]:
        add(op("create", "A", bad, b"", "open", 0))
    add(op("create", "A", "/d/", b"", "open", 2))  # sequential with trailing slash: fine
    add(op("delete", "A", "/", -1))
    add(op("delete", "A", "/zookeeper", -1))
    add(op("set", "A", "/", b"root data", -1))
    add(op("get", "A", "/", False))
    # versions
    add(op("get", "C", "/d", True))
    add(op("set", "A", "/d", b"v1", 0))
    add(op("set", "A", "/d", b"v1 again", 0))
    add(op("set", "A", "/d", b"v2", -1))
    add(op("set", "A", "/d", b"v3", 2))
    add(op("delete", "A", "/d", 5))
    add(op("get", "A", "/d", False))
    # data shapes
    add(op("create", "A", "/d/null", None, "open", 0))
    add(op("get", "A", "/d/null", False))
    add(op("create", "A", "/d/empty", b"", "open", 0))
    add(op("get", "A", "/d/empty", False))
    add(op("create", "A", "/d/bin", bytes(range(256)), "open", 0))
    add(op("get", "A", "/d/bin", False))
    add(op("create", "A", "/d/big", b"z" * 200_000, "open", 0))
    add(op("exists", "A", "/d/big", False))
    add(op("create", "A", "/d/ünï ✓", "ü".encode(), "open", 0))
    add(op("set", "A", "/d/null", None, -1))
    add(op("get", "A", "/d/null", False))
    # children and parent stats
    add(op("children", "B", "/d", True))
    for i, n in enumerate(["c3", "c1", "c2", "c10", "C0"]):
        add(op("create", "A", f"/d/{n}", n.encode() * i, "open", 0))
        add(op("exists", "A", "/d", False))
    add(op("children2", "A", "/d", False))
    add(op("delete", "A", "/d", -1))
    add(op("delete", "A", "/d/c1", -1))
    add(op("children2", "A", "/d", False))
    # sequential numbering = creates under the parent
    add(op("create", "A", "/seq", b"", "open", 0))
    for _ in range(3):
        add(op("create", "A", "/seq/s-", b"", "open", 2))
    add(op("delete", "A", "/seq/s-0000000001", -1))
    add(op("create", "A", "/seq/plain", b"", "open", 0))
    add(op("create", "A", "/seq/s-", b"", "open", 2))
    add(op("create", "B", "/seq/e-", b"", "open", 3))
    add(op("create", "A", "/seq/", b"", "open", 2))
    add(op("children2", "A", "/seq", False))
    add(op("get", "A", "/seq", False))
    # ephemerals
    add(op("create", "B", "/d/e1", b"eph", "open", 1))
    add(op("create", "B", "/d/e1/x", b"", "open", 0))
    add(op("create", "A", "/d/e1/y", b"", "open", 1))
    add(op("get", "A", "/d/e1", True))
    add(op("children", "C", "/d", True))
    add(op("getephemerals", "B", "/"))
    add(op("getephemerals", "B", "/d"))
    add(op("getephemerals", "A", "/"))
    add(op("close", "B"))
    add(op("exists", "A", "/d/e1", False))
    add(op("children", "A", "/seq", False))
    add(op("open", "B"))
    add(op("create", "B", "/d/e2", b"", "open", 1))
    add(op("get", "C", "/d/e2", False))
    # ACLs
    add(op("create", "A", "/acl", b"", "open", 0))
    add(op("create", "A", "/acl/u1", b"secret", "u1", 0))
    add(op("get", "B", "/acl/u1", False))
    add(op("exists", "B", "/acl/u1", False))
    add(op("getacl", "B", "/acl/u1"))
    add(op("children", "B", "/acl/u1", False))
    add(op("create", "B", "/acl/u1/kid", b"", "open", 0))
    add(op("auth", "B", "digest", "u1:wrong"))
    add(op("get", "B", "/acl/u1", False))
    add(op("auth", "B", "digest", "u1:p1"))
    add(op("get", "B", "/acl/u1", False))
    add(op("getacl", "B", "/acl/u1"))
    add(op("whoami", "B"))
    add(op("create", "B", "/acl/u1/kid", b"", "open", 0))
    add(op("create", "C", "/acl/creator", b"", "creator", 0))
    add(op("create", "C", "/acl/auth", b"", "auth", 0))
    add(op("auth", "C", "digest", "u2:p2"))
    add(op("create", "C", "/acl/creator", b"", "creator", 0))
    add(op("create", "C", "/acl/auth", b"", "auth", 0))
    add(op("getacl", "C", "/acl/creator"))
    add(op("get", "A", "/acl/creator", False))
    add(op("create", "A", "/acl/mixed", b"m", "u1-read+u2", 0))
    add(op("get", "B", "/acl/mixed", False))
    add(op("set", "B", "/acl/mixed", b"no", -1))
    add(op("set", "C", "/acl/mixed", b"yes", -1))
    for name in ["empty", "bad-scheme", "bad-digest", "bad-ip", "dup", "ip-local", "ip-net",
                 "ip-far", "read", "rw-world", "rcd-world"]:
        add(op("create", "A", f"/acl/{name}", b"x", name, 0))
        add(op("getacl", "A", f"/acl/{name}"))
    add(op("get", "A", "/acl/ip-far", False))
    add(op("get", "A", "/acl/ip-local", False))
    add(op("set", "A", "/acl/read", b"w", -1))
    add(op("create", "A", "/acl/read/kid", b"", "open", 0))
    add(op("setacl", "A", "/acl/read", "open", -1))
    add(op("set", "A", "/acl/rw-world", b"w", -1))
    add(op("create", "A", "/acl/rw-world/kid", b"", "open", 0))
    add(op("create", "A", "/acl/rcd-world/kid", b"", "open", 0))
    add(op("delete", "A", "/acl/rcd-world/kid", -1))
    add(op("setacl", "A", "/acl/rcd-world", "open", 0))
    add(op("setacl", "A", "/acl/rcd-world", "open", 0))
    add(op("setacl", "A", "/acl/rcd-world", "read", 1))
    add(op("setacl", "A", "/acl/rcd-world", "bad-scheme", -1))
    add(op("getacl", "A", "/acl/rcd-world"))
    add(op("delete", "A", "/acl/rcd-world/kid", -1))
    add(op("delete", "A", "/acl/read", -1))
    # multi
    add(op("create", "A", "/m", b"", "open", 0))
    add(op("get", "B", "/m", True))
    add(op("children", "C", "/m", True))
    add(op("multi", "A", [
        ["create", "/m/a", b"1", "open", 0], ["create", "/m/s-", b"", "open", 2],
        ["set", "/m", b"multi", 0], ["check", "/m", 1], ["create", "/m/a/b", b"", "open", 0],
        ["delete", "/m/a/b", 0]]))
    add(op("multi", "A", [
        ["create", "/m/x", b"", "open", 0], ["delete", "/m/missing", -1],
        ["set", "/m", b"", -1]]))
    add(op("multi", "A", [["check", "/m", 7]]))
    add(op("multi", "A", [["check", "/m/missing", -1]]))
    add(op("multi", "A", [["create", "/m/a", b"", "open", 0], ["create", "/m/y", b"", "open", 0]]))
    add(op("multi", "A", [["create", "/m/y", b"", "open", 0], ["delete", "/m", -1]]))
    add(op("multi", "A", [["create", "/m/bad/", b"", "open", 0]]))
    add(op("multi", "A", [["create", "/m/acl", b"", "bad-scheme", 0]]))
    add(op("multi", "A", []))
    add(op("multi", "B", [["create", "/m/eph", b"", "open", 1], ["create", "/m/eph-s", b"", "open", 3]]))
    add(op("multi", "A", [["create", "/m/t", b"", "open", 0], ["delete", "/m/t", -1],
                          ["create", "/m/t", b"2", "open", 0], ["set", "/m/t", b"3", 0]]))
    add(op("multi", "A", [["set", "/acl/mixed", b"", -1]]))
    add(op("children2", "A", "/m", False))
    add(op("get", "A", "/m", False))
    # watches: one-shot, dedup, event types
    add(op("create", "A", "/w", b"", "open", 0))
    add(op("create", "A", "/w/k", b"", "open", 0))
    add(op("get", "B", "/w", True))
    add(op("exists", "B", "/w", True))
    add(op("children", "B", "/w", True))
    add(op("get", "C", "/w/k", True))
    add(op("exists", "C", "/w/new", True))
    add(op("set", "A", "/w", b"1", -1))
    add(op("set", "A", "/w", b"2", -1))
    add(op("create", "A", "/w/new", b"", "open", 0))
    add(op("delete", "A", "/w/k", -1))
    add(op("children", "B", "/w", True))
    add(op("get", "B", "/w", True))
    add(op("delete", "A", "/w/new", -1))
    add(op("delete", "A", "/w", -1))
    add(op("set", "C", "/w2-missing", b"", -1))
    # containers and TTL nodes
    add(op("container", "A", "/cont", b"c"))
    add(op("container", "A", "/cont-never", b""))
    add(op("exists", "B", "/cont", True))
    add(op("create", "A", "/cont/kid", b"", "open", 0))
    add(op("delete", "A", "/cont/kid", -1))
    add(op("await_gone", "A", "/cont"))
    add(op("exists", "A", "/cont-never", False))
    add(op("container", "B", "/d/e2/c", b""))
    add(op("ttl", "A", "/ttl-long", b"t", 5, 3_600_000))
    add(op("ttl", "A", "/ttl-seq-", b"t", 6, 3_600_000))
    add(op("ttl", "A", "/ttl-bad", b"t", 5, 0))
    add(op("ttl", "A", "/ttl-bad", b"t", 0, 1000))
    add(op("ttl", "A", "/ttl-bad", b"t", 5, 1 << 40))
    add(op("ttl", "A", "/ttl-short", b"t", 5, 100))
    add(op("await_gone", "A", "/ttl-short"))
    add(op("get", "A", "/ttl-long", False))
    add(op("allchildren", "A", "/"))
    add(op("allchildren", "A", "/m"))
    add(op("sync", "A", "/m"))
    add(op("sync", "B", "/"))
    # authentication failure ends that session
    add(op("open", "D"))
    add(op("auth", "D", "nosuchscheme", "x"))
    add(op("get", "D", "/", False))
    add(op("close", "D"))
    return s


RANDOM_NAMES = ["a", "b", "c"]


def random_part(seed=20240601, n=320):
    """Seeded random operations on the /r subtree.  A rough model of which
    paths exist steers most operations at real nodes (so they succeed and
    trigger watches); the model is only a guide, the servers decide."""
    rnd = random.Random(seed)
    s = [op("create", "A", "/r", b"", "open", 0)]
    known = set()

    def rpath():
        r = rnd.random()
        if known and r < 0.55:
            return rnd.choice(sorted(known))
        if known and r < 0.85:
            base = rnd.choice(sorted(known))
            if base.count("/") < 4:
                return base + "/" + rnd.choice(RANDOM_NAMES)
        return "/r/" + rnd.choice(RANDOM_NAMES)

    def rdata():
        return rnd.choice([b"", b"x", b"hello", bytes([rnd.randrange(256)]) * rnd.randrange(8)])

    def rversion():
        return rnd.choice([-1, -1, -1, 0, 0, 1, 2])

    def track(kind, path, flags=0):
        if kind == "create" and flags == 0:
            known.add(path)
        elif kind == "delete" and not any(k.startswith(path + "/") for k in known):
            known.discard(path)

    def subop():
        k = rnd.choice(["create", "create", "set", "delete", "check"])
        p = rpath()
        if k == "create":
            f = rnd.choice([0, 0, 1, 2])
            track("create", p, f)
            return ["create", p, rdata(), "open", f]
        if k == "set":
            return ["set", p, rdata(), rversion()]
        if k == "delete":
            track("delete", p)
            return ["delete", p, rversion()]
        return ["check", p, rversion()]

    for _ in range(n):
        sess = rnd.choice("ABC")
        k = rnd.choices(
            ["create", "set", "delete", "get", "exists", "children", "children2", "getacl",
             "setacl", "multi", "sync", "reopen"],
            weights=[26, 16, 12, 10, 8, 8, 4, 2, 2, 8, 1, 2])[0]
        if k == "create":
            p, f = rpath(), rnd.choice([0, 0, 0, 0, 1, 2, 3])
            s.append(op("create", sess, p, rdata(), rnd.choice(["open"] * 8 + ["u1"]), f))
            track("create", p, f)
        elif k == "set":
            s.append(op("set", sess, rpath(), rdata(), rversion()))
        elif k == "delete":
            p = rpath()
            s.append(op("delete", sess, p, rversion()))
            track("delete", p)
        elif k in ("get", "exists", "children", "children2"):
            s.append(op(k, sess, rpath(), rnd.random() < 0.7))
        elif k == "getacl":
            s.append(op("getacl", sess, rpath()))
        elif k == "setacl":
            s.append(op("setacl", sess, rpath(), rnd.choice(["open", "u1", "rw-world"]),
                        rversion()))
        elif k == "multi":
            s.append(op("multi", sess, [subop() for _ in range(rnd.randint(1, 4))]))
        elif k == "sync":
            s.append(op("sync", sess, "/r"))
        elif k == "reopen":
            s.append(op("close", sess))
            s.append(op("open", sess))
            if sess != "C":
                s.append(op("auth", sess, "digest", "u1:p1"))
        if rnd.random() < 0.05:
            s.append(op("children2", "A", "/r", False))
    s.append(op("dump", "A", "/r"))
    return s


def build_script(seed=20240601, n_random=400):
    s = scripted_part()
    # A and B get the u1 identity so random u1-ACL nodes stay usable.
    s.append(op("auth", "A", "digest", "u1:p1"))
    s += random_part(seed, n_random)
    s.append(op("dump", "A", "/"))
    return s


def describe(step):
    kind, sess, *args = step
    shown = []
    for a in args:
        if isinstance(a, bytes) and len(a) > 16:
            shown.append(f"<{len(a)} bytes>")
        else:
            shown.append(repr(a))
    return f"{sess or '-'}: {kind}({', '.join(shown)})"


# ---------------------------------------------------------------------------
# Running a script
# ---------------------------------------------------------------------------
@dataclass
class Session:
    name: str
    gen: int
    client: KazooClient
    events: list = field(default_factory=list)

    @property
    def label(self):
        return f"{self.name}#{self.gen}"

    def watcher(self, ev):
        if ev.type != EventType.NONE:  # NONE events are made by kazoo itself
            self.events.append([ev.type, ev.path])


class Runner:
    def __init__(self, connect: str):
        self.connect = connect
        self.sessions: dict[str, Session] = {}
        self.gens: dict[str, int] = {}
        self.sid_labels: dict[int, str] = {}

    # -- helpers
    def call(self, sess: Session, request):
        ar = AsyncResult(sess.client.handler)
        sess.client._call(request, ar)
        return ar.get(timeout=STEP_TIMEOUT)

    def barrier(self, sess: Session):
        """Make sure every event the server sent before now has reached the
        session's watcher."""
        if not sess.client.connected:
            return
        try:
            self.call(sess, Exists("/", None))
        except KazooException:
            return
        except KazooTimeoutError:
            return
        done = threading.Event()
        sess.client.handler.dispatch_callback(Callback("watch", done.set, ()))
        done.wait(STEP_TIMEOUT)

    def request_for(self, kind, sess, args):
        w = sess.watcher
        if kind == "create":
            path, data, acl, flags = args
            return Create(path, data, ACLS[acl], flags)
        if kind == "create2":
            path, data, acl, flags = args
            return Create2(path, data, ACLS[acl], flags)
        if kind == "get":
            return GetData(args[0], w if args[1] else None)
        if kind == "exists":
            return Exists(args[0], w if args[1] else None)
        if kind == "children":
            return GetChildren(args[0], w if args[1] else None)
        if kind == "children2":
            return GetChildren2(args[0], w if args[1] else None)
        if kind == "set":
            return SetData(args[0], args[1], args[2])
        if kind == "delete":
            return Delete(args[0], args[1])
        if kind == "getacl":
            return GetACL(args[0])
        if kind == "setacl":
            return SetACL(args[0], ACLS[args[1]], args[2])
        if kind == "sync":
            return Sync(args[0])
        if kind == "container":
            return zkwire.CreateContainer(args[0], args[1], OPEN_ACL_UNSAFE)
        if kind == "ttl":
            return zkwire.CreateTTL(args[0], args[1], OPEN_ACL_UNSAFE, args[2], args[3])
        if kind == "getephemerals":
            return zkwire.GetEphemerals(args[0])
        if kind == "allchildren":
            return zkwire.GetAllChildrenNumber(args[0])
        if kind == "whoami":
            return zkwire.WhoAmI()
        if kind == "multi":
            ops = []
            for sub in args[0]:
                sk, *sa = sub
                if sk == "create":
                    ops.append(Create(sa[0], sa[1], ACLS[sa[2]], sa[3]))
                elif sk == "set":
                    ops.append(SetData(*sa))
                elif sk == "delete":
                    ops.append(Delete(*sa))
                elif sk == "check":
                    ops.append(CheckVersion(*sa))
            return Transaction(ops)
        raise ValueError(kind)

    def open(self, name):
        gen = self.gens.get(name, 0) + 1
        self.gens[name] = gen
        c = KazooClient(self.connect, timeout=30.0)
        c.start(timeout=15)
        s = Session(name, gen, c)
        self.sessions[name] = s
        self.sid_labels[c.client_id[0]] = s.label
        return s

    def close(self, name):
        s = self.sessions.pop(name)
        try:
            s.client.stop()
        finally:
            s.client.close()

    def dump(self, sess, root):
        out = {}

        def walk(p):
            try:
                data, st = self.call(sess, GetData(p, None))
                acl, _ = self.call(sess, GetACL(p))
                kids = self.call(sess, GetChildren(p, None))
            except ZookeeperError as e:
                out[p] = {"error": type(e).__name__}
                return
            out[p] = {"data": data, "stat": st, "acl": acl}
            for k in sorted(kids):
                walk(("" if p == "/" else p) + "/" + k)

        walk(root)
        return out

    def run_step(self, step):
        kind, name, *args = step
        if kind == "open":
            self.open(name)
            return {"ok": True}
        sess = self.sessions.get(name)
        if sess is None:
            return {"error": f"session {name} is not open"}
        if kind == "close":
            self.close(name)
            return {"ok": True}
        if kind == "auth":
            try:
                sess.client.add_auth(args[0], args[1])
                return {"ok": True}
            except KazooException as e:
                return {"error": type(e).__name__}
        if kind == "await_gone":
            end = time.monotonic() + AWAIT_DEADLINE
            while time.monotonic() < end:
                if self.call(sess, Exists(args[0], None)) is None:
                    return {"gone": True}
                time.sleep(0.05)  # poll interval while the server's reaper runs
            return {"gone": False}
        if kind == "dump":
            return {"tree": self.dump(sess, args[0])}
        try:
            return {"result": self.call(sess, self.request_for(kind, sess, args))}
        except KazooException as e:
            return {"error": type(e).__name__}
        except RuntimeError as e:  # kazoo: "Invalid error code" for codes it lacks
            return {"error": f"RuntimeError({e})"}

    def run(self, script):
        records = []
        timeouts = 0
        try:
            for step in script:
                if timeouts >= MAX_TIMEOUTS:
                    records.append({"error": "not run: server stopped answering"})
                    continue
                try:
                    rec = self.run_step(step)
                except KazooTimeoutError:
                    timeouts += 1
                    records.append({"error": f"no reply within {STEP_TIMEOUT}s"})
                    continue
                events = {}
                for s in list(self.sessions.values()):
                    self.barrier(s)
                    if s.events:
                        events[s.label] = s.events[:]
                        s.events.clear()
                rec["events"] = events
                records.append(rec)
        finally:
            for name in list(self.sessions):
                try:
                    self.close(name)
                except Exception:
                    pass
        return records


# ---------------------------------------------------------------------------
# Normalisation and comparison
# ---------------------------------------------------------------------------
STAT_ZXIDS = ("czxid", "mzxid", "pzxid")


def _collect_zxids(obj, acc):
    if isinstance(obj, ZnodeStat):
        for f in STAT_ZXIDS:
            acc.add(getattr(obj, f))
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect_zxids(v, acc)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect_zxids(v, acc)


SORTED_RESULTS = {"children", "getephemerals"}
# Steps whose events come from one server-side action touching several paths
# in an unspecified order (ZooKeeper deletes a closed session's ephemerals in
# hash-set order): compare their events as sets.
UNORDERED_EVENTS = {"close", "await_gone"}


def normalize(script, records, sid_labels):
    zx = set()
    _collect_zxids(records, zx)
    zx.discard(0)
    rank = {z: i + 1 for i, z in enumerate(sorted(zx))}
    rank[0] = 0

    def norm(o):
        if isinstance(o, ZnodeStat):
            d = o._asdict()
            d.pop("ctime")
            d.pop("mtime")
            for f in STAT_ZXIDS:
                d[f] = f"z{rank[d[f]]}"
            eo = d["ephemeralOwner"]
            d["ephemeralOwner"] = sid_labels.get(eo, hex(eo)) if eo else 0
            return {"stat": d}
        if isinstance(o, ACL):
            return [o.perms, o.id.scheme, o.id.id]
        if isinstance(o, bytes):
            try:
                t = o.decode("utf-8")
                return t if len(t) <= 64 else f"<{len(o)} bytes, sum {sum(o)}>"
            except UnicodeDecodeError:
                return f"<bin {o.hex()[:64]}>"
        if isinstance(o, BaseException):
            return {"error": type(o).__name__}
        if isinstance(o, dict):
            return {k: norm(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [norm(v) for v in o]
        return o

    normed = [norm(rec) for rec in records]
    # A container or TTL node is deleted by the server's reaper on its own
    # schedule, which can fall inside the round trips that collect the
    # previous step's events: the events on the awaited path count for the
    # await_gone step either way.
    for i, step in enumerate(script[: len(normed)]):
        if step[0] != "await_gone" or i == 0:
            continue
        path = step[2]
        before = normed[i - 1].get("events", {})
        for label in list(before):
            moved = [e for e in before[label] if e[1] == path]
            if not moved:
                continue
            before[label] = [e for e in before[label] if e[1] != path]
            if not before[label]:
                del before[label]
            after = normed[i].setdefault("events", {})
            after[label] = moved + after.get(label, [])
    out = []
    for step, r in zip(script, normed):
        if step[0] in UNORDERED_EVENTS:
            r["events"] = {k: sorted(v) for k, v in r.get("events", {}).items()}
        if "result" in r:
            if step[0] in SORTED_RESULTS and isinstance(r["result"], list):
                r["result"] = sorted(r["result"])
            elif step[0] == "children2" and isinstance(r["result"], list):
                r["result"][0] = sorted(r["result"][0])
        out.append(r)
    return out


def run_and_normalize(connect, script):
    runner = Runner(connect)
    records = runner.run(script)
    return normalize(script, records, runner.sid_labels)


def first_divergence(script, ref, got, context=5):
    """None if equal, else a readable report of the first differing step."""
    for i, (a, b) in enumerate(zip(ref, got)):
        if a != b:
            lines = [f"first divergence at step {i} of {len(script)}:",
                     f"  step: {describe(script[i])}", "  preceding steps:"]
            for j in range(max(0, i - context), i):
                lines.append(f"    [{j}] {describe(script[j])} -> {json.dumps(ref[j])[:200]}")
            lines.append("  reference (ZooKeeper):")
            lines.append("    " + _show(a))
            lines.append("  subject (paddock):")
            lines.append("    " + _show(b))
            lines.append("  field differences:")
            lines += ["    " + d for d in field_diff(a, b)]
            return "\n".join(lines)
    if len(ref) != len(got):
        return f"transcripts differ in length: {len(ref)} vs {len(got)}"
    return None


def _show(rec):
    flat = json.dumps(rec, sort_keys=True)
    if len(flat) <= 400:
        return flat
    return json.dumps(rec, indent=1, sort_keys=True).replace("\n", "\n    ")


def field_diff(a, b, path="$"):
    if type(a) != type(b):
        return [f"{path}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}.{k}: missing in reference, subject has {json.dumps(b[k])[:120]}")
            elif k not in b:
                out.append(f"{path}.{k}: missing in subject, reference has {json.dumps(a[k])[:120]}")
            else:
                out += field_diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}: {json.dumps(a)[:160]} vs "
                    f"{json.dumps(b)[:160]}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += field_diff(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"]


def divergence_list(script, ref, got, limit=20):
    """One line per differing step (first `limit`): index, step, first field diff."""
    out = []
    for i, (a, b) in enumerate(zip(ref, got)):
        if a != b:
            d = field_diff(a, b)
            out.append(f"  [{i}] {describe(script[i])[:90]}: {d[0] if d else '?'}")
            if len(out) >= limit:
                out.append("  ...")
                break
    return "\n".join(out)


def count_mismatches(ref, got):
    return sum(1 for a, b in zip(ref, got) if a != b) + abs(len(ref) - len(got))


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    script = build_script()
    ref = run_and_normalize(argv[1], script)
    got = run_and_normalize(argv[2], script)
    report = first_divergence(script, ref, got)
    if report is None:
        print(f"identical: {len(script)} steps")
        return 0
    print(report)
    print("differing steps:")
    print(divergence_list(script, ref, got))
    print(f"{count_mismatches(ref, got)} of {len(script)} steps differ")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
