//! One client connection: framing in, the handshake, decoding, and a writer
//! task that batches outbound packets. Everything about state goes to the
//! core; a connection only translates bytes.
//!
//! Limits: a packet above `max_packet_bytes`, or one that does not decode,
//! closes this connection only; at most `max_outstanding_per_connection`
//! requests are in flight before the connection stops reading
//! (back-pressure).

use std::net::SocketAddr;
use std::sync::Arc;

use proto::jute::{Jute, Reader};
use proto::request::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use crate::config::Config;
use crate::core::{ConnId, CoreMsg, Outbound};
use crate::fourlw;

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] proto::frame::FrameError),
    #[error("malformed packet: {0}")]
    Decode(#[from] proto::DecodeError),
    #[error("server is shutting down")]
    CoreGone,
}

/// Buffered reading of length-prefixed packets.
struct FrameReader {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
    max_bytes: usize,
}

impl FrameReader {
    /// Reads until at least `n` unconsumed bytes are buffered; false on EOF.
    async fn fill(&mut self, n: usize) -> Result<bool, ConnError> {
        while self.buf.len() - self.start < n {
            if self.start > 0 && self.start == self.buf.len() {
                self.buf.clear();
                self.start = 0;
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.drain(..self.start);
                self.start = 0;
                self.buf.reserve(64 * 1024);
            }
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next packet's body, or None at a clean EOF.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, ConnError> {
        loop {
            match proto::frame::check(&self.buf[self.start..], self.max_bytes)? {
                Some(len) => {
                    let body = self.buf[self.start + 4..self.start + 4 + len].to_vec();
                    self.start += 4 + len;
                    return Ok(Some(body));
                }
                None => {
                    let have = self.buf.len() - self.start;
                    if !self.fill(have + 1).await? {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// Serves one accepted connection to its end.
pub async fn serve(
    stream: TcpStream,
    conn: ConnId,
    peer: SocketAddr,
    core: mpsc::Sender<CoreMsg>,
    cfg: Arc<Config>,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut reader = FrameReader {
        rd,
        buf: Vec::with_capacity(16 * 1024),
        start: 0,
        max_bytes: cfg.max_packet_bytes,
    };
    match run(&mut reader, wr, conn, peer, &core, &cfg).await {
        Ok(()) => tracing::debug!("connection {peer} closed"),
        Err(ConnError::Io(e)) => tracing::debug!("connection {peer}: {e}"),
        Err(e) => tracing::warn!("closing connection from {peer}: {e}"),
    }
    let _ = core.send(CoreMsg::Closed { conn }).await;
}

async fn run(
    reader: &mut FrameReader,
    wr: OwnedWriteHalf,
    conn: ConnId,
    peer: SocketAddr,
    core: &mpsc::Sender<CoreMsg>,
    cfg: &Config,
) -> Result<(), ConnError> {
    if !reader.fill(4).await? {
        return Ok(());
    }
    let prefix: [u8; 4] = reader.buf[..4].try_into().expect("four bytes buffered");
    if let Some(word) = fourlw::word_of(&prefix) {
        return four_letter(word, peer, wr, core, cfg).await;
    }
    let Some(body) = reader.next().await? else {
        return Ok(());
    };
    // The trailing readOnly byte is optional; ConnectRequest ignores it.
    let (req, read_only) = proto::ConnectRequest::read_handshake(&mut Reader::new(&body))?;
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(cfg.max_outstanding_per_connection.max(1)));
    let closed = Arc::new(Notify::new());
    let writer = tokio::spawn(write_loop(wr, out_rx, permits.clone(), closed.clone()));
    core.send(CoreMsg::Connect {
        conn,
        peer,
        out: out_tx,
        req,
        read_only,
    })
    .await
    .map_err(|_| ConnError::CoreGone)?;
    let result = tokio::select! {
        r = read_loop(reader, conn, core, &permits) => r,
        _ = closed.notified() => Ok(()),
    };
    writer.abort();
    result
}

async fn read_loop(
    reader: &mut FrameReader,
    conn: ConnId,
    core: &mpsc::Sender<CoreMsg>,
    permits: &Semaphore,
) -> Result<(), ConnError> {
    loop {
        let permit = permits.acquire().await.map_err(|_| ConnError::CoreGone)?;
        permit.forget();
        let Some(body) = reader.next().await? else {
            return Ok(());
        };
        let mut r = Reader::new(&body);
        let header = proto::RequestHeader::read(&mut r)?;
        let req = Request::decode(header.op, &mut r)?;
        core.send(CoreMsg::Request {
            conn,
            xid: header.xid,
            req,
        })
        .await
        .map_err(|_| ConnError::CoreGone)?;
    }
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    permits: Arc<Semaphore>,
    closed: Arc<Notify>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    'outer: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut close = false;
        let mut replies = 0;
        while let Some(msg) = next.take() {
            match msg {
                Outbound::Reply(p) => {
                    buf.extend_from_slice(&p);
                    replies += 1;
                }
                Outbound::Packet(p) => buf.extend_from_slice(&p),
                Outbound::Close => {
                    close = true;
                    break;
                }
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if !buf.is_empty() && wr.write_all(&buf).await.is_err() {
            break 'outer;
        }
        buf.clear();
        if buf.capacity() > 1024 * 1024 {
            buf.shrink_to(64 * 1024);
        }
        permits.add_permits(replies);
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
    closed.notify_one();
}

async fn four_letter(
    word: &str,
    peer: SocketAddr,
    mut wr: OwnedWriteHalf,
    core: &mpsc::Sender<CoreMsg>,
    cfg: &Config,
) -> Result<(), ConnError> {
    let text = if cfg.four_letter_allowed(word) {
        let (tx, rx) = oneshot::channel();
        core.send(CoreMsg::FourLetter {
            word: word.to_string(),
            peer,
            reply: tx,
        })
        .await
        .map_err(|_| ConnError::CoreGone)?;
        rx.await.map_err(|_| ConnError::CoreGone)?
    } else {
        fourlw::not_allowed(word)
    };
    wr.write_all(text.as_bytes()).await?;
    wr.shutdown().await?;
    Ok(())
}
