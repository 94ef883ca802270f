"""Start and stop real coordination servers for the test-suite.

Two kinds of server are managed here, both listening on 127.0.0.1 only and on a
free port picked at start:

* ``paddock``   -- ``$PADDOCK_BIN server --config <dir>/zoo.cfg``
* ``zookeeper`` -- Apache ZooKeeper 3.8 from Debian's ``zookeeper`` package,
  started directly with ``java ... ZooKeeperServerMain <dir>/zoo.cfg`` (no
  system-wide configuration, log dir or data dir is touched).

``Ensemble(kind)`` runs a replicated 3-server ensemble of either kind (zoo.cfg
with ``server.N`` lines and ``<dataDir>/myid``; ZooKeeper members run
``QuorumPeerMain``): start/stop/kill by server id, roles from ``srvr``.

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
    main_class = "org.apache.zookeeper.server.ZooKeeperServerMain"

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
            self.main_class,
            str(self.cfg_path),
        ]


KINDS = {"paddock": PaddockServer, "zookeeper": ZooKeeperServer}


def make_server(kind: str, **kw) -> ManagedServer:
    return KINDS[kind](**kw)


# ---------------------------------------------------------------------------
# Replicated ensembles (ZAB / ZooKeeper quorum)
# ---------------------------------------------------------------------------
#
# Every member of an ensemble reads a zoo.cfg of ZooKeeper's replicated form
# (tickTime, initLimit, syncLimit, dataDir, clientPort, server.N lines) and
# <dataDir>/myid holding its server id.  ZooKeeper members run QuorumPeerMain;
# paddock members run `$PADDOCK_BIN server --config <zoo.cfg>` as standalone
# servers do.  A member's role is read with `srvr`: "Mode: leader" or
# "Mode: follower"; any other answer (no Mode line, "not currently serving",
# a refused connection) counts as not serving.

ENSEMBLE_DEADLINE = float(os.environ.get("PADDOCK_TEST_ENSEMBLE_DEADLINE", "30"))
SERVING_ROLES = ("leader", "follower", "observer")


class EnsembleError(ServerStartError):
    pass


def parse_srvr(text: str) -> dict:
    """`srvr` reply as {key: value} ("Mode", "Zxid", "Node count", ...)."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out.setdefault(k.strip(), v.strip())
    return out


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stable_free_port(taken=()) -> int:
    """A free port on 127.0.0.1 *below* the kernel's ephemeral range, so an
    outgoing connection cannot take it while its server is down between a
    stop and a restart (ensemble members keep their ports across restarts)."""
    import random
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    if low > 12000:
        for _ in range(200):
            p = random.randrange(10000, low)
            if p not in taken and _port_is_free(p):
                return p
    while True:  # fall back to an ephemeral port
        p = free_port()
        if p not in taken:
            return p


class _EnsembleMember:
    """Mixin for one member of an ensemble: server id, peers, myid file,
    quorum config.  `start()` only launches the process (a lone member cannot
    serve); the Ensemble waits for roles."""

    def __init__(self, *a, sid: int, peers: dict, tick_ms: int = 500,
                 init_limit: int = 10, sync_limit: int = 5, observers=(), **kw):
        self.sid = sid
        self.observers = set(observers)  # sids that observe (never vote)
        self.peers = dict(peers)  # sid -> (quorum port, election port)
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        super().__init__(*a, **kw)

    def cfg_entries(self) -> dict:
        cfg = {"tickTime": str(self.tick_ms),
               "initLimit": str(self.init_limit),
               "syncLimit": str(self.sync_limit)}
        base = super().cfg_entries()
        base.pop("tickTime", None)
        cfg.update(base)
        for sid in sorted(self.peers):
            qp, ep = self.peers[sid]
            kind = ":observer" if sid in self.observers else ""
            cfg[f"server.{sid}"] = f"127.0.0.1:{qp}:{ep}{kind}"
        if self.sid in self.observers:
            cfg["peerType"] = "observer"
        cfg.update(self.extra_cfg)  # the caller has the last word (None: leave out)
        return {k: v for k, v in cfg.items() if v is not None}

    def write_cfg(self) -> None:
        super().write_cfg()
        (self.data_dir / "myid").write_text(f"{self.sid}\n")

    def wait_ready(self, deadline: float = START_DEADLINE) -> None:
        # Readiness of an ensemble member depends on its peers: see
        # Ensemble.wait_roles().  Only a process that died at once fails here.
        if self.proc.poll() is not None:
            raise ServerStartError(
                f"{self.kind} server.{self.sid} exited with {self.proc.returncode} "
                "during start-up\n" + self.log_tail())

    def srvr(self, timeout: float = 1.0) -> dict:
        """`srvr` as a dict; {} when the server cannot be reached."""
        try:
            return parse_srvr(self.four_letter("srvr", timeout))
        except OSError:
            return {}

    def role(self, timeout: float = 1.0) -> str | None:
        """"leader", "follower" (or another Mode, e.g. "standalone"), or None
        when the server is down or not serving."""
        if not self.running:
            return None
        mode = self.srvr(timeout).get("Mode")
        return mode or None

    def zxid(self, timeout: float = 1.0) -> int | None:
        z = self.srvr(timeout).get("Zxid")
        try:
            return int(z, 16) if z else None
        except ValueError:
            return None

    def __repr__(self):
        return f"<{self.kind} server.{self.sid} {self.connect} pid={self.pid}>"


class PaddockEnsembleMember(_EnsembleMember, PaddockServer):
    pass


class ZooKeeperEnsembleMember(_EnsembleMember, ZooKeeperServer):
    main_class = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

    def cfg_entries(self) -> dict:
        cfg = super().cfg_entries()
        # 3.8: never fall back to standalone, no dynamic reconfig files.
        cfg.setdefault("standaloneEnabled", "false")
        cfg.setdefault("reconfigEnabled", "false")
        return cfg


ENSEMBLE_MEMBER_KINDS = {"paddock": PaddockEnsembleMember,
                         "zookeeper": ZooKeeperEnsembleMember}


class Ensemble:
    """A replicated ensemble of `size` servers of one kind on 127.0.0.1.

    Members are addressed by server id (myid, 1..size) or by member object.
    All processes are the ones this object started; they are signalled by
    their own PID only.

        ens = Ensemble("zookeeper"); ens.start()     # all, waits for roles
        ens.leader(), ens.followers()                # members
        ens.kill(ens.leader())                       # SIGKILL
        ens.stop(2); ens.start(2)                    # SIGTERM / start again
        ens.hosts()  ens.hosts(1)  ens.connect       # connect strings
        ens.destroy()
    """

    def __init__(self, kind: str, size: int = 3, tick_ms: int = 500,
                 init_limit: int = 10, sync_limit: int = 5,
                 extra_cfg: dict | None = None, workdir: str | None = None,
                 observers: int = 0, **member_kw):
        if kind not in ENSEMBLE_MEMBER_KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.kind = kind
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"{kind}-ensemble-"))
        taken: set = set()

        def port():
            p = stable_free_port(taken)
            taken.add(p)
            return p

        total = size + observers
        self.voters = size
        observer_ids = set(range(size + 1, total + 1))
        client_ports = {sid: port() for sid in range(1, total + 1)}
        peers = {sid: (port(), port()) for sid in range(1, total + 1)}
        cls = ENSEMBLE_MEMBER_KINDS[kind]
        self.members = [
            cls(workdir=str(self.workdir / f"s{sid}"), port=client_ports[sid],
                sid=sid, peers=peers, tick_ms=tick_ms, init_limit=init_limit,
                sync_limit=sync_limit, extra_cfg=extra_cfg, observers=observer_ids,
                **member_kw)
            for sid in range(1, total + 1)
        ]

    # -- addressing ------------------------------------------------------
    def member(self, m) -> _EnsembleMember:
        if isinstance(m, _EnsembleMember):
            return m
        return self.members[int(m) - 1]

    def _sel(self, ms) -> list:
        return [self.member(m) for m in ms] if ms else list(self.members)

    def hosts(self, *ms) -> str:
        """Connect string of the given members (default: all), in that order."""
        return ",".join(m.connect for m in self._sel(ms))

    @property
    def connect(self) -> str:
        return self.hosts()

    @property
    def quorum(self) -> int:
        return self.voters // 2 + 1

    def started(self) -> list:
        """Members this object started and has not stopped or killed
        (including ones that died by themselves)."""
        return [m for m in self.members if m.proc is not None]

    def running(self) -> list:
        return [m for m in self.members if m.running]

    # -- roles -----------------------------------------------------------
    def roles(self, *ms) -> dict:
        """{sid: role or None} for the given members (default: all)."""
        return {m.sid: m.role() for m in self._sel(ms)}

    def role(self, m) -> str | None:
        return self.member(m).role()

    def zxid(self, m) -> int | None:
        return self.member(m).zxid()

    def leader(self) -> _EnsembleMember:
        """The one running member saying "Mode: leader" (AssertionError if
        there is not exactly one)."""
        roles = self.roles(*self.running())
        leaders = [sid for sid, r in roles.items() if r == "leader"]
        assert len(leaders) == 1, f"not exactly one leader: {roles}"
        return self.member(leaders[0])

    def followers(self) -> list:
        return [self.member(sid) for sid, r in self.roles(*self.running()).items()
                if r == "follower"]

    def wait_roles(self, deadline: float = ENSEMBLE_DEADLINE, members=None) -> _EnsembleMember:
        """Wait until, among `members` (default: every started member),
        exactly one says leader and every other follower.  Returns the
        leader.  Fails at once if a started member's process has exited."""
        ms = self._sel(members) if members else self.started()
        if not ms:
            raise EnsembleError("wait_roles: no member is started")
        end = time.monotonic() + deadline
        roles: dict = {}
        while True:
            for m in ms:
                if m.proc is None or m.proc.poll() is not None:
                    rc = m.proc.returncode if m.proc else "not started"
                    raise EnsembleError(
                        f"{self.kind} server.{m.sid} is not running (exit {rc}) "
                        f"while waiting for roles\n" + m.log_tail(40))
            roles = {m.sid: m.role() for m in ms}
            leaders = [sid for sid, r in roles.items() if r == "leader"]
            if len(leaders) == 1 and all(r in SERVING_ROLES for r in roles.values()):
                return self.member(leaders[0])
            if time.monotonic() >= end:
                break
            time.sleep(0.05)  # poll interval, not synchronisation
        raise EnsembleError(
            f"{self.kind} ensemble: no single leader with followers among "
            f"{[m.sid for m in ms]} within {deadline}s; last roles {roles}\n"
            + "\n".join(m.log_tail(25) for m in ms))

    def wait_not_serving(self, m, deadline: float = 20.0) -> None:
        """Wait until member `m` stops answering srvr with leader/follower."""
        m = self.member(m)
        end = time.monotonic() + deadline
        while True:
            r = m.role()
            if r not in SERVING_ROLES:
                return
            if time.monotonic() >= end:
                raise EnsembleError(
                    f"server.{m.sid} still says Mode: {r} after {deadline}s\n" + m.log_tail(25))
            time.sleep(0.05)  # poll interval

    # -- processes -------------------------------------------------------
    def start(self, *ms, wait: bool = True, deadline: float = ENSEMBLE_DEADLINE):
        """Start the given members (default: every member not running), then
        (wait=True) wait until every started member serves: one leader, the
        rest followers.  Returns the leader (or None with wait=False)."""
        for m in self._sel(ms):
            if m.proc is not None and m.proc.poll() is not None:
                m.stop()  # reap one that died by itself
            if not m.running:
                m.start()
        return self.wait_roles(deadline) if wait else None

    def stop(self, *ms, deadline: float = STOP_DEADLINE) -> None:
        """SIGTERM the given members (default: all) at once, wait for them
        (SIGKILL after `deadline`)."""
        sel = self._sel(ms)
        for m in sel:
            if m.running:
                try:
                    os.kill(m.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for m in sel:
            m.stop(deadline)

    def kill(self, *ms) -> None:
        """SIGKILL the given members (crash), reaping them."""
        for m in self._sel(ms):
            m.kill()
            m.stop()

    def destroy(self) -> None:
        self.stop()
        if self._own_workdir and not os.environ.get("PADDOCK_TEST_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(m.log_tail(n) for m in self.members)

    def __repr__(self):
        return f"<{self.kind} ensemble {self.connect} dir={self.workdir}>"
