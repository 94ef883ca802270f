//! A raw, pipelined client connection: the handshake, requests encoded
//! straight into one reused output buffer, and replies framed in place in
//! one reused input buffer. Nothing here allocates per operation.
//!
//! The two buffers are separate fields so that a caller can hold a
//! [`Reply`] borrowed from [`Conn::inbox`] while it encodes the next request
//! into [`Conn::out`].

use std::io;
use std::time::Duration;

use proto::frame;
use proto::jute::{Jute, Reader, Writer};
use proto::opcode::OpCode;
use proto::{ConnectRequest, ConnectResponse, ReplyHeader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes read from the socket per `read` call at least (the buffer grows
/// for larger frames).
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// One reply or notification, borrowed from the input buffer.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// The request's xid, or -1 for a watch event, -2 for a ping reply.
    pub xid: i32,
    /// ZooKeeper error code (0 is success).
    pub err: i32,
    /// The body after the header.
    pub body: &'a [u8],
}

/// Replies received but not parsed yet.
pub struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Inbox {
    fn new() -> Self {
        Inbox {
            buf: vec![0; READ_CHUNK_BYTES * 2],
            start: 0,
            end: 0,
        }
    }

    /// The next whole reply in the buffer, if one is there.
    pub fn next_reply(&mut self) -> io::Result<Option<Reply<'_>>> {
        let avail = &self.buf[self.start..self.end];
        let len = match frame::check(avail, frame::DEFAULT_MAX_PACKET_BYTES) {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(None),
            Err(e) => return Err(invalid(e.to_string())),
        };
        let body = &self.buf[self.start + 4..self.start + 4 + len];
        self.start += 4 + len;
        let mut r = Reader::new(body);
        let h = ReplyHeader::read(&mut r).map_err(|e| invalid(e.to_string()))?;
        Ok(Some(Reply {
            xid: h.xid,
            err: h.err,
            body: r.rest(),
        }))
    }

    /// Makes room for at least [`READ_CHUNK_BYTES`] (or the rest of a large
    /// frame) after the buffered bytes.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let pending = self.end - self.start;
        let want = match frame::check(&self.buf[self.start..self.end], usize::MAX) {
            Err(_) | Ok(Some(_)) => READ_CHUNK_BYTES,
            Ok(None) if pending < 4 => READ_CHUNK_BYTES,
            Ok(None) => {
                let len = i32::from_be_bytes([
                    self.buf[self.start],
                    self.buf[self.start + 1],
                    self.buf[self.start + 2],
                    self.buf[self.start + 3],
                ]) as usize;
                (4 + len - pending).max(READ_CHUNK_BYTES)
            }
        };
        if self.buf.len() - self.end >= want {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.start = 0;
        self.end = pending;
        if self.buf.len() - self.end < want {
            self.buf.resize(self.end + want, 0);
        }
    }
}

/// A connected session.
pub struct Conn {
    stream: TcpStream,
    /// Received bytes.
    pub inbox: Inbox,
    /// Requests encoded and not yet written.
    pub out: Outbox,
}

impl Conn {
    /// Connects and opens a new session with `timeout_ms`.
    pub async fn connect(addr: &str, timeout_ms: i32) -> io::Result<Conn> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut out = Vec::with_capacity(64);
        let at = frame::begin(&mut out);
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: 0,
            passwd: vec![0; 16],
        }
        .write_handshake(Some(false), &mut out);
        frame::end(&mut out, at);
        stream.write_all(&out).await?;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await?;
        let len = i32::from_be_bytes(len);
        if !(0..=4096).contains(&len) {
            return Err(invalid(format!("bad handshake reply length {len}")));
        }
        let mut body = vec![0; len as usize];
        stream.read_exact(&mut body).await?;
        let (rsp, _) = ConnectResponse::read_handshake(&mut Reader::new(&body))
            .map_err(|e| invalid(e.to_string()))?;
        if rsp.session_id == 0 || rsp.timeout_ms <= 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the server refused the session",
            ));
        }
        Ok(Conn {
            stream,
            inbox: Inbox::new(),
            out: Outbox::new(),
        })
    }

    /// Writes every encoded request.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.buf.is_empty() {
            self.stream.write_all(&self.out.buf).await?;
            self.out.buf.clear();
        }
        Ok(())
    }

    /// Reads more bytes into the inbox; an error at end of stream.
    pub async fn read_more(&mut self) -> io::Result<()> {
        self.inbox.make_room();
        let end = self.inbox.end;
        let n = self.stream.read(&mut self.inbox.buf[end..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.inbox.end += n;
        Ok(())
    }

    /// Sends one request already in `out` and waits for its reply (skipping
    /// notifications); returns the reply's error code.
    pub async fn call(&mut self, xid: i32) -> io::Result<i32> {
        self.flush().await?;
        loop {
            while let Some(r) = self.inbox.next_reply()? {
                if r.xid == xid {
                    return Ok(r.err);
                }
            }
            self.read_more().await?;
        }
    }

    /// Closes the session (best effort, bounded by `deadline`).
    pub async fn close(mut self, deadline: Duration) {
        let xid = self.out.close_session();
        let _ = tokio::time::timeout(deadline, self.call(xid)).await;
    }
}

/// Encodes requests; each method returns the xid it used.
pub struct Outbox {
    buf: Vec<u8>,
    next_xid: i32,
    open_acl: Vec<u8>,
}

impl Outbox {
    fn new() -> Self {
        let mut open_acl = Vec::new();
        open_acl.write_vec(&proto::Acl::open_unsafe());
        Outbox {
            buf: Vec::with_capacity(READ_CHUNK_BYTES),
            next_xid: 1,
            open_acl,
        }
    }

    /// An outbox not tied to a connection.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        Outbox::new()
    }

    fn header(&mut self, op: OpCode) -> (usize, i32) {
        let at = frame::begin(&mut self.buf);
        let xid = self.next_xid;
        self.next_xid = self.next_xid.checked_add(1).unwrap_or(1);
        Writer::write_i32(&mut self.buf, xid);
        Writer::write_i32(&mut self.buf, op as i32);
        (at, xid)
    }

    /// create with the open ACL and `flags` (a `create_mode`).
    pub fn create(&mut self, path: &str, data: &[u8], flags: i32) -> i32 {
        let (at, xid) = self.header(OpCode::Create);
        self.buf.write_string(path);
        self.buf.write_buffer(data);
        self.buf.extend_from_slice(&self.open_acl);
        Writer::write_i32(&mut self.buf, flags);
        frame::end(&mut self.buf, at);
        xid
    }

    /// delete, any version.
    pub fn delete(&mut self, path: &str) -> i32 {
        let (at, xid) = self.header(OpCode::Delete);
        self.buf.write_string(path);
        Writer::write_i32(&mut self.buf, -1);
        frame::end(&mut self.buf, at);
        xid
    }

    /// setData, any version.
    pub fn set_data(&mut self, path: &str, data: &[u8]) -> i32 {
        let (at, xid) = self.header(OpCode::SetData);
        self.buf.write_string(path);
        self.buf.write_buffer(data);
        Writer::write_i32(&mut self.buf, -1);
        frame::end(&mut self.buf, at);
        xid
    }

    /// getData, optionally leaving a data watch.
    pub fn get_data(&mut self, path: &str, watch: bool) -> i32 {
        self.path_and_watch(OpCode::GetData, path, watch)
    }

    /// exists, optionally leaving a watch.
    pub fn exists(&mut self, path: &str, watch: bool) -> i32 {
        self.path_and_watch(OpCode::Exists, path, watch)
    }

    fn path_and_watch(&mut self, op: OpCode, path: &str, watch: bool) -> i32 {
        let (at, xid) = self.header(op);
        self.buf.write_string(path);
        self.buf.write_bool(watch);
        frame::end(&mut self.buf, at);
        xid
    }

    /// closeSession.
    pub fn close_session(&mut self) -> i32 {
        let (at, xid) = self.header(OpCode::CloseSession);
        frame::end(&mut self.buf, at);
        xid
    }
}

/// The path in a create reply's body, if it decodes.
pub fn created_path(body: &[u8]) -> Option<&str> {
    let len = i32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    let bytes = body.get(4..4 + usize::try_from(len).ok()?)?;
    std::str::from_utf8(bytes).ok()
}

/// Whether the server answers the four-letter word `ruok` with `imok`.
pub async fn ruok(addr: &str) -> io::Result<bool> {
    Ok(four_letter(addr, b"ruok").await? == b"imok")
}

/// Sends the four-letter word `word` and returns everything the server
/// answers until it closes the connection.
pub async fn four_letter(addr: &str, word: &[u8; 4]) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(word).await?;
    let mut answer = Vec::with_capacity(512);
    s.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// The value of the `Mode: ` line of a `srvr` answer (`leader`,
/// `follower`, `standalone`, ...), if there is one.
pub fn srvr_mode(answer: &str) -> Option<&str> {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("Mode:"))
        .map(str::trim)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}
