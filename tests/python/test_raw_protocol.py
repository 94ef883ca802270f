"""The wire protocol on raw sockets: framing, pipelining, bad input.

Bad input on one connection must only ever cost that connection: the server
and every other client keep working."""

import struct

import pytest
from kazoo.exceptions import ConnectionLoss
from kazoo.protocol.serialization import Connect, Create, Exists, GetData, SetData
from kazoo.security import OPEN_ACL_UNSAFE

import zkwire


def assert_server_fine(server, zk):
    assert zk.exists("/") is not None
    assert server.ruok()
    c = zkwire.RawClient(server.host, server.port)
    hdr, _ = c.call(Exists("/", False))
    assert hdr.err == 0
    c.close_session()


def test_connect_response_layout(raw):
    c = raw(connect=False)
    c.send_frame(bytes(Connect(0, 0, 8000, 0, b"\0" * 16, False).serialize()))
    body = c.recv_frame()
    # protocolVersion:int, timeOut:int, sessionId:long, passwd:buffer(16), readOnly:bool
    assert len(body) == 4 + 4 + 8 + 4 + 16 + 1
    proto, to, sid, plen = struct.unpack_from("!iiqi", body)
    assert (proto, to, plen) == (0, 8000, 16) and sid != 0
    assert body[-1] == 0


def test_pipelined_requests_answered_in_order(raw, base):
    c = raw()
    xids = []
    for i in range(200):
        body = Create(f"{base}/p{i}", b"x", OPEN_ACL_UNSAFE, 0).serialize()
        xids.append(c.send_request(Create.type, body))
    for i in range(200):
        xids.append(c.send_request(GetData.type, GetData(f"{base}/p{i}", False).serialize()))
    last_zxid = 0
    for xid in xids:
        hdr, _ = c.read_reply(xid)
        assert hdr.err == 0
        assert hdr.zxid >= last_zxid, "reply zxids never go backwards"
        last_zxid = hdr.zxid


def test_frames_split_and_coalesced(raw, base):
    c = raw()
    a = Create(f"{base}/split", b"", OPEN_ACL_UNSAFE, 0).serialize()
    frame = struct.pack("!iii", 8 + len(a), 1, Create.type) + bytes(a)
    for i in range(len(frame)):  # one byte at a time
        c.sock.sendall(frame[i:i + 1])
    hdr, body = c.read_reply(1)
    assert hdr.err == 0 and Create.deserialize(body, 0) == f"{base}/split"
    two = b""
    for xid in (2, 3):
        body = bytes(Exists(f"{base}/split", False).serialize())
        two += struct.pack("!iii", 8 + len(body), xid, Exists.type) + body
    c.sock.sendall(two)  # two frames in one write
    assert c.read_reply(2)[0].err == 0
    assert c.read_reply(3)[0].err == 0


def test_oversized_length_prefix_closes_only_that_connection(server, zk, raw):
    victim = raw()
    victim.sock.sendall(struct.pack("!i", 0x7FFFFFFF))
    assert victim.is_closed_by_peer(10)
    assert_server_fine(server, zk)


def test_oversized_first_frame(server, zk, raw):
    c = raw(connect=False)
    c.sock.sendall(struct.pack("!i", 0x10000000))
    assert c.is_closed_by_peer(10)
    assert_server_fine(server, zk)


def test_negative_length_prefix(server, zk, raw):
    c = raw()
    c.sock.sendall(struct.pack("!i", -5))
    assert c.is_closed_by_peer(10)
    assert_server_fine(server, zk)


def test_garbage_connect_request(server, zk, raw):
    c = raw(connect=False)
    c.send_frame(b"\x01\x02\x03")
    assert c.is_closed_by_peer(10)
    assert_server_fine(server, zk)


def test_truncated_request_body(server, zk, raw, base):
    """A request whose body ends early: ZooKeeper answers MarshallingError (-5)
    and keeps the connection; closing the connection is also acceptable."""
    c = raw()
    c.send_request(Create.type, b"\x00\x00\x00\x05ab")
    try:
        hdr, _ = c.read_reply(1)
    except ConnectionError:
        hdr = None
    if hdr is not None:
        assert hdr.err == -5
        h2, _ = c.call(Exists("/", False))
        assert h2.err == 0
    assert_server_fine(server, zk)


def test_half_frame_then_hangup(server, zk, raw):
    c = raw()
    c.sock.sendall(struct.pack("!i", 100) + b"\x00" * 10)
    c.close()
    assert_server_fine(server, zk)


def test_hangup_mid_handshake(server, zk, raw):
    c = raw(connect=False)
    c.sock.sendall(struct.pack("!i", 45) + b"\x00" * 8)
    c.close()
    assert_server_fine(server, zk)


def test_unknown_opcode(server, zk, raw, base):
    """An unknown opcode gets a reply header with the request's xid and
    err = -6 (Unimplemented).  ZooKeeper then closes that connection (the
    session survives); paddock keeps the connection open."""
    c = raw(timeout_ms=10000)
    hdr, path = c.call(Create(base + "/uo", b"", OPEN_ACL_UNSAFE, zkwire.EPHEMERAL))
    assert hdr.err == 0
    xid = c.send_request(999, b"\x00\x01\x02")
    hdr, body = c.read_reply(xid)
    assert hdr.xid == xid and hdr.err == -6 and body == b""
    if server.kind == "paddock":
        h2, _ = c.call(Exists("/", False))
        assert h2.err == 0, "connection stays usable after Unimplemented"
    else:
        assert c.is_closed_by_peer(10)
        c2 = raw(connect=False)
        c2.handshake(10000, c.session_id, c.passwd)
        assert c2.session_id == c.session_id, "the session survives"
        c = c2
    assert zk.exists(path).ephemeralOwner == c.session_id
    assert_server_fine(server, zk)


def test_data_too_large(server, zk, base):
    with pytest.raises(ConnectionLoss):
        zk.create(base + "/huge", b"x" * (2 * 1024 * 1024))
    # kazoo reconnects on its own
    zk.retry(zk.exists, "/")
    assert zk.exists(base + "/huge") is None
    assert_server_fine(server, zk)


def test_wrong_version_set_keeps_connection(raw, base):
    c = raw()
    c.check(Create(base + "/v", b"", OPEN_ACL_UNSAFE, 0))
    hdr, _ = c.call(SetData(base + "/v", b"", 42))
    assert hdr.err == -103
    hdr, _ = c.call(SetData(base + "/v", b"ok", 0))
    assert hdr.err == 0


def test_ping_reply(raw):
    c = raw()
    hdr, body = c.ping()
    assert (hdr.xid, hdr.err, body) == (-2, 0, b"")
