//! On-disk formats, as pure encode/decode functions (no I/O).
//!
//! All integers are little-endian. Checksums are CRC-32C (Castagnoli).
//!
//! # Log segment file `log.<16 lowercase hex digits of the first zxid>`
//!
//! A segment is a 32-byte header followed by records, then zeros (the file is
//! preallocated) or the end of the file.
//!
//! Header:
//!
//! | offset | size | field                                        |
//! |--------|------|----------------------------------------------|
//! | 0      | 8    | magic `b"PDKLOG\r\n"`                        |
//! | 8      | 4    | format version, `1`                          |
//! | 12     | 4    | reserved, zero                               |
//! | 16     | 8    | first zxid (i64), equal to the one in the name |
//! | 24     | 4    | CRC-32C of bytes 0..24                        |
//! | 28     | 4    | reserved, zero                               |
//!
//! Record (starts right after the header or the previous record):
//!
//! | offset | size     | field                                                   |
//! |--------|----------|---------------------------------------------------------|
//! | 0      | 4        | `size_flags` (u32): bits 0..31 = `size`, the byte count of zxid + payload (`8 + payload length`); bit 31 = set on the first record of each appended batch |
//! | 4      | 4        | CRC-32C of bytes 0..4 followed by bytes 8..8+size        |
//! | 8      | 8        | zxid (i64)                                              |
//! | 16     | size - 8 | payload, opaque                                          |
//!
//! A `size_flags` of zero marks the end of written data (preallocated space is
//! zeros, and a real record always has `size >= 8`). The checksum also covers
//! `size_flags`, so a flipped length or batch bit is caught like a flipped
//! payload byte. The batch bit lets recovery tell a torn final batch (valid
//! records after the damage, none starting a batch: they were never
//! acknowledged) from damage to committed data (a later batch follows).
//!
//! # Snapshot file `snapshot.<16 lowercase hex digits of the zxid>`
//!
//! Written as `snapshot.<hex>.tmp` and renamed when complete.
//!
//! Header:
//!
//! | offset | size | field                              |
//! |--------|------|------------------------------------|
//! | 0      | 8    | magic `b"PDKSNP\r\n"`              |
//! | 8      | 4    | format version, `1`                |
//! | 12     | 4    | reserved, zero                     |
//! | 16     | 8    | zxid (i64): last txn the body covers |
//! | 24     | 4    | CRC-32C of bytes 0..24             |
//! | 28     | 4    | reserved, zero                     |
//!
//! Then the body (opaque bytes from the tree), then the trailer:
//!
//! | offset | size | field                           |
//! |--------|------|---------------------------------|
//! | 0      | 8    | magic `b"PDKEND\r\n"`           |
//! | 8      | 8    | body length in bytes (u64)      |
//! | 16     | 4    | CRC-32C of the body             |
//! | 20     | 4    | CRC-32C of trailer bytes 0..20  |
//!
//! A snapshot is valid only if the file length is exactly
//! `32 + body length + 24` and both checksums match.
//!
//! # Epoch files `acceptedEpoch`, `currentEpoch`
//!
//! The epoch in ASCII decimal followed by `\n`, as ZooKeeper writes them.

/// Length of the segment and snapshot headers.
pub const HEADER_LEN: usize = 32;
/// Length of a record's fixed part (`size_flags`, crc, zxid).
pub const RECORD_HEADER_LEN: usize = 16;
/// Length of the snapshot trailer.
pub const TRAILER_LEN: usize = 24;
/// The only format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Largest payload accepted in one record (64 MiB). A length above this on
/// disk is treated as corruption rather than allocated.
pub const MAX_PAYLOAD_BYTES: usize = 64 << 20;

/// Magic of a log segment header.
pub const SEGMENT_MAGIC: [u8; 8] = *b"PDKLOG\r\n";
/// Magic of a snapshot header.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"PDKSNP\r\n";
/// Magic of a snapshot trailer.
pub const TRAILER_MAGIC: [u8; 8] = *b"PDKEND\r\n";

const BATCH_START_BIT: u32 = 1 << 31;
const SIZE_MASK: u32 = !BATCH_START_BIT;
const SEGMENT_PREFIX: &str = "log.";
const SNAPSHOT_PREFIX: &str = "snapshot.";

/// Encodes a 32-byte segment or snapshot header.
pub fn encode_header(magic: [u8; 8], zxid: i64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&magic);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&zxid.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a header written by [`encode_header`], returning its zxid, or a
/// sentence saying why it is invalid.
pub fn decode_header(magic: [u8; 8], h: &[u8]) -> Result<i64, String> {
    if h.len() < HEADER_LEN {
        return Err(format!(
            "the file is {} bytes long, shorter than its {HEADER_LEN}-byte header",
            h.len()
        ));
    }
    if h[0..8] != magic {
        return Err(format!("the magic is {:?}, expected {:?}", &h[0..8], magic));
    }
    let crc = read_u32(h, 24);
    if crc != crc32c::crc32c(&h[0..24]) {
        return Err("the header checksum does not match".to_string());
    }
    let version = read_u32(h, 8);
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version} is not supported (expected {FORMAT_VERSION})"
        ));
    }
    Ok(read_i64(h, 16))
}

/// Appends one encoded record to `out`.
pub fn encode_record(out: &mut Vec<u8>, zxid: i64, payload: &[u8], batch_start: bool) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_BYTES);
    let size = (payload.len() + 8) as u32;
    let size_flags = if batch_start {
        size | BATCH_START_BIT
    } else {
        size
    };
    let sf = size_flags.to_le_bytes();
    let z = zxid.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&sf), &z), payload);
    out.extend_from_slice(&sf);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&z);
    out.extend_from_slice(payload);
}

/// The fixed part of a record, decoded but not yet checked against its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Raw `size_flags` word (kept for the checksum).
    pub size_flags: u32,
    /// Stored checksum.
    pub crc: u32,
    /// Stored zxid.
    pub zxid: i64,
}

impl RecordHeader {
    /// Decodes the 16-byte fixed part of a record.
    pub fn decode(b: &[u8; RECORD_HEADER_LEN]) -> Self {
        RecordHeader {
            size_flags: read_u32(b, 0),
            crc: read_u32(b, 4),
            zxid: read_i64(b, 8),
        }
    }

    /// True for the end-of-data marker (a zero `size_flags`).
    pub fn is_end(&self) -> bool {
        self.size_flags == 0
    }

    /// True if this record starts an appended batch.
    pub fn batch_start(&self) -> bool {
        self.size_flags & BATCH_START_BIT != 0
    }

    /// Payload length, or why the stored size is impossible.
    pub fn payload_len(&self) -> Result<usize, String> {
        let size = (self.size_flags & SIZE_MASK) as usize;
        if size < 8 {
            return Err(format!(
                "the record size {size} is smaller than the 8-byte zxid"
            ));
        }
        if size - 8 > MAX_PAYLOAD_BYTES {
            return Err(format!(
                "the record size {size} exceeds the {MAX_PAYLOAD_BYTES}-byte payload limit"
            ));
        }
        Ok(size - 8)
    }

    /// True if `payload` matches the stored checksum.
    pub fn check(&self, payload: &[u8]) -> bool {
        let crc = crc32c::crc32c_append(
            crc32c::crc32c_append(
                crc32c::crc32c(&self.size_flags.to_le_bytes()),
                &self.zxid.to_le_bytes(),
            ),
            payload,
        );
        crc == self.crc
    }
}

/// Tries to decode one complete, checksum-valid record at the start of `b`.
/// Returns the header and the total encoded length.
pub fn decode_record_at(b: &[u8]) -> Option<(RecordHeader, usize)> {
    let fixed: &[u8; RECORD_HEADER_LEN] = b.get(..RECORD_HEADER_LEN)?.try_into().ok()?;
    let h = RecordHeader::decode(fixed);
    let len = h.payload_len().ok()?;
    let payload = b.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len)?;
    h.check(payload).then_some((h, RECORD_HEADER_LEN + len))
}

/// Searches `b` (bytes after a damaged record or an end marker) for a valid
/// record that starts a batch and has a zxid above `after_zxid`. Returns its
/// offset within `b`. Such a record means a later, committed batch follows
/// the damage. Zero runs are skipped cheaply.
pub fn find_later_batch(b: &[u8], after_zxid: i64) -> Option<(usize, i64)> {
    let mut p = 0;
    while p + RECORD_HEADER_LEN <= b.len() {
        if b[p + 3] & 0x80 == 0 {
            // Bit 31 of a little-endian u32 lives in its 4th byte.
            p += 1;
            continue;
        }
        if let Some((h, _)) = decode_record_at(&b[p..]) {
            if h.batch_start() && h.zxid > after_zxid {
                return Some((p, h.zxid));
            }
        }
        p += 1;
    }
    None
}

/// Encodes the snapshot trailer for a body of `body_len` bytes with CRC `body_crc`.
pub fn encode_trailer(body_len: u64, body_crc: u32) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[0..8].copy_from_slice(&TRAILER_MAGIC);
    t[8..16].copy_from_slice(&body_len.to_le_bytes());
    t[16..20].copy_from_slice(&body_crc.to_le_bytes());
    let crc = crc32c::crc32c(&t[0..20]);
    t[20..24].copy_from_slice(&crc.to_le_bytes());
    t
}

/// Decodes a snapshot trailer into `(body_len, body_crc)`.
pub fn decode_trailer(t: &[u8]) -> Result<(u64, u32), String> {
    if t.len() != TRAILER_LEN || t[0..8] != TRAILER_MAGIC {
        return Err(
            "the trailer is missing (the file is truncated or was not finished)".to_string(),
        );
    }
    if read_u32(t, 20) != crc32c::crc32c(&t[0..20]) {
        return Err("the trailer checksum does not match".to_string());
    }
    Ok((read_u64(t, 8), read_u32(t, 16)))
}

/// Name of the segment whose first record has `zxid`.
pub fn segment_name(zxid: i64) -> String {
    format!("{SEGMENT_PREFIX}{zxid:016x}")
}

/// Name of the snapshot covering up to `zxid`.
pub fn snapshot_name(zxid: i64) -> String {
    format!("{SNAPSHOT_PREFIX}{zxid:016x}")
}

/// Parses a segment file name into its first zxid.
pub fn parse_segment_name(name: &str) -> Option<i64> {
    parse_hex_suffix(name, SEGMENT_PREFIX)
}

/// Parses a snapshot file name into its zxid.
pub fn parse_snapshot_name(name: &str) -> Option<i64> {
    parse_hex_suffix(name, SNAPSHOT_PREFIX)
}

fn parse_hex_suffix(name: &str, prefix: &str) -> Option<i64> {
    let hex = name.strip_prefix(prefix)?;
    if hex.len() != 16 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(hex, 16).ok().filter(|z| *z >= 0)
}

/// The epoch part (high 32 bits) of a zxid.
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// True if `next` may directly follow `prev` in the log: the next counter in
/// the same epoch, or the first txn (counter 0 or 1) of a later epoch.
pub fn follows(prev: i64, next: i64) -> bool {
    next == prev + 1 || (epoch_of(next) > epoch_of(prev) && (next & 0xffff_ffff) <= 1)
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn read_i64(b: &[u8], at: usize) -> i64 {
    read_u64(b, at) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trip_and_rejections() {
        let h = encode_header(SEGMENT_MAGIC, 0x1_0000_0001);
        assert_eq!(decode_header(SEGMENT_MAGIC, &h), Ok(0x1_0000_0001));
        assert!(decode_header(SNAPSHOT_MAGIC, &h)
            .unwrap_err()
            .contains("magic"));
        assert!(decode_header(SEGMENT_MAGIC, &h[..20])
            .unwrap_err()
            .contains("shorter"));
        let mut bad = h;
        bad[17] ^= 1;
        assert!(decode_header(SEGMENT_MAGIC, &bad)
            .unwrap_err()
            .contains("checksum"));
    }

    #[test]
    fn zero_size_is_end_marker() {
        let h = RecordHeader::decode(&[0u8; RECORD_HEADER_LEN]);
        assert!(h.is_end());
        assert!(decode_record_at(&[0u8; 64]).is_none());
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(0x1f), "log.000000000000001f");
        assert_eq!(parse_segment_name("log.000000000000001f"), Some(0x1f));
        assert_eq!(parse_snapshot_name(&snapshot_name(42)), Some(42));
        assert_eq!(parse_segment_name("log.1f"), None);
        assert_eq!(parse_snapshot_name("snapshot.000000000000002a.tmp"), None);
    }

    #[test]
    fn follows_rule() {
        assert!(follows(0, 1));
        assert!(follows(0x1_0000_0005, 0x1_0000_0006));
        assert!(follows(0x1_0000_0005, 0x2_0000_0001));
        assert!(!follows(0x1_0000_0005, 0x1_0000_0007));
        assert!(!follows(0x1_0000_0005, 0x2_0000_0002));
    }

    #[test]
    fn finds_later_batch_only() {
        let mut b = vec![0u8; 7];
        encode_record(&mut b, 5, b"inside torn batch", false);
        assert_eq!(find_later_batch(&b, 4), None);
        let at = b.len();
        encode_record(&mut b, 6, b"later batch", true);
        assert_eq!(find_later_batch(&b, 4), Some((at, 6)));
        assert_eq!(find_later_batch(&b, 6), None);
    }

    proptest! {
        #[test]
        fn record_round_trip(zxid in 0i64.., payload in proptest::collection::vec(any::<u8>(), 0..300), start: bool) {
            let mut b = Vec::new();
            encode_record(&mut b, zxid, &payload, start);
            let (h, len) = decode_record_at(&b).expect("valid record");
            prop_assert_eq!(len, b.len());
            prop_assert_eq!(h.zxid, zxid);
            prop_assert_eq!(h.batch_start(), start);
            prop_assert_eq!(&b[RECORD_HEADER_LEN..], &payload[..]);
        }

        #[test]
        fn any_flipped_bit_is_detected(payload in proptest::collection::vec(any::<u8>(), 1..64), bit in 0usize..(80 * 8)) {
            let mut b = Vec::new();
            encode_record(&mut b, 77, &payload, true);
            let bit = bit % (b.len() * 8);
            b[bit / 8] ^= 1 << (bit % 8);
            b.extend_from_slice(&[0u8; 128]);
            prop_assert!(decode_record_at(&b).is_none());
        }

        #[test]
        fn trailer_round_trip(len: u64, crc: u32) {
            prop_assert_eq!(decode_trailer(&encode_trailer(len, crc)), Ok((len, crc)));
        }
    }
}
