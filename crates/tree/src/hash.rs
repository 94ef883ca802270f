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
        h = (h ^ tail_word(rest)).wrapping_mul(K).rotate_left(29);
    }
    fmix64(h)
}

/// The little-endian word of `b` (shorter than 8 bytes) padded with zero
/// bytes, read with at most three loads. Copying the bytes into a zeroed
/// buffer and loading that instead cost a `memcpy` call and a stalled load
/// per hash: a fifth of the time to load a million-node snapshot.
#[inline(always)]
fn tail_word(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!(n < 8);
    let u32_at = |i: usize| u64::from(u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes")));
    if n >= 4 {
        // Two overlapping 4-byte loads; the shared bytes agree.
        u32_at(0) | (u32_at(n - 4) << (8 * (n - 4)))
    } else if n > 0 {
        let byte = |i: usize| u64::from(b[i]) << (8 * i);
        byte(0) | byte(n / 2) | byte(n - 1)
    } else {
        0
    }
}

/// One multiply-rotate step of every hash here.
#[inline(always)]
fn step(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(K).rotate_left(29)
}

/// Seeds of the four lanes of [`hash_bytes_wide`] and [`hash_words_wide`].
const LANES: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Folds four lanes and the input's length into one hash.
#[inline(always)]
fn fold_lanes(l: [u64; 4], len: u64) -> u64 {
    let h = step(
        step(step(step(len.wrapping_mul(K), l[0]), l[1]), l[2]),
        l[3],
    );
    fmix64(h)
}

/// Hashes `bytes` with `seed` in four independent lanes of 8-byte words
/// (word `k` goes to lane `k % 4`), so the lanes' multiplies overlap:
/// ~3x [`hash_bytes`]' speed on a 100-byte value. The digest's (snapshot
/// format 2) hash of node data.
pub(crate) fn hash_bytes_wide(bytes: &[u8], seed: u64) -> u64 {
    let mut l = LANES.map(|c| c ^ seed);
    let mut blocks = bytes.chunks_exact(32);
    for b in &mut blocks {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        l = [
            step(l[0], w(0)),
            step(l[1], w(1)),
            step(l[2], w(2)),
            step(l[3], w(3)),
        ];
    }
    let rest = blocks.remainder();
    let mut words = rest.chunks_exact(8);
    let mut k = 0;
    for w in &mut words {
        l[k] = step(l[k], u64::from_le_bytes(w.try_into().expect("8 bytes")));
        k += 1;
    }
    if !words.remainder().is_empty() {
        l[k] = step(l[k], tail_word(words.remainder()));
    }
    fold_lanes(l, bytes.len() as u64)
}

/// [`hash_words`] in four lanes (word `k` to lane `k % 4`), as
/// [`hash_bytes_wide`].
pub(crate) fn hash_words_wide(words: &[u64], seed: u64) -> u64 {
    let mut l = LANES.map(|c| c ^ seed);
    for (k, &w) in words.iter().enumerate() {
        l[k % 4] = step(l[k % 4], w);
    }
    fold_lanes(l, words.len() as u64)
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

    /// The words as the hashes define them: zero-padded at the end.
    fn padded_words(bytes: &[u8]) -> Vec<u64> {
        bytes
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect()
    }

    #[test]
    fn loads_match_the_padded_definition() {
        let bytes: Vec<u8> = (1..=70u8).map(|b| b.wrapping_mul(37)).collect();
        for n in 0..8 {
            let want = padded_words(&bytes[..n]).first().copied().unwrap_or(0);
            assert_eq!(tail_word(&bytes[..n]), want, "{n} bytes");
        }
        for n in 0..=bytes.len() {
            let b = &bytes[..n];
            let mut h = 5 ^ (n as u64).wrapping_mul(K);
            let mut l = LANES.map(|c| c ^ 5);
            for (k, &w) in padded_words(b).iter().enumerate() {
                h = step(h, w);
                l[k % 4] = step(l[k % 4], w);
            }
            assert_eq!(hash_bytes(b, 5), fmix64(h), "{n} bytes");
            assert_eq!(hash_bytes_wide(b, 5), fold_lanes(l, n as u64), "{n} bytes");
        }
    }

    #[test]
    fn wide_hashes_see_every_byte_and_the_length() {
        let base: Vec<u8> = (0..100u8).collect();
        let h = hash_bytes_wide(&base, 1);
        for i in 0..base.len() {
            let mut b = base.clone();
            b[i] ^= 1;
            assert_ne!(hash_bytes_wide(&b, 1), h, "byte {i}");
        }
        assert_ne!(hash_bytes_wide(&base, 2), h);
        assert_ne!(hash_bytes_wide(&base[..99], 1), h);
        assert_ne!(hash_bytes_wide(b"a\0", 1), hash_bytes_wide(b"a", 1));
        assert_ne!(hash_bytes_wide(&[0; 32], 1), hash_bytes_wide(&[0; 40], 1));
        let words: Vec<u64> = (0..11).collect();
        let h = hash_words_wide(&words, 3);
        for i in 0..words.len() {
            let mut w = words.clone();
            w[i] ^= 1 << 40;
            assert_ne!(hash_words_wide(&w, 3), h, "word {i}");
        }
        // Swapping two words of one lane, or of two lanes, changes it.
        let mut w = words.clone();
        w.swap(0, 4);
        assert_ne!(hash_words_wide(&w, 3), h);
        let mut w = words.clone();
        w.swap(0, 1);
        assert_ne!(hash_words_wide(&w, 3), h);
    }

    #[test]
    fn stable_values() {
        // Pinned: changing the hash invalidates every stored snapshot digest.
        assert_eq!(hash_bytes(b"", 0), fmix64(0));
        assert_ne!(hash_bytes(b"a", 0), hash_bytes(b"b", 0));
        assert_ne!(hash_bytes(b"a\0", 0), hash_bytes(b"a", 0));
        // Pinned values: snapshots store digests made of these.
        assert_eq!(hash_bytes(b"/zookeeper", 11), 5471595520128352152);
        assert_eq!(
            hash_bytes_wide(b"0123456789abcdef0123456789abcdef!", 12),
            5761740394389924738
        );
        assert_eq!(hash_words_wide(&[1, 2, 3, 4, 5], 22), 12804410192959255752);
    }
}
