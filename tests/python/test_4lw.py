"""Four-letter words over raw sockets, checked for the format essentials that
tools parse.  Reference output from ZooKeeper 3.8 is in golden/*.txt."""

import re

import pytest

VERSION_RE = r"\d+\.\d+\.\d+"


def lines_of(text):
    return text.rstrip("\n").split("\n")


@pytest.fixture
def quiet(fresh_server):
    """A private server, so counters and listings are exact."""
    return fresh_server()


def test_ruok(server):
    assert server.four_letter("ruok") == "imok"


def test_isro(server):
    assert server.four_letter("isro") == "rw"


def test_srvr(quiet):
    out = quiet.four_letter("srvr")
    ls = lines_of(out)
    keys = [l.split(":", 1)[0] for l in ls]
    assert keys == ["Zookeeper version", "Latency min/avg/max", "Received", "Sent",
                    "Connections", "Outstanding", "Zxid", "Mode", "Node count"], out
    assert re.match(rf"^Zookeeper version: {VERSION_RE}", ls[0])
    assert re.fullmatch(r"Latency min/avg/max: \d+/\d+(\.\d+)?/\d+", ls[1])
    for l in ls[2:6]:
        assert re.fullmatch(r"[A-Za-z]+: \d+", l), l
    assert re.fullmatch(r"Zxid: 0x[0-9a-f]+", ls[6])
    assert ls[7] == "Mode: standalone"
    # A fresh tree: "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config";
    # ZooKeeper's count includes the root twice (it is stored under "" and "/").
    assert ls[8] == "Node count: 5"
    assert out.endswith("\n")


def test_srvr_counts_follow_state(quiet):
    from kazoo.client import KazooClient
    c = KazooClient(quiet.connect)
    c.start()
    try:
        for i in range(3):
            c.create(f"/n{i}")
        _, st = c.get("/n2")
        out = quiet.four_letter("srvr")
        assert "Node count: 8\n" in out
        assert f"Zxid: 0x{st.czxid:x}\n" in out
        assert "Connections: 2\n" in out  # the kazoo client + this 4lw connection
    finally:
        c.stop()
        c.close()


def test_stat(quiet):
    from kazoo.client import KazooClient
    c = KazooClient(quiet.connect)
    c.start()
    try:
        out = quiet.four_letter("stat")
        ls = lines_of(out)
        assert re.match(rf"^Zookeeper version: {VERSION_RE}", ls[0])
        assert ls[1] == "Clients:"
        blank = ls.index("")
        clients = ls[2:blank]
        assert len(clients) == 2  # kazoo + ourselves
        for cl in clients:
            assert re.fullmatch(
                r" /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)", cl), cl
        rest = [l.split(":", 1)[0] for l in ls[blank + 1:]]
        assert rest == ["Latency min/avg/max", "Received", "Sent", "Connections",
                        "Outstanding", "Zxid", "Mode", "Node count"]
        assert "Mode: standalone" in ls
    finally:
        c.stop()
        c.close()


@pytest.mark.parametrize("word", [b"stat\n", b"srvr\n", b"ruok\n"])
def test_trailing_newline_is_ignored(server, word):
    out = server.four_letter(word)
    if word.startswith(b"ruok"):
        assert out == "imok"
    else:
        assert "Mode: standalone" in out


def test_mntr(quiet):
    out = quiet.four_letter("mntr")
    kv = {}
    for l in lines_of(out):
        k, v = l.split("\t")  # exactly one tab per line
        kv[k] = v
    assert re.match(VERSION_RE, kv["zk_version"])
    assert kv["zk_server_state"] == "standalone"
    assert kv["zk_znode_count"] == "5"
    for k in ["zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
              "zk_packets_sent", "zk_num_alive_connections", "zk_outstanding_requests",
              "zk_watch_count", "zk_ephemerals_count", "zk_approximate_data_size",
              "zk_open_file_descriptor_count", "zk_max_file_descriptor_count", "zk_uptime",
              "zk_global_sessions"]:
        assert re.fullmatch(r"-?\d+(\.\d+)?", kv[k]), (k, kv.get(k))
    assert kv["zk_num_alive_connections"] == "1"
    assert kv["zk_ephemerals_count"] == "0"
    assert kv["zk_watch_count"] == "0"


def test_mntr_counts_follow_state(quiet):
    from kazoo.client import KazooClient
    c = KazooClient(quiet.connect)
    c.start()
    try:
        c.create("/e1", ephemeral=True)
        c.create("/e2", ephemeral=True)
        c.get("/e1", watch=lambda e: None)
        c.get_children("/", watch=lambda e: None)
        kv = dict(l.split("\t") for l in lines_of(quiet.four_letter("mntr")))
        assert kv["zk_ephemerals_count"] == "2"
        assert kv["zk_znode_count"] == "7"
        assert kv["zk_watch_count"] == "2"  # data + child watches
        assert kv["zk_num_alive_connections"] == "2"
        assert kv["zk_global_sessions"] == "1"
    finally:
        c.stop()
        c.close()


def test_conf(quiet):
    out = quiet.four_letter("conf")
    kv = dict(l.split("=", 1) for l in lines_of(out))
    assert kv["clientPort"] == str(quiet.port)
    assert kv["tickTime"] == "2000"
    assert kv["minSessionTimeout"] == "1000"
    assert kv["maxSessionTimeout"] == "60000"
    assert kv["maxClientCnxns"] == "0"
    assert kv["serverId"] == "0"
    # ZooKeeper reports its versioned snapshot/log directory (<dataDir>/version-2);
    # a server with its own on-disk layout reports a directory inside dataDir.
    for k in ("dataDir", "dataLogDir"):
        assert kv[k] == str(quiet.data_dir) or kv[k].startswith(str(quiet.data_dir) + "/"), kv[k]


def test_cons(quiet):
    from kazoo.client import KazooClient
    c = KazooClient(quiet.connect, timeout=7)
    c.start()
    try:
        c.get("/")
        out = quiet.four_letter("cons")
        assert out.endswith("\n\n")
        ls = [l for l in lines_of(out) if l]
        assert len(ls) == 2
        sid = f"sid=0x{c.client_id[0]:x}"
        mine = [l for l in ls if sid in l]
        assert len(mine) == 1, out
        m = re.fullmatch(
            r" /127\.0\.0\.1:\d+\[1\]\(queued=\d+,recved=\d+,sent=\d+,sid=0x[0-9a-f]+,"
            r"lop=[A-Z]+,est=\d+,to=(\d+),lcxid=0x[0-9a-f]+,lzxid=0x[0-9a-f]+,lresp=\d+,"
            r"llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+\)", mine[0])
        assert m, mine[0]
        assert m.group(1) == "7000"
        other = [l for l in ls if sid not in l][0]
        assert re.fullmatch(r" /127\.0\.0\.1:\d+\[0\]\(queued=\d+,recved=\d+,sent=\d+\)", other)
    finally:
        c.stop()
        c.close()


def test_envi(server):
    out = server.four_letter("envi")
    ls = lines_of(out)
    assert ls[0] == "Environment:"
    kv = dict(l.split("=", 1) for l in ls[1:])
    assert re.match(VERSION_RE, kv["zookeeper.version"])
    # ZooKeeper also prints java.*, os.version, user.name, user.home and
    # os.memory.* (golden/envi.txt); these are what a non-JVM server can share.
    for k in ["host.name", "os.name", "os.arch", "user.dir"]:
        assert k in kv, k


def test_kazoo_server_version_parses_envi(zk):
    v = zk.server_version()
    assert len(v) == 3 and v >= (3, 5, 0), "kazoo gates features on this version"


def test_wchs_wchc_wchp(quiet):
    from kazoo.client import KazooClient
    a, b = KazooClient(quiet.connect), KazooClient(quiet.connect)
    a.start()
    b.start()
    try:
        a.create("/w1")
        a.create("/w2")
        a.get("/w1", watch=lambda e: None)
        b.get("/w1", watch=lambda e: None)
        b.exists("/missing", watch=lambda e: None)
        b.get_children("/w2", watch=lambda e: None)  # child watches are not listed
        assert quiet.four_letter("wchs") == "2 connections watching 2 paths\nTotal watches:3\n"
        sa, sb = f"0x{a.client_id[0]:x}", f"0x{b.client_id[0]:x}"
        wchc = quiet.four_letter("wchc")
        blocks = {}
        cur = None
        for l in lines_of(wchc):
            if l.startswith("0x"):
                cur = l
                blocks[cur] = set()
            elif l.startswith("\t"):
                blocks[cur].add(l[1:])
        assert blocks == {sa: {"/w1"}, sb: {"/w1", "/missing"}}
        wchp = quiet.four_letter("wchp")
        blocks = {}
        for l in lines_of(wchp):
            if l.startswith("/"):
                cur = l
                blocks[cur] = set()
            elif l.startswith("\t"):
                blocks[cur].add(l[1:])
        assert blocks == {"/w1": {sa, sb}, "/missing": {sb}}
    finally:
        for c in (a, b):
            c.stop()
            c.close()


def test_dump(quiet):
    from kazoo.client import KazooClient
    c = KazooClient(quiet.connect)
    c.start()
    try:
        c.create("/eph-a", ephemeral=True)
        c.create("/eph-b", ephemeral=True)
        out = quiet.four_letter("dump")
        sid = f"0x{c.client_id[0]:x}"
        assert out.startswith("SessionTracker dump:\n")
        assert "ephemeral nodes dump:\n" in out
        assert "Sessions with Ephemerals (1):\n" in out
        tail = out.split("Sessions with Ephemerals (1):\n", 1)[1]
        ls = tail.split("\n")
        assert ls[0] == sid + ":"
        assert sorted(ls[1:3]) == ["\t/eph-a", "\t/eph-b"]
        assert re.search(rf"\n\t{sid}\n", out), "session listed in the tracker dump"
    finally:
        c.stop()
        c.close()


def test_unknown_word_closes_connection_only(server, zk):
    # Four unknown bytes are read as a packet length: the server drops that
    # connection and nothing else.
    out = server.four_letter("xyzw", timeout=5)
    assert out == ""
    assert zk.exists("/") is not None
    assert server.four_letter("ruok") == "imok"
