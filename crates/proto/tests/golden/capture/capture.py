#!/usr/bin/env python3
"""Capture the exact bytes real ZooKeeper clients and a real server exchange.

Starts Apache ZooKeeper 3.8 (Debian's package) on a free 127.0.0.1 port with
its own conf and data dir, puts a recording TCP proxy in front of it, drives
kazoo and the Java client (GoldenClient.java) through the proxy, and writes
one trace per client to ../<client>.hex. The server is stopped by the PID this
script started; nothing else is signalled.

Usage (from the repository root, with kazoo importable):
    python crates/proto/tests/golden/capture/capture.py

Trace format: '#' lines are comments, '= ...' starts a TCP connection, '>'
is one frame client to server, '<' one frame server to client, each the
whole frame (4-byte length prefix included) in lowercase hex. Frames are in
the order their last byte crossed the proxy.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
ZK_JAR = "/usr/share/java/zookeeper.jar"
JUTE_JAR = "/usr/share/java/zookeeper-jute.jar"
SLF4J_NOP = "/usr/share/java/slf4j-nop.jar"

OPS = {0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData",
       5: "setData", 6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync",
       11: "ping", 12: "getChildren2", 13: "check", 14: "multi", 15: "create2",
       16: "reconfig", 17: "checkWatches", 18: "removeWatches",
       19: "createContainer", 20: "deleteContainer", 21: "createTTL",
       22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl",
       103: "getEphemerals", 104: "getAllChildrenNumber", 105: "setWatches2",
       106: "addWatch", 107: "whoAmI", -10: "createSession", -11: "closeSession"}
# Ops whose body starts with a path string.
PATH_FIRST = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 17, 18, 19, 21, 103, 104, 106}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """A TCP proxy on 127.0.0.1 that records both directions of each connection."""

    def __init__(self, target):
        self.target = target
        self.lock = threading.Lock()
        self.conns = []  # per connection: list of (direction, bytes) events
        self.live = []  # open socket pairs
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            events = []
            with self.lock:
                self.conns.append(events)
                self.live.append((client, upstream))
            for src, dst, d in ((client, upstream, ">"), (upstream, client, "<")):
                threading.Thread(target=self._pump, args=(src, dst, d, events),
                                 daemon=True).start()

    def _pump(self, src, dst, direction, events):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self.lock:
                events.append((direction, data))
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        """Drops every open connection (the server keeps its sessions)."""
        with self.lock:
            pairs, self.live = self.live, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        time.sleep(0.3)

    def close(self):
        self.listener.close()


def frames(events):
    """Splits a connection's events into whole frames, in arrival order."""
    bufs = {">": b"", "<": b""}
    out = []
    for direction, data in events:
        bufs[direction] += data
        buf = bufs[direction]
        while len(buf) >= 4:
            n = struct.unpack(">i", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            out.append((direction, buf[:4 + n]))
            buf = buf[4 + n:]
        bufs[direction] = buf
    return out


def read_path(body):
    n = struct.unpack(">i", body[:4])[0]
    return body[4:4 + n].decode("utf-8", "replace")


def describe(direction, frame, first, xid_ops):
    body = frame[4:]
    if first:
        return "connect request" if direction == ">" else "connect response"
    if direction == ">":
        xid, op = struct.unpack(">ii", body[:8])
        xid_ops[xid] = op
        text = f"xid={xid} {OPS.get(op, op)}"
        if op in PATH_FIRST and len(body) >= 12:
            text += " " + read_path(body[8:])
        return text
    xid, zxid, err = struct.unpack(">iqi", body[:16])
    if xid == -1:
        kind, state = struct.unpack(">ii", body[16:24])
        return f"notification type={kind} state={state} {read_path(body[24:])}"
    op = xid_ops.get(xid)
    return f"reply xid={xid} to {OPS.get(op, op)} zxid={zxid:#x} err={err}"


def write_trace(name, title, conns):
    lines = [f"# {title}",
             "# Captured by capture/capture.py; see README.md. Do not edit by hand.",
             "# '=' new connection, '>' client to server, '<' server to client,",
             "# each a whole frame (length prefix included) in hex."]
    for i, events in enumerate(conns, 1):
        lines.append(f"= connection {i}")
        seen = set()
        xid_ops = {}
        for direction, frame in frames(events):
            lines.append("# " + describe(direction, frame, direction not in seen, xid_ops))
            seen.add(direction)
            lines.append(f"{direction} {frame.hex()}")
    (OUT / name).write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT / name}")


class ZooKeeper:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="paddock-golden-zk-"))
        (self.dir / "data").mkdir()
        self.port = free_port()
        cfg = self.dir / "zoo.cfg"
        cfg.write_text(
            f"tickTime=2000\ndataDir={self.dir / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
            "minSessionTimeout=1000\nmaxSessionTimeout=60000\n"
            "4lw.commands.whitelist=*\n")
        cmd = ["java", "-Xmx256m", "-Dzookeeper.extendedTypesEnabled=true",
               "-Dzookeeper.admin.enableServer=false",
               "-cp", f"{ZK_JAR}:{SLF4J_NOP}",
               "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg)]
        self.log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self):
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited; see {self.dir / 'server.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"srvr")
                    reply = s.recv(4096)
                if reply.startswith(b"Zookeeper version") and b"not currently" not in reply:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("ZooKeeper did not start")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_kazoo(address, proxy):
    from kazoo.client import KazooClient
    from kazoo.exceptions import NoNodeError
    from kazoo.protocol.states import KazooState
    from kazoo.security import make_acl, make_digest_acl

    states = []
    connected = threading.Semaphore(0)

    def listener(state):
        states.append(state)
        if state == KazooState.CONNECTED:
            connected.release()

    zk = KazooClient(hosts=address, timeout=4.0)
    zk.add_listener(listener)
    zk.start(timeout=20)
    zk.add_auth("digest", "golden:secret")
    acl = [make_digest_acl("golden", "secret", all=True),
           make_acl("world", "anyone", read=True)]
    zk.create("/kgolden", b"root")
    zk.create("/kgolden/acl-", b"acl", acl=acl, ephemeral=True, sequence=True)
    zk.create("/kgolden/c2", b"two", include_data=True)
    zk.get("/kgolden/c2", watch=lambda e: None)
    zk.set("/kgolden/c2", b"changed", version=0)
    zk.exists("/kgolden/c2")
    zk.exists("/kgolden/missing", watch=lambda e: None)
    zk.get_children("/kgolden", include_data=True)
    zk.get_children("/kgolden", watch=lambda e: None)
    zk.get_acls("/kgolden/c2")
    zk.set_acls("/kgolden/c2", [make_acl("world", "anyone", all=True)], version=0)
    tx = zk.transaction()
    tx.create("/kgolden/m", b"m")
    tx.set_data("/kgolden/m", b"m2", version=0)
    tx.check("/kgolden/m", 1)
    tx.delete("/kgolden/m", version=1)
    tx.commit()
    tx = zk.transaction()
    tx.create("/kgolden/f", b"f")
    tx.check("/kgolden/c2", 99)
    tx.commit()
    zk.sync("/kgolden")
    zk.get("/kgolden/c2", watch=lambda e: None)
    time.sleep(2.0)  # idle: the client pings
    proxy.cut()
    if not connected.acquire(timeout=20):
        raise RuntimeError(f"kazoo did not reconnect: {states}")
    zk.delete("/kgolden/c2", version=1)
    try:
        zk.get("/kgolden/c2")
    except NoNodeError:
        pass
    zk.stop()
    zk.close()


def run_java(address, proxy):
    build = Path(tempfile.mkdtemp(prefix="paddock-golden-java-"))
    cp = f"{ZK_JAR}:{JUTE_JAR}"
    subprocess.run(["javac", "-d", str(build), "-cp", cp, str(HERE / "GoldenClient.java")],
                   check=True)
    proc = subprocess.Popen(["java", "-cp", f"{build}:{cp}:{SLF4J_NOP}", "GoldenClient", address],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            line = line.strip()
            if line == "CUT":
                proxy.cut()
                proc.stdin.write("\n")
                proc.stdin.flush()
            elif line == "DONE":
                break
        if proc.wait(30) != 0:
            raise RuntimeError(f"GoldenClient exited with {proc.returncode}")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(build, ignore_errors=True)


def main():
    zk = ZooKeeper()
    try:
        for name, title, run in (
            ("kazoo.hex", "kazoo 2.11 client <-> Apache ZooKeeper 3.8.0 server", run_kazoo),
            ("java.hex", "Apache ZooKeeper 3.8.0 Java client <-> Apache ZooKeeper 3.8.0 server",
             run_java),
        ):
            proxy = Recorder(("127.0.0.1", zk.port))
            run(f"127.0.0.1:{proxy.port}", proxy)
            time.sleep(0.5)  # let the last replies cross the proxy
            proxy.cut()
            proxy.close()
            write_trace(name, title, proxy.conns)
    finally:
        zk.stop()


if __name__ == "__main__":
    sys.exit(main())
