//! Reading an Apache ZooKeeper transaction log (`version-2/log.<hex zxid>`),
//! as written by `FileTxnLog` in 3.4 to 3.9:
//!
//! ```text
//! FileHeader   magic "ZKLG", version 2, dbid
//! records      repeated: checksum long (Adler-32 of txn),
//!                        txn buffer (TxnHeader, then the txn record;
//!                          3.6+ may append a TxnDigest, ignored),
//!                        end-of-record byte 'B'
//! padding      zeros (files are preallocated)
//! ```
//!
//! As ZooKeeper's `FileTxnIterator`: a zero length (the padding), the end of
//! the file, or a missing `'B'` ends the file (a torn tail: the write was
//! never acknowledged); a checksum mismatch on a complete record, or a txn
//! that does not decode, is corruption.

use std::path::Path;

use proto::txn::{SetDataTxn, Txn, TxnEntry, TxnHeader};
use proto::{Jute, OpCode, Reader};

use super::zkfile::{Adler32, JuteFile, ZkError, LOG_MAGIC};

/// The end-of-record marker.
const END_OF_RECORD: u8 = b'B';

/// One logged txn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkTxn {
    /// Offset of the record in the file.
    pub offset: u64,
    /// The txn.
    pub entry: TxnEntry,
}

/// How a log file's records ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// At zero padding or exactly at the end of the file.
    Clean,
    /// Inside a record that was never completely written.
    Torn {
        /// Where that record starts.
        offset: u64,
        /// What is missing.
        reason: String,
    },
}

/// Reads the records of one ZooKeeper log file.
pub struct ZkLogReader {
    f: JuteFile,
    end: Option<LogEnd>,
    /// The database id from the header.
    pub dbid: i64,
}

impl ZkLogReader {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<ZkLogReader, ZkError> {
        let (f, header) = JuteFile::open(path, LOG_MAGIC)?;
        Ok(ZkLogReader {
            f,
            end: None,
            dbid: header.dbid,
        })
    }

    /// How the records ended (once [`Self::next_txn`] returned `None`).
    pub fn end(&self) -> Option<&LogEnd> {
        self.end.as_ref()
    }

    /// Offset reached so far.
    pub fn offset(&self) -> u64 {
        self.f.offset()
    }

    /// The next txn, `None` at the end of the records.
    pub fn next_txn(&mut self) -> Result<Option<ZkTxn>, ZkError> {
        if self.end.is_some() {
            return Ok(None);
        }
        let offset = self.f.offset();
        match self.read_record(offset) {
            Ok(Step::Txn(txn)) => Ok(Some(txn)),
            Ok(Step::End) => {
                self.end = Some(LogEnd::Clean);
                Ok(None)
            }
            Ok(Step::Torn(reason)) => {
                self.end = Some(LogEnd::Torn { offset, reason });
                Ok(None)
            }
            Err(ZkError::Truncated { what, .. }) => {
                self.end = Some(LogEnd::Torn {
                    offset,
                    reason: format!("the file ends inside the record's {what}"),
                });
                Ok(None)
            }
            Err(e) => {
                self.end = Some(LogEnd::Clean);
                Err(e)
            }
        }
    }

    fn read_record(&mut self, offset: u64) -> Result<Step, ZkError> {
        if self.f.remaining() == 0 {
            return Ok(Step::End);
        }
        let stored = self.f.i64("checksum")?;
        let bytes = self.f.buffer("txn")?;
        if bytes.is_empty() {
            return Ok(Step::End);
        }
        let eor = self.f.u8("end-of-record marker")?;
        if eor != END_OF_RECORD {
            // ZooKeeper: "Last transaction was partial."
            return Ok(Step::Torn(format!(
                "the record ends with byte {eor:#04x}, not the end-of-record marker 'B'"
            )));
        }
        let sum = Adler32::of(&bytes);
        if stored != i64::from(sum) {
            return Err(self.f.corrupt_at(
                offset,
                format!("the record's Adler-32 checksum is {sum:#010x} but {stored:#x} is stored"),
            ));
        }
        let entry = decode(&bytes).map_err(|reason| self.f.corrupt_at(offset, reason))?;
        Ok(Step::Txn(ZkTxn { offset, entry }))
    }
}

/// What one record read found.
enum Step {
    Txn(ZkTxn),
    End,
    Torn(String),
}

/// Decodes a logged txn: header, then the record for its type. Bytes after
/// the record (3.6+'s TxnDigest) are ignored. `reconfig` carries a
/// setData of `/zookeeper/config` and is read as one.
pub fn decode(bytes: &[u8]) -> Result<TxnEntry, String> {
    let mut r = Reader::new(bytes);
    let header = TxnHeader::read(&mut r).map_err(|e| format!("the txn header: {e}"))?;
    let txn = if header.op == OpCode::Reconfig as i32 {
        Txn::SetData(SetDataTxn::read(&mut r).map_err(|e| format!("the reconfig txn: {e}"))?)
    } else {
        Txn::read(header.op, &mut r).map_err(|e| {
            format!(
                "the {} txn with zxid {:#x} does not decode: {e}",
                crate::data::fmt::op_name(header.op),
                header.zxid
            )
        })?
    };
    Ok(TxnEntry { header, txn })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proto::txn::CreateTxn;
    use proto::Acl;

    pub fn create(zxid: i64, path: &str) -> TxnEntry {
        TxnEntry {
            header: TxnHeader {
                client_id: 0x77,
                cxid: 1,
                zxid,
                time: 1_700_000_000_000,
                op: OpCode::Create as i32,
            },
            txn: Txn::Create(CreateTxn {
                path: path.into(),
                data: Some(b"d".to_vec()),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
        }
    }

    /// Log bytes: header then one record per entry (with a fake 3.6+
    /// TxnDigest appended), then `padding` zero bytes.
    pub fn log_bytes(entries: &[TxnEntry], padding: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&LOG_MAGIC.to_be_bytes());
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&0i64.to_be_bytes());
        for e in entries {
            let mut txn = e.encode();
            txn.extend_from_slice(&2i32.to_be_bytes());
            txn.extend_from_slice(&99i64.to_be_bytes());
            b.extend_from_slice(&i64::from(Adler32::of(&txn)).to_be_bytes());
            b.extend_from_slice(&(txn.len() as i32).to_be_bytes());
            b.extend_from_slice(&txn);
            b.push(b'B');
        }
        b.resize(b.len() + padding, 0);
        b
    }

    fn read_all(bytes: &[u8]) -> (Vec<i64>, Result<Option<LogEnd>, String>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.1");
        std::fs::write(&p, bytes).unwrap();
        let mut r = ZkLogReader::open(&p).unwrap();
        let mut zxids = Vec::new();
        loop {
            match r.next_txn() {
                Ok(Some(t)) => zxids.push(t.entry.header.zxid),
                Ok(None) => return (zxids, Ok(r.end().cloned())),
                Err(e) => return (zxids, Err(e.to_string())),
            }
        }
    }

    #[test]
    fn reads_records_until_padding() {
        let entries = [create(1, "/a"), create(2, "/b")];
        let (zxids, end) = read_all(&log_bytes(&entries, 4096));
        assert_eq!(zxids, vec![1, 2]);
        assert_eq!(end, Ok(Some(LogEnd::Clean)));
        let (zxids, end) = read_all(&log_bytes(&entries, 0));
        assert_eq!((zxids, end), (vec![1, 2], Ok(Some(LogEnd::Clean))));
    }

    #[test]
    fn torn_tail_stops_cleanly() {
        let entries = [create(1, "/a"), create(2, "/b")];
        let full = log_bytes(&entries, 0);
        let second = log_bytes(&entries[..1], 0).len() as u64;
        for cut in [full.len() - 1, full.len() - 5, second as usize + 3] {
            let (zxids, end) = read_all(&full[..cut]);
            assert_eq!(zxids, vec![1], "cut at {cut}");
            assert!(
                matches!(end, Ok(Some(LogEnd::Torn { offset, .. })) if offset == second),
                "cut at {cut}: {end:?}"
            );
        }
        // A record whose end marker was never written (zeros follow).
        let mut zeroed = full.clone();
        let last = zeroed.len() - 1;
        zeroed[last] = 0;
        zeroed.resize(zeroed.len() + 64, 0);
        let (zxids, end) = read_all(&zeroed);
        assert_eq!(zxids, vec![1]);
        assert!(matches!(end, Ok(Some(LogEnd::Torn { .. }))));
    }

    #[test]
    fn checksum_mismatch_names_file_and_offset() {
        let entries = [create(1, "/a"), create(2, "/b")];
        let mut b = log_bytes(&entries, 128);
        let second = log_bytes(&entries[..1], 0).len();
        let at = b.windows(2).rposition(|w| w == b"/b").unwrap();
        b[at + 1] = b'c';
        let (zxids, end) = read_all(&b);
        assert_eq!(zxids, vec![1]);
        let err = end.unwrap_err();
        assert!(err.contains("log.1"), "{err}");
        assert!(err.contains(&format!("byte offset {second}")), "{err}");
        assert!(err.contains("Adler-32"), "{err}");
    }

    #[test]
    fn bad_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.1");
        std::fs::write(&p, b"ZKSN\0\0\0\x02\0\0\0\0\0\0\0\0").unwrap();
        let err = ZkLogReader::open(&p).err().unwrap().to_string();
        assert!(err.contains("magic"), "{err}");
    }
}
