"""Start and stop real coordination servers for the test-suite.

Two kinds of server are managed here, both listening on 127.0.0.1 only and on a
free port picked at start:

* ``paddock``   -- ``$PADDOCK_BIN server --config <dir>/zoo.cfg``
* ``zookeeper`` -- Apache ZooKeeper 3.8 from Debian's ``zookeeper`` package,
  started directly with ``java ... ZooKeeperServerMain <dir>/zoo.cfg`` (no
  system-wide configuration, log dir or data dir is touched).

Every server is stopped by the PID this module started (SIGTERM, then SIGKILL
after a deadline).  Nothing here ever signals a process it did not start.

This module is shared by tests/python (pytest fixtures), tests/diff
(differential test) and tests/kazoo (kazoo's own suite).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Debian's package puts the server jar here; its manifest Class-Path pulls in
# the dependencies (netty, jackson, slf4j-api, ...).
ZK_JAR_DEFAULT = "/usr/share/java/zookeeper.jar"
# slf4j-api alone logs nothing; slf4j-simple logs to stderr (our log file).
SLF4J_SIMPLE = "/usr/share/java/slf4j-simple.jar"

# Password "test" for user "super" (the same digest kazoo's own harness uses).
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="

START_DEADLINE = float(os.environ.get("PADDOCK_TEST_START_DEADLINE", "20"))
# After this many failed starts of one kind, later starts of that kind get a
# short deadline, so a server that never comes up fails a suite quickly.
FAIL_FAST_AFTER = 2
FAIL_FAST_DEADLINE = 5.0
_start_failures: dict = {}
STOP_DEADLINE = 10.0


def _die_with_parent():
    """preexec_fn: have the kernel SIGTERM this child if the test process dies
    (so a killed test run leaves no server behind).  Linux only; best effort."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(host: str, port: int, word: str | bytes, timeout: float = 5.0) -> str:
    """Send a four-letter word, read until the server closes, return text."""
    if isinstance(word, str):
        word = word.encode()
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word)
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode("utf-8", "replace")


def paddock_bin() -> str:
    """Path of the paddock binary: $PADDOCK_BIN, else target/release/paddock."""
    env = os.environ.get("PADDOCK_BIN")
    if env:
        return env
    return str(REPO_ROOT / "target" / "release" / "paddock")


class ServerStartError(RuntimeError):
    pass


class ManagedServer:
    """One server process of either kind.

    Attributes: kind, host, port, connect ("127.0.0.1:PORT"), pid, workdir,
    data_dir, cfg_path, log_path.
    """

    kind = "abstract"

    def __init__(self, workdir: str | None = None, port: int | None = None,
                 extra_cfg: dict | None = None, min_session_timeout_ms: int = 1000,
                 max_session_timeout_ms: int = 60000):
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"{self.kind}-test-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.cfg_path = self.workdir / "zoo.cfg"
        self.log_path = self.workdir / "server.log"
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.extra_cfg = dict(extra_cfg or {})
        self.min_session_timeout_ms = min_session_timeout_ms
        self.max_session_timeout_ms = max_session_timeout_ms
        self.proc: subprocess.Popen | None = None
        self._logf = None

    # -- public API -----------------------------------------------------
    @property
    def connect(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cfg_entries(self) -> dict:
        cfg = {
            "tickTime": "2000",
            "dataDir": str(self.data_dir),
            "clientPort": str(self.port),
            "clientPortAddress": "127.0.0.1",
            "maxClientCnxns": "0",
            "minSessionTimeout": str(self.min_session_timeout_ms),
            "maxSessionTimeout": str(self.max_session_timeout_ms),
            "4lw.commands.whitelist": "*",
        }
        cfg.update(self.extra_cfg)
        return {k: v for k, v in cfg.items() if v is not None}  # None: leave the key out

    def write_cfg(self) -> None:
        with open(self.cfg_path, "w") as f:
            for k, v in self.cfg_entries().items():
                f.write(f"{k}={v}\n")

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict:
        return dict(os.environ)

    def start(self, deadline: float = START_DEADLINE) -> "ManagedServer":
        if self.running:
            return self
        if _start_failures.get(self.kind, 0) >= FAIL_FAST_AFTER:
            deadline = min(deadline, FAIL_FAST_DEADLINE)
        self.write_cfg()
        self._logf = open(self.log_path, "ab")
        self._logf.write(f"\n==== start {' '.join(self.command())}\n".encode())
        self._logf.flush()
        try:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=self._logf,
                stderr=subprocess.STDOUT, cwd=str(self.workdir), env=self.env(),
                start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as e:
            raise ServerStartError(f"{self.kind}: cannot run {self.command()[0]}: {e}") from e
        try:
            self.wait_ready(deadline)
        except ServerStartError:
            _start_failures[self.kind] = _start_failures.get(self.kind, 0) + 1
            self.stop()
            raise
        return self

    def wait_ready(self, deadline: float = START_DEADLINE) -> None:
        """Poll until `ruok` answers `imok` (and `srvr` shows a serving server),
        the process dies, or time runs out."""
        end = time.monotonic() + deadline
        last = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.kind} exited with {self.proc.returncode} during start-up\n"
                    + self.log_tail())
            try:
                # ZooKeeper answers ruok before its request pipeline is up;
                # srvr says "not currently serving requests" until it is.
                # Either word may be off the 4lw whitelist ("... is not
                # executed because it is not in the whitelist").
                r = four_letter(self.host, self.port, "ruok", timeout=1.0)
                if r == "imok" or "not in the whitelist" in r:
                    st = four_letter(self.host, self.port, "srvr", timeout=1.0)
                    if "Mode:" in st or "not in the whitelist" in st:
                        return
            except OSError as e:
                last = e
            time.sleep(0.05)  # poll interval, not synchronisation
        raise ServerStartError(
            f"{self.kind} did not answer ruok with imok within {deadline}s "
            f"(last error: {last!r})\n" + self.log_tail())

    def stop(self, deadline: float = STOP_DEADLINE) -> int | None:
        """SIGTERM our own PID, SIGKILL it if it is still there after `deadline`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                self.kill()
        rc = self.proc.wait()
        self.proc = None
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def kill(self) -> None:
        """SIGKILL our own PID (crash simulation)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def restart(self, hard: bool = False) -> "ManagedServer":
        """Stop (SIGTERM, or SIGKILL if hard) and start again on the same port and data dir."""
        if hard:
            self.kill()
        self.stop()
        return self.start()

    def wipe(self) -> None:
        """Stop and forget all on-disk state."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir()

    def destroy(self) -> None:
        self.stop()
        if self._own_workdir and not os.environ.get("PADDOCK_TEST_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def four_letter(self, word, timeout: float = 5.0) -> str:
        return four_letter(self.host, self.port, word, timeout)

    def ruok(self) -> bool:
        try:
            return self.four_letter("ruok", 2.0) == "imok"
        except OSError:
            return False

    def log_tail(self, n: int = 80) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {self.log_path})"
        return f"---- last {min(n, len(lines))} lines of {self.log_path}\n" + "\n".join(lines[-n:])

    def __repr__(self):
        return f"<{self.kind} {self.connect} pid={self.pid} dir={self.workdir}>"


class PaddockServer(ManagedServer):
    kind = "paddock"

    def __init__(self, *a, binary: str | None = None, **kw):
        self.binary = binary or paddock_bin()
        super().__init__(*a, **kw)

    def cfg_entries(self) -> dict:
        cfg = super().cfg_entries()
        # Real ZooKeeper turns unknown zoo.cfg keys into "zookeeper.<key>"
        # system properties; a zoo.cfg-compatible server must accept them.
        # This one sets the super user (password "test").
        cfg.setdefault("DigestAuthenticationProvider.superDigest", SUPER_DIGEST)
        # Reap containers/TTL nodes as often as the ZooKeeper fixture does.
        cfg.setdefault("znode.container.checkIntervalMs", "500")
        return cfg

    def command(self) -> list[str]:
        return [self.binary, "server", "--config", str(self.cfg_path)]

    def env(self) -> dict:
        e = super().env()
        e.setdefault("RUST_BACKTRACE", "1")
        e.setdefault("NO_COLOR", "1")  # plain log files
        return e

    def start(self, deadline: float = START_DEADLINE):
        if not os.path.exists(self.binary):
            raise ServerStartError(
                f"paddock binary not found at {self.binary} "
                "(build it with `cargo build --release -p paddock` or set PADDOCK_BIN)")
        return super().start(deadline)


class ZooKeeperServer(ManagedServer):
    kind = "zookeeper"

    def __init__(self, *a, container_check_ms: int = 500, **kw):
        self.container_check_ms = container_check_ms
        super().__init__(*a, **kw)

    def cfg_entries(self) -> dict:
        cfg = super().cfg_entries()
        # The Jetty admin server would grab port 8080: keep it off.
        cfg.setdefault("admin.enableServer", "false")
        return cfg

    @staticmethod
    def available() -> bool:
        return os.path.exists(os.environ.get("ZOOKEEPER_JAR", ZK_JAR_DEFAULT)) and bool(
            shutil.which("java"))

    def command(self) -> list[str]:
        cp = [os.environ.get("ZOOKEEPER_JAR", ZK_JAR_DEFAULT)]
        if os.path.exists(SLF4J_SIMPLE):
            cp.append(SLF4J_SIMPLE)
        return [
            shutil.which("java") or "java",
            "-Xmx512m", "-Xms32m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            "-Dfile.encoding=UTF-8",
            "-Dzookeeper.extendedTypesEnabled=true",  # TTL nodes
            f"-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}",
            # Check containers and TTL nodes often so tests need not wait a minute.
            f"-Dznode.container.checkIntervalMs={self.container_check_ms}",
            "-Dzookeeper.admin.enableServer=false",
            f"-Dzookeeper.log.dir={self.workdir}",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-cp", ":".join(cp),
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(self.cfg_path),
        ]


KINDS = {"paddock": PaddockServer, "zookeeper": ZooKeeperServer}


def make_server(kind: str, **kw) -> ManagedServer:
    return KINDS[kind](**kw)
