"""Fixtures for the paddock integration suite.

Servers
  paddock_server  session-scoped paddock  ($PADDOCK_BIN server --config zoo.cfg)
  zk_server       session-scoped Apache ZooKeeper 3.8 (Debian's package)
  server          parametrized over the targets: ["paddock", "zookeeper"]
  fresh_server    factory for a private server of the current kind (tests that
                  restart/kill the server or need exact counters)

Clients
  zk              a connected KazooClient on `server`, stopped at teardown
  make_client     factory for more KazooClients on `server`
  base            a unique, empty znode path for the test (removed at teardown)

Targets can be narrowed with PADDOCK_TEST_TARGETS=paddock (or =zookeeper).
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from kazoo.client import KazooClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "diff"))

import zkservers  # noqa: E402

ALL_TARGETS = ["paddock", "zookeeper"]


def stop_clients(clients):
    """Stops and closes every KazooClient in `clients`, whatever state it is in."""
    for c in clients:
        try:
            c.stop()
        except Exception:
            pass
        try:
            c.close()
        except Exception:
            pass


def _targets():
    env = os.environ.get("PADDOCK_TEST_TARGETS")
    if not env:
        return list(ALL_TARGETS)
    t = [x.strip() for x in env.split(",") if x.strip()]
    bad = [x for x in t if x not in ALL_TARGETS]
    if bad:
        raise pytest.UsageError(f"PADDOCK_TEST_TARGETS: unknown target(s) {bad}")
    return t


TARGETS = _targets()


def pytest_report_header(config):
    return [f"paddock targets: {', '.join(TARGETS)}",
            f"PADDOCK_BIN: {zkservers.paddock_bin()}"]


def _start(kind, **kw):
    srv = zkservers.make_server(kind, **kw)
    try:
        srv.start()
    except zkservers.ServerStartError:
        srv.destroy()
        raise
    return srv


def pytest_unconfigure(config):
    # Keep kazoo clients still reconnecting at exit from logging after the summary.
    import logging
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)


@pytest.fixture(scope="session")
def paddock_server():
    srv = _start("paddock")
    yield srv
    srv.destroy()


@pytest.fixture(scope="session")
def zk_server():
    if not zkservers.ZooKeeperServer.available():
        pytest.fail("Apache ZooKeeper (Debian package 'zookeeper') or java is missing; "
                    "run scripts/test.sh, which installs it")
    srv = _start("zookeeper")
    yield srv
    srv.destroy()


@pytest.fixture(scope="session", params=TARGETS)
def server_kind(request):
    return request.param


@pytest.fixture(scope="session")
def server(request, server_kind):
    """The shared server of the current kind."""
    return request.getfixturevalue("paddock_server" if server_kind == "paddock" else "zk_server")


@pytest.fixture(autouse=True)
def _only_marks(request):
    params = request.node.callspec.params if hasattr(request.node, "callspec") else {}
    kind = params.get("server_kind") or params.get("ensemble_kind")
    if kind and request.node.get_closest_marker("paddock_only") and kind != "paddock":
        pytest.skip("paddock-only test")
    if kind and request.node.get_closest_marker("zookeeper_only") and kind != "zookeeper":
        pytest.skip("ZooKeeper-only test")


@pytest.fixture
def fresh_server(request, server_kind):
    """Factory: fresh_server(**kw) starts a private server of the current kind."""
    started = []
    request.node._fresh_servers = started

    def factory(**kw):
        srv = _start(server_kind, **kw)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.destroy()


@pytest.fixture
def make_client(server):
    """Factory for KazooClients on `server`; all are stopped and closed at teardown."""
    clients = []

    def factory(start=True, hosts=None, **kw):
        kw.setdefault("timeout", 10.0)
        c = KazooClient(hosts=hosts or server.connect, **kw)
        clients.append(c)
        if start:
            c.start(timeout=15)
        return c

    yield factory
    stop_clients(clients)


@pytest.fixture
def zk(make_client):
    return make_client()


@pytest.fixture
def base(zk):
    """A unique, freshly created, empty path for this test."""
    path = "/t-" + uuid.uuid4().hex[:12]
    zk.create(path, b"")
    yield path
    try:
        if zk.connected:
            zk.delete(path, recursive=True)
    except Exception:
        pass


# Attach the server's log to the report of a failing test.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        seen = set()
        cands = [item.funcargs.get(n) for n in ("server", "paddock_server", "zk_server")
                 if hasattr(item, "funcargs")]
        cands += getattr(item, "_fresh_servers", [])
        for srv in cands:
            if isinstance(srv, zkservers.ManagedServer) and id(srv) not in seen:
                seen.add(id(srv))
                rep.sections.append((f"{srv.kind} server log ({srv.connect})",
                                     srv.log_tail(60)))


@pytest.fixture
def raw(server):
    """Factory for zkwire.RawClient connections on `server` (closed at teardown)."""
    import zkwire
    conns = []

    def factory(timeout_ms=10000, connect=True, **kw):
        c = zkwire.RawClient(server.host, server.port, timeout_ms=timeout_ms,
                             connect=connect, **kw)
        conns.append(c)
        return c

    yield factory
    for c in conns:
        c.close()
