//! A fixed, platform-independent 64-bit hash: the digest and the hash
//! tables use it, so it must never change between builds (a snapshot's
//! stored digest is checked against it).

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hashes `bytes` with `seed`: 8-byte words folded by multiply-rotate,
/// finished with MurmurHash3's `fmix64`.
pub(crate) fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    fmix64(h)
}

/// MurmurHash3's 64-bit finaliser.
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// Mixes a sequence of words into one hash.
pub(crate) fn hash_words(words: &[u64], seed: u64) -> u64 {
    let mut h = seed;
    for w in words {
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    fmix64(h)
}

/// The hash tables' hash of a path.
pub(crate) fn path_hash(path: &[u8]) -> u64 {
    hash_bytes(path, 0x7061_7468)
}

/// The hasher of the in-memory maps (pending changes, watches, the
/// server's session and connection tables):
/// fixed and fast, where std's default (SipHash, keyed per process) cost
/// several lookups' worth of time on every write. Like the path index,
/// it is not keyed: paths come from clients, but a collision only makes
/// one table slower, never wrong.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastState;

impl std::hash::BuildHasher for FastState {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

/// See [`FastState`].
#[derive(Debug)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(bytes, self.0);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(23) ^ i).wrapping_mul(K);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

/// A `HashMap` with [`FastState`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastState>;
/// A `HashSet` with [`FastState`].
pub type FastSet<T> = std::collections::HashSet<T, FastState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values() {
        // Pinned: changing the hash invalidates every stored snapshot digest.
        assert_eq!(hash_bytes(b"", 0), fmix64(0));
        assert_ne!(hash_bytes(b"a", 0), hash_bytes(b"b", 0));
        assert_ne!(hash_bytes(b"a\0", 0), hash_bytes(b"a", 0));
    }
}
