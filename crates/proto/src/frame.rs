//! Framing: every packet is a 4-byte big-endian length and that many bytes.

use thiserror::Error;

/// Default largest packet accepted: jute.maxbuffer (1 MiB) plus slack for
/// headers, as ZooKeeper allows.
pub const DEFAULT_MAX_PACKET_BYTES: usize = 0xfffff + 1024;

/// A length prefix that cannot start a valid packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Negative length.
    #[error("negative packet length {0}")]
    Negative(i32),
    /// Larger than the configured limit.
    #[error("packet length {len} exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Whether `buf` starts with a whole packet: `Ok(Some(n))` when the first
/// packet's body is `buf[4..4 + n]`, `Ok(None)` when more bytes are needed.
pub fn check(buf: &[u8], max_bytes: usize) -> Result<Option<usize>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 {
        return Err(FrameError::Negative(len));
    }
    let len = len as usize;
    if len > max_bytes {
        return Err(FrameError::TooLarge {
            len,
            max: max_bytes,
        });
    }
    Ok((buf.len() >= 4 + len).then_some(len))
}

/// Starts a packet in `w`: reserves the length prefix. Finish with [`end`].
pub fn begin(w: &mut Vec<u8>) -> usize {
    let at = w.len();
    w.extend_from_slice(&[0; 4]);
    at
}

/// Writes the length of the packet begun at `at`.
pub fn end(w: &mut [u8], at: usize) {
    let len = (w.len() - at - 4) as i32;
    w[at..at + 4].copy_from_slice(&len.to_be_bytes());
}
