"""pytest plugin: run kazoo's own test-suite against one local server.

kazoo's harness (kazoo/testing/harness.py) gets its servers from the
module-level function ``get_global_cluster()``, which builds a 3-node Java
ZooKeeper ensemble (kazoo/testing/common.py).  KazooTestHarness.cluster looks
that function up at call time, so replacing ``harness.get_global_cluster`` is
the seam: it returns a one-member "cluster" whose member is a server started
by tests/python/zkservers.py.

Environment:
  KAZOO_SUITE_TARGET  paddock (default) or zookeeper (validates the shim)
  KAZOO_SDIST_DIR     the extracted kazoo sdist (its kazoo/ is imported, so
                      the tests and the code they test come from one place)
  PADDOCK_BIN         the paddock binary (see zkservers.paddock_bin)

Load with:  pytest -p kazoo_paddock_shim  (tests/kazoo and tests/python on
PYTHONPATH; scripts/kazoo-suite.sh does all this).
"""

from __future__ import annotations

import os
import sys
import types

SDIST = os.environ.get("KAZOO_SDIST_DIR")
if SDIST:
    # Import kazoo (and kazoo.tests) from the sdist, before anything else
    # imports the installed copy.
    sys.path.insert(0, SDIST)

# kazoo.testing.common imports these at module level only to build TLS
# material for the Java ensemble, which this shim never starts.
for _name in ("OpenSSL", "jks"):
    try:
        __import__(_name)
    except ImportError:
        sys.modules[_name] = types.ModuleType(_name)

import zkservers  # noqa: E402  (tests/python)

TARGET = os.environ.get("KAZOO_SUITE_TARGET", "paddock")


class ShimServer:
    """Looks like kazoo.testing.common.ManagedZooKeeper to the tests."""

    def __init__(self, srv: zkservers.ManagedServer):
        self.srv = srv
        self.host = srv.host

    # ManagedZooKeeper API used by the harness and the tests
    @property
    def address(self):
        return self.srv.connect

    @property
    def secure_address(self):
        raise RuntimeError("TLS client port not available (test should be deselected)")

    @property
    def client_port(self):
        return self.srv.port

    @property
    def running(self):
        return self.srv.running

    def run(self):
        if not self.srv.running:
            self.srv.start()

    def stop(self):
        self.srv.stop()

    def reset(self):
        self.srv.wipe()

    def destroy(self):
        self.srv.destroy()

    def get_logs(self, num_lines=100):
        return self.srv.log_tail(num_lines).splitlines(keepends=True)


class ShimCluster:
    """A one-member stand-in for kazoo.testing.common.ZookeeperCluster."""

    def __init__(self):
        kw = {}
        if TARGET == "zookeeper":
            srv = zkservers.ZooKeeperServer(**kw)
        elif TARGET == "paddock":
            srv = zkservers.PaddockServer(**kw)
        else:
            raise ValueError(f"KAZOO_SUITE_TARGET={TARGET!r}: want paddock or zookeeper")
        self._servers = [ShimServer(srv)]

    def __getitem__(self, k):
        return self._servers[k]

    def __iter__(self):
        return iter(self._servers)

    def __len__(self):
        return len(self._servers)

    def start(self):
        for s in self._servers:
            s.run()

    def stop(self):
        for s in self._servers:
            s.stop()

    def terminate(self):
        # KazooTestCase.tearDownClass terminates the cluster after every test
        # class.  Each test works under its own random chroot, so the server
        # is kept for the whole run (much faster); really stopped at exit.
        pass

    def really_terminate(self):
        for s in self._servers:
            s.destroy()

    def reset(self):
        for s in self._servers:
            s.reset()

    def get_logs(self):
        out = []
        for s in self._servers:
            out += s.get_logs()
        return out

    def get_ssl_client_configuration(self):
        raise RuntimeError("TLS not available (test should be deselected)")


_CLUSTER: ShimCluster | None = None


def get_global_cluster():
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = ShimCluster()
    return _CLUSTER


def pytest_configure(config):
    from kazoo.testing import harness
    harness.get_global_cluster = get_global_cluster
    import kazoo
    where = os.path.dirname(kazoo.__file__)
    if SDIST and not where.startswith(os.path.abspath(SDIST)):
        raise RuntimeError(f"kazoo imported from {where}, not from the sdist {SDIST}")


def pytest_report_header(config):
    import kazoo
    return [f"kazoo suite target: {TARGET} (shim: tests/kazoo/kazoo_paddock_shim.py)",
            f"kazoo under test: {os.path.dirname(kazoo.__file__)}"]


def pytest_unconfigure(config):
    # Clients some tests leave running would log their reconnect attempts to
    # stderr after the summary once the server is gone: silence them.
    import logging
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    if _CLUSTER is not None:
        _CLUSTER.really_terminate()
