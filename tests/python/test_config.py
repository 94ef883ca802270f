"""zoo.cfg handling: 4lw whitelist, maxClientCnxns, dataLogDir, bad
configuration, and (paddock only) the no-config default port."""

import socket
import subprocess
import time

import pytest
from kazoo.client import KazooClient

import zkservers
import zkwire


def test_4lw_whitelist(fresh_server):
    srv = fresh_server(extra_cfg={"4lw.commands.whitelist": "ruok, srvr ,mntr"})
    assert srv.four_letter("ruok") == "imok"
    assert "Mode: standalone" in srv.four_letter("srvr")
    assert srv.four_letter("mntr").startswith("zk_version\t")
    for w in ["stat", "conf", "isro", "cons", "dump", "envi", "wchs"]:
        assert srv.four_letter(w) == f"{w} is not executed because it is not in the whitelist.\n"


def test_default_4lw_whitelist_is_srvr_only(fresh_server):
    srv = fresh_server(extra_cfg={"4lw.commands.whitelist": None})
    assert "Mode: standalone" in srv.four_letter("srvr")
    for w in ["ruok", "stat", "mntr", "conf", "isro"]:
        assert srv.four_letter(w) == f"{w} is not executed because it is not in the whitelist.\n"


def test_max_client_cnxns_per_ip(fresh_server):
    srv = fresh_server(extra_cfg={"maxClientCnxns": "3"})
    conns = [zkwire.RawClient(srv.host, srv.port) for _ in range(3)]
    try:
        extra = None
        try:
            # The refusal may come as early as the TCP connect (a server
            # that closes at accept can make connect() fail with EPIPE).
            extra = zkwire.RawClient(srv.host, srv.port, connect=False)
            extra.handshake(10000)
            refused = False
        except OSError:
            refused = True
        assert refused or extra.is_closed_by_peer(5), "4th connection from one IP is refused"
        if extra is not None:
            extra.close()
        # the admitted connections keep working
        for c in conns:
            assert c.ping()[0].err == 0
        conns.pop().close_session()
        end = time.monotonic() + 10
        while True:  # the slot frees once the server notices the close
            try:
                c = zkwire.RawClient(srv.host, srv.port)
                conns.append(c)
                break
            except OSError:
                assert time.monotonic() < end, "slot not freed after a connection closed"
                time.sleep(0.05)  # poll interval
    finally:
        for c in conns:
            c.close()


def test_separate_data_log_dir(fresh_server, tmp_path):
    log_dir = tmp_path / "txnlog"
    log_dir.mkdir()
    srv = fresh_server(extra_cfg={"dataLogDir": str(log_dir)})
    c = KazooClient(srv.connect)
    c.start()
    try:
        for i in range(20):
            c.create(f"/n{i}", str(i).encode())
    finally:
        c.stop()
        c.close()
    assert any(p.is_file() for p in log_dir.rglob("*")), "transaction log written to dataLogDir"
    srv.restart(hard=True)
    c = KazooClient(srv.connect)
    c.start()
    try:
        assert [c.get(f"/n{i}")[0] for i in range(20)] == [str(i).encode() for i in range(20)]
    finally:
        c.stop()
        c.close()


@pytest.mark.parametrize("bad", [{"clientPort": "not-a-number"}, {"tickTime": "-"}])
def test_bad_config_exits_nonzero(server_kind, bad):
    srv = zkservers.make_server(server_kind, extra_cfg=bad)
    try:
        with pytest.raises(zkservers.ServerStartError, match="exited with [1-9]"):
            srv.start(deadline=30)
    finally:
        srv.destroy()


@pytest.mark.paddock_only
def test_paddock_without_config_serves_on_2181(server_kind, tmp_path):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            s.bind(("127.0.0.1", 2181))
        except OSError:
            pytest.skip("port 2181 is in use on this machine")
    binary = zkservers.paddock_bin()
    log = open(tmp_path / "server.log", "wb")
    p = subprocess.Popen([binary, "server"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, preexec_fn=zkservers._die_with_parent)
    try:
        end = time.monotonic() + 20
        while True:
            assert p.poll() is None, (tmp_path / "server.log").read_text()
            try:
                # ZooKeeper's default whitelist is just "srvr"
                if "Mode: standalone" in zkservers.four_letter("127.0.0.1", 2181, "srvr", 1.0):
                    break
            except OSError:
                pass
            assert time.monotonic() < end, "no srvr reply on 2181"
            time.sleep(0.05)  # poll interval
        # with no whitelist configured, other words are refused like ZooKeeper does
        assert zkservers.four_letter("127.0.0.1", 2181, "stat", 2.0) == \
            "stat is not executed because it is not in the whitelist.\n"
        assert (tmp_path / "data").is_dir(), "default data dir is ./data"
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
