"""Other real clients: Debian's Java CLI (zkCli.sh) run non-interactively,
and the C client's shell (cli_mt) driven over stdin."""

import os
import queue
import re
import shutil
import subprocess
import threading
import time

import pytest

ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
CLI_MT = os.environ.get("CLI_MT", "/usr/lib/zookeeper/bin/cli_mt")


def need(path):
    if not (os.path.exists(path) or shutil.which(path)):
        pytest.fail(f"{path} missing: install Debian's zookeeper / zookeeper-bin "
                    "(scripts/test.sh does)")


def zkcli(server, *args, check=True):
    need(ZKCLI)
    env = dict(os.environ, JVMFLAGS="-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    p = subprocess.run([ZKCLI, "-server", server.connect, *args], capture_output=True,
                       text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    # Logging noise, and the connection event zkCli's watcher thread prints
    # ("WATCHER::", "WatchedEvent ... type:None", blank lines around them)
    # wherever it lands among the command's own output.
    out = "\n".join(l for l in out.splitlines()
                    if l.strip() and not l.startswith(("SLF4J", "WATCHER::", "WatchedEvent")))
    if check:
        assert p.returncode == 0, f"zkCli {args} exited {p.returncode}:\n{out}"
    return p.returncode, out


def test_zkcli_basic_commands(server, zk, base):
    rc, out = zkcli(server, "create", base + "/x", "data")
    assert f"Created {base}/x" in out
    assert zkcli(server, "get", base + "/x")[1].splitlines()[-1] == "data"
    zkcli(server, "set", base + "/x", "d2")
    assert zk.get(base + "/x")[0] == b"d2"
    rc, out = zkcli(server, "stat", base + "/x")
    stat = dict(re.findall(r"^(\w+) = (.*)$", out, re.M))
    assert stat["dataVersion"] == "1" and stat["dataLength"] == "2"
    assert stat["numChildren"] == "0" and stat["ephemeralOwner"] == "0x0"
    _, st = zk.get(base + "/x")
    assert stat["cZxid"] == f"0x{st.czxid:x}" and stat["mZxid"] == f"0x{st.mzxid:x}"
    rc, out = zkcli(server, "create", "-s", base + "/s", "v")
    assert f"Created {base}/s0000000001" in out
    rc, out = zkcli(server, "ls", base)
    assert out.splitlines()[-1] == "[s0000000001, x]"
    rc, out = zkcli(server, "get", base + "/nope", check=False)
    assert rc != 0 and f"Node does not exist: {base}/nope" in out
    rc, out = zkcli(server, "create", base + "/x", "again", check=False)
    assert f"Node already exists: {base}/x" in out
    zkcli(server, "delete", base + "/x")
    assert zk.exists(base + "/x") is None
    rc, out = zkcli(server, "getAcl", base + "/s0000000001")
    assert "'world,'anyone\n: cdrwa" in out


def test_zkcli_extended_commands(server, zk, base):
    zkcli(server, "create", "-c", base + "/container")
    zkcli(server, "create", "-t", "3600000", base + "/ttl", "t")
    assert zk.exists(base + "/container") is not None
    assert zk.get(base + "/ttl")[0] == b"t"
    zk.create(base + "/container/a/b", makepath=True)
    rc, out = zkcli(server, "getAllChildrenNumber", base)
    assert out.splitlines()[-1] == "4"
    rc, out = zkcli(server, "ls", "-R", base)
    lines = [l for l in out.splitlines() if l.startswith(base)]
    assert lines == [base, base + "/container", base + "/ttl", base + "/container/a",
                     base + "/container/a/b"]
    rc, out = zkcli(server, "whoami")
    assert "ip: 127.0.0.1" in out


def test_zkcli_ephemeral_belongs_to_its_session(server, zk, base):
    rc, out = zkcli(server, "create", "-e", base + "/eph", "e")
    st = zk.exists(base + "/eph")
    assert st is not None and st.ephemeralOwner != 0


class CliMt:
    """Drive the C client shell over stdin, waiting for its (stderr) output."""

    def __init__(self, server):
        need(CLI_MT)
        self.p = subprocess.Popen([CLI_MT, "-h", server.connect], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, bufsize=1)
        self.q = queue.Queue()
        self.buf = ""
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def expect(self, pattern, timeout=15.0):
        rx = re.compile(pattern, re.M)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            try:
                line = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > end:
                raise AssertionError(f"cli_mt: no match for {pattern!r}; output:\n{self.buf}")
            self.buf += line

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def close(self):
        if self.p.poll() is None:
            try:
                self.send("quit")
                self.p.wait(15)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()


def test_cli_mt(server, zk, base):
    cli = CliMt(server)
    try:
        b = re.escape(base)
        cli.expect(r"Got a new session id: 0x([0-9a-f]+)")
        cli.send(f"create {base}/c")
        cli.expect(rf"^\[{b}/c\]: rc = 0$")
        cli.send(f"get {base}/c")  # the C shell's create stores "new"
        cli.expect(rf"^{b}/c: rc = 0\n value_len = 3\nnew\n")
        cli.send(f"set {base}/c hello")  # the get above left a watch
        cli.expect(rf"^Watcher CHANGED_EVENT state = CONNECTED_STATE for path {b}/c$")
        cli.expect(rf"^{b}/c: rc = 0 Stat:\n(.*\n)*?\tversion=1\taversion=0$")
        assert zk.get(base + "/c")[0] == b"hello"
        cli.send(f"get {base}/c")
        cli.expect(r"value_len = 5\nhello\n")
        cli.send(f"create {base}/c")
        cli.expect(rf"^\[{b}/c\]: rc = -110$")
        cli.send(f"create +e {base}/eph")
        cli.expect(rf"name = {b}/eph$")
        cli.send(f"create +s {base}/seq")
        cli.expect(rf"name = {b}/seq0000000002$")
        cli.send(f"ls {base}")
        m = cli.expect(rf"^{b}: rc = 0\n((?:\t.*\n)+)time = ")
        assert sorted(m.group(1).split()) == ["c", "eph", "seq0000000002"]
        cli.send(f"delete {base}/nope")
        cli.expect(rf"^{b}/nope: rc = -101$")
        cli.send(f"delete {base}/c")
        cli.expect(rf"^{b}/c: rc = 0$")
        assert zk.exists(base + "/eph").ephemeralOwner != 0
        cli.send("quit")
        cli.expect(r"Quitting")
        assert cli.p.wait(15) == 0
        assert zk.exists(base + "/eph") is None, "quit closes the session"
    finally:
        cli.close()
