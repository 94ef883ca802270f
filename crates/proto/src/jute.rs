//! Jute, ZooKeeper's serialization: big-endian integers, length-prefixed
//! buffers, strings and vectors (length -1 means null, read as empty).

use thiserror::Error;

/// A record could not be decoded from the bytes a peer sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The bytes ended before the record did.
    #[error("record truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Offset at which the read started.
        offset: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// A length prefix was negative (other than -1) or larger than the limit.
    #[error("bad length {len} at offset {offset}")]
    BadLength {
        /// Offset of the length prefix.
        offset: usize,
        /// The length read.
        len: i32,
    },
    /// A string was not valid UTF-8.
    #[error("string at offset {offset} is not UTF-8")]
    BadUtf8 {
        /// Offset of the string's bytes.
        offset: usize,
    },
    /// An enumerated value had no meaning.
    #[error("unknown {what} value {value}")]
    BadValue {
        /// What was being decoded.
        what: &'static str,
        /// The value found.
        value: i32,
    },
}

/// A cursor over bytes being decoded.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread bytes, consuming them.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Reads a jute `int`.
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a jute `long`.
    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// Reads a jute `boolean` (one byte, non-zero is true).
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// Reads a length prefix; -1 (null) reads as 0.
    fn read_len(&mut self) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(0);
        }
        if len < 0 || len as usize > self.remaining() {
            return Err(DecodeError::BadLength { offset, len });
        }
        Ok(len as usize)
    }

    /// Reads a jute `buffer` (null reads as empty).
    pub fn read_buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.read_len()?;
        Ok(self.take(n)?.to_vec())
    }

    /// Reads a jute `buffer` keeping null apart from empty (znode data:
    /// ZooKeeper gives back the null it was given).
    pub fn read_opt_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > self.remaining() {
            return Err(DecodeError::BadLength { offset, len });
        }
        Ok(Some(self.take(len as usize)?.to_vec()))
    }

    /// Reads a jute `ustring` (null reads as empty).
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        let n = self.read_len()?;
        let offset = self.pos;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::BadUtf8 { offset })
    }

    /// Reads a jute `vector` of records (null reads as empty). Every element
    /// takes at least one byte, so the count is bounded by the bytes left.
    pub fn read_vec<T: Jute>(&mut self) -> Result<Vec<T>, DecodeError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(Vec::new());
        }
        if len < 0 || len as usize > self.remaining() {
            return Err(DecodeError::BadLength { offset, len });
        }
        // Reserve for what the bytes left can hold if every element takes
        // the 4 bytes of the smallest field that vectors carry, so a large
        // count of wide records does not reserve far more than the input.
        let mut v = Vec::with_capacity((len as usize).min(self.remaining() / 4));
        for _ in 0..len {
            v.push(T::read(self)?);
        }
        Ok(v)
    }
}

/// Appends jute encodings to a byte vector.
pub trait Writer {
    /// Writes a jute `int`.
    fn write_i32(&mut self, v: i32);
    /// Writes a jute `long`.
    fn write_i64(&mut self, v: i64);
    /// Writes a jute `boolean`.
    fn write_bool(&mut self, v: bool);
    /// Writes a jute `buffer`.
    fn write_buffer(&mut self, v: &[u8]);
    /// Writes a jute `ustring`.
    fn write_string(&mut self, v: &str);
    /// Writes a jute `vector`.
    fn write_vec<T: Jute>(&mut self, v: &[T]);
}

impl Writer for Vec<u8> {
    fn write_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn write_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn write_bool(&mut self, v: bool) {
        self.push(v as u8);
    }
    fn write_buffer(&mut self, v: &[u8]) {
        self.write_i32(v.len() as i32);
        self.extend_from_slice(v);
    }
    fn write_string(&mut self, v: &str) {
        self.write_buffer(v.as_bytes());
    }
    fn write_vec<T: Jute>(&mut self, v: &[T]) {
        self.write_i32(v.len() as i32);
        for item in v {
            item.write(self);
        }
    }
}

/// A value with a jute encoding.
pub trait Jute: Sized {
    /// Appends the encoding of `self`.
    fn write(&self, w: &mut Vec<u8>);
    /// Decodes one value.
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Encodes into a fresh vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    /// Decodes from `buf`, ignoring trailing bytes.
    fn from_bytes(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(buf))
    }
}

impl Jute for String {
    fn write(&self, w: &mut Vec<u8>) {
        w.write_string(self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_string()
    }
}

/// Field types a [`jute_record!`] may hold.
#[doc(hidden)]
pub trait Field: Sized {
    fn put(&self, w: &mut Vec<u8>);
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

impl Field for i32 {
    fn put(&self, w: &mut Vec<u8>) {
        w.write_i32(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i32()
    }
}
impl Field for i64 {
    fn put(&self, w: &mut Vec<u8>) {
        w.write_i64(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i64()
    }
}
impl Field for bool {
    fn put(&self, w: &mut Vec<u8>) {
        w.write_bool(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_bool()
    }
}
impl Field for String {
    fn put(&self, w: &mut Vec<u8>) {
        w.write_string(self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_string()
    }
}
impl Field for Vec<u8> {
    fn put(&self, w: &mut Vec<u8>) {
        w.write_buffer(self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_buffer()
    }
}

/// Znode data: a buffer where null (length -1) and empty differ.
impl Field for Option<Vec<u8>> {
    fn put(&self, w: &mut Vec<u8>) {
        match self {
            Some(v) => w.write_buffer(v),
            None => w.write_i32(-1),
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_opt_buffer()
    }
}

/// Defines a jute record: a struct with public fields encoded in order.
#[macro_export]
macro_rules! jute_record {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fm])* #[doc = concat!("Field `", stringify!($field), "`, in wire order.")] pub $field: $ty,)*
        }
        impl $crate::jute::Jute for $name {
            #[allow(unused_variables)]
            fn write(&self, w: &mut Vec<u8>) {
                $($crate::jute::Field::put(&self.$field, w);)*
            }
            #[allow(unused_variables)]
            fn read(r: &mut $crate::jute::Reader<'_>) -> Result<Self, $crate::jute::DecodeError> {
                Ok($name { $($field: $crate::jute::Field::get(r)?,)* })
            }
        }
        impl $crate::jute::Field for $name {
            fn put(&self, w: &mut Vec<u8>) {
                $crate::jute::Jute::write(self, w)
            }
            fn get(r: &mut $crate::jute::Reader<'_>) -> Result<Self, $crate::jute::DecodeError> {
                <$name as $crate::jute::Jute>::read(r)
            }
        }
    };
}

/// Lets `Vec<T>` of a record or of strings be a field (a jute vector).
macro_rules! vec_field {
    ($($t:ty),*) => {$(
        impl Field for Vec<$t> {
            fn put(&self, w: &mut Vec<u8>) {
                w.write_vec(self)
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.read_vec()
            }
        }
    )*};
}
vec_field!(
    String,
    crate::records::Acl,
    crate::records::Id,
    crate::txn::TxnPart
);
