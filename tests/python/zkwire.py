"""Low-level ZooKeeper wire protocol helpers for the tests.

* Extra request types kazoo 2.11 has no method for (containers, TTL nodes,
  getEphemerals, getAllChildrenNumber, addWatch, removeWatches, whoAmI).  They
  follow kazoo's request protocol (``type``, ``serialize()``,
  ``deserialize(bytes, offset)``) so they can go through a live KazooClient
  with :func:`kz_call`, or through :class:`RawClient`.
* :class:`RawClient`: a tiny synchronous client over a plain socket, used to
  send malformed input, unknown opcodes, to see raw reply headers (xid, zxid,
  err) and to drop a connection without closing its session.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import namedtuple

from kazoo.exceptions import EXCEPTIONS
from kazoo.handlers.threading import AsyncResult
from kazoo.protocol.serialization import (
    Close, Connect, ReplyHeader, Watch, int_struct, read_buffer, read_string,
    stat_struct, write_buffer, write_string,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE

long_struct = struct.Struct("!q")

# ZooDefs.OpCode
OP = dict(notification=0, create=1, delete=2, exists=3, getData=4, setData=5,
          getACL=6, setACL=7, getChildren=8, sync=9, ping=11, getChildren2=12,
          check=13, multi=14, create2=15, reconfig=16, checkWatches=17,
          removeWatches=18, createContainer=19, deleteContainer=20,
          createTTL=21, multiRead=22, auth=100, setWatches=101, sasl=102,
          getEphemerals=103, getAllChildrenNumber=104, setWatches2=105,
          addWatch=106, whoAmI=107, createSession=-10, closeSession=-11,
          error=-1)

# CreateMode flags
PERSISTENT, EPHEMERAL, PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6

# Watcher.Event.EventType
EV_NONE, EV_CREATED, EV_DELETED, EV_CHANGED, EV_CHILD, EV_DATA_WATCH_REMOVED, \
    EV_CHILD_WATCH_REMOVED, EV_PERSISTENT_WATCH_REMOVED = -1, 1, 2, 3, 4, 5, 6, 7

# AddWatchMode
PERSISTENT_WATCH, PERSISTENT_RECURSIVE_WATCH = 0, 1


def _acl_bytes(acl):
    b = bytearray(int_struct.pack(len(acl)))
    for a in acl:
        b.extend(int_struct.pack(a.perms) + write_string(a.id.scheme) + write_string(a.id.id))
    return b


def _path_stat(buf, offset):
    path, offset = read_string(buf, offset)
    stat = ZnodeStat._make(stat_struct.unpack_from(buf, offset))
    return path, stat


class CreateContainer(namedtuple("CreateContainer", "path data acl")):
    type = OP["createContainer"]

    def serialize(self):
        return (write_string(self.path) + write_buffer(self.data)
                + _acl_bytes(self.acl or OPEN_ACL_UNSAFE) + int_struct.pack(CONTAINER))

    @classmethod
    def deserialize(cls, buf, offset):
        return _path_stat(buf, offset)


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """flags: PERSISTENT_WITH_TTL (5) or PERSISTENT_SEQUENTIAL_WITH_TTL (6)."""
    type = OP["createTTL"]

    def serialize(self):
        return (write_string(self.path) + write_buffer(self.data)
                + _acl_bytes(self.acl or OPEN_ACL_UNSAFE) + int_struct.pack(self.flags)
                + long_struct.pack(self.ttl))

    @classmethod
    def deserialize(cls, buf, offset):
        return _path_stat(buf, offset)


class GetEphemerals(namedtuple("GetEphemerals", "prefix")):
    type = OP["getEphemerals"]

    def serialize(self):
        return write_string(self.prefix)

    @classmethod
    def deserialize(cls, buf, offset):
        n = int_struct.unpack_from(buf, offset)[0]
        offset += 4
        out = []
        for _ in range(max(n, 0)):
            s, offset = read_string(buf, offset)
            out.append(s)
        return out


class GetAllChildrenNumber(namedtuple("GetAllChildrenNumber", "path")):
    type = OP["getAllChildrenNumber"]

    def serialize(self):
        return write_string(self.path)

    @classmethod
    def deserialize(cls, buf, offset):
        return int_struct.unpack_from(buf, offset)[0]


class AddWatch(namedtuple("AddWatch", "path mode")):
    type = OP["addWatch"]

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buf, offset):
        return True


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    """watcher_type: 1 children, 2 data, 3 any."""
    type = OP["removeWatches"]

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.watcher_type)

    @classmethod
    def deserialize(cls, buf, offset):
        return True


def _strings(items):
    b = bytearray(int_struct.pack(len(items)))
    for x in items:
        b.extend(write_string(x))
    return b


class SetWatches(namedtuple("SetWatches", "relative_zxid data exist child")):
    """Re-register watches after a reconnect (what the Java/C clients send)."""
    type = OP["setWatches"]

    def serialize(self):
        return (long_struct.pack(self.relative_zxid) + _strings(self.data)
                + _strings(self.exist) + _strings(self.child))

    @classmethod
    def deserialize(cls, buf, offset):
        return True


class WhoAmI(namedtuple("WhoAmI", "")):
    type = OP["whoAmI"]

    def __bool__(self):  # kazoo skips falsy (empty-tuple) requests' results
        return True

    def serialize(self):
        return b""

    @classmethod
    def deserialize(cls, buf, offset):
        n = int_struct.unpack_from(buf, offset)[0]
        offset += 4
        out = []
        for _ in range(max(n, 0)):
            scheme, offset = read_string(buf, offset)
            user, offset = read_string(buf, offset)
            out.append((scheme, user))
        return out


class Opaque(namedtuple("Opaque", "type body")):
    """Any opcode with a pre-encoded body; response returned as raw bytes."""

    def serialize(self):
        return self.body

    @classmethod
    def deserialize(cls, buf, offset):
        return bytes(buf[offset:])


def kz_call(client, request, timeout=15):
    """Send one request through a connected KazooClient and wait for it."""
    ar = AsyncResult(client.handler)
    client._call(request, ar)
    return ar.get(timeout=timeout)


# ---------------------------------------------------------------------------
class RawClient:
    """A synchronous ZooKeeper client on one plain TCP socket."""

    def __init__(self, host, port, timeout_ms=10000, session_id=0, passwd=b"\0" * 16,
                 connect=True, sock_timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=sock_timeout)
        self.sock.settimeout(sock_timeout)
        self.xid = 0
        self.events = []
        self.session_id = None
        self.passwd = None
        self.negotiated_timeout = None
        self.last_zxid = 0
        if connect:
            self.handshake(timeout_ms, session_id, passwd)

    # framing -----------------------------------------------------------
    def send_frame(self, payload: bytes):
        self.sock.sendall(int_struct.pack(len(payload)) + payload)

    def _recv_exact(self, n):
        chunks = bytearray()
        while len(chunks) < n:
            b = self.sock.recv(n - len(chunks))
            if not b:
                raise ConnectionError("connection closed by server")
            chunks.extend(b)
        return bytes(chunks)

    def recv_frame(self) -> bytes:
        (n,) = int_struct.unpack(self._recv_exact(4))
        return self._recv_exact(n)

    def handshake(self, timeout_ms=10000, session_id=0, passwd=b"\0" * 16):
        self.send_frame(bytes(Connect(0, self.last_zxid, timeout_ms, session_id, passwd,
                                      False).serialize()))
        body = self.recv_frame()
        proto, timeout, sid = struct.unpack_from("!iiq", body, 0)
        pw, off = read_buffer(body, 16)
        self.negotiated_timeout, self.session_id, self.passwd = timeout, sid, pw
        return proto, timeout, sid, pw

    # requests ----------------------------------------------------------
    def send_request(self, op_type, body=b"", xid=None):
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.send_frame(int_struct.pack(xid) + int_struct.pack(op_type) + bytes(body))
        return xid

    def read_reply(self, xid):
        """Read frames until the reply to `xid`; events go to self.events."""
        while True:
            frame = self.recv_frame()
            hdr, off = ReplyHeader.deserialize(frame, 0)
            if hdr.xid == -1:
                ev, _ = Watch.deserialize(frame, off)
                self.events.append(ev)
                continue
            if hdr.xid == -2:  # ping reply
                if xid == -2:
                    return hdr, frame[off:]
                continue
            if hdr.zxid > 0:
                self.last_zxid = hdr.zxid
            if hdr.xid != xid:
                raise AssertionError(f"reply xid {hdr.xid} != expected {xid}")
            return hdr, frame[off:]

    def call(self, request):
        """Send a kazoo-style request; return (ReplyHeader, decoded-or-None)."""
        xid = self.send_request(request.type, request.serialize())
        hdr, body = self.read_reply(xid)
        if hdr.err == 0 and hasattr(request, "deserialize"):
            try:
                return hdr, request.deserialize(body, 0)
            except Exception:
                return hdr, body
        return hdr, None

    def check(self, request):
        hdr, res = self.call(request)
        if hdr.err:
            raise EXCEPTIONS[hdr.err]()
        return res

    def ping(self):
        self.send_request(OP["ping"], b"", xid=-2)
        return self.read_reply(-2)

    def wait_event(self, timeout=10.0):
        """Return the next watch event, reading from the socket if needed."""
        if self.events:
            return self.events.pop(0)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                frame = self.recv_frame()
            except socket.timeout:
                break
            hdr, off = ReplyHeader.deserialize(frame, 0)
            if hdr.xid == -1:
                ev, _ = Watch.deserialize(frame, off)
                return ev
        raise TimeoutError("no watch event within %.1fs" % timeout)

    def close_session(self):
        xid = self.send_request(Close.type, b"")
        try:
            return self.read_reply(xid)
        finally:
            self.close()

    def close(self):
        """Drop the TCP connection WITHOUT closing the session."""
        try:
            self.sock.close()
        except OSError:
            pass

    def is_closed_by_peer(self, timeout=5.0) -> bool:
        """True if the server closed this connection within `timeout`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not b:
                return True
        return False
