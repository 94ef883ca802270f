//! ACLs as ZooKeeper 3.8 checks them (`ZooKeeperServer.checkACL`,
//! `PrepRequestProcessor.fixupACL`, the `ip` and `digest` providers), and
//! the reference-counted cache that interns each distinct ACL list once.

use std::sync::Arc;

use base64::Engine;
use proto::records::perms;
use proto::{Acl, ErrorCode, Id};
use sha1::{Digest, Sha1};

use crate::hash;
use crate::AuthContext;

/// The `digest` scheme's id for `"user:password"`:
/// `"user:" + base64(sha1("user:password"))` (standard alphabet, padded).
/// Input without a `:` hashes as a whole, as ZooKeeper does.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let sha = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(sha)
    )
}

/// Whether `auth` holds `perm` on a node with `acl` (ZooKeeper's
/// `checkACL`): an empty ACL and the super user allow everything; an entry
/// grants when it has any bit of `perm` and its id matches.
pub fn check(acl: &[Acl], perm: i32, auth: &AuthContext) -> bool {
    if auth.is_super || acl.is_empty() || auth.ids.iter().any(|id| id.scheme == "super") {
        return true;
    }
    acl.iter()
        .any(|a| a.perms & perm != 0 && entry_matches(&a.id, auth.ids))
}

/// Whether an ACL entry's id matches one of the session's identities.
fn entry_matches(entry: &Id, ids: &[Id]) -> bool {
    match entry.scheme.as_str() {
        "world" => entry.id == "anyone",
        "ip" => ids
            .iter()
            .any(|id| id.scheme == "ip" && ip_matches(&id.id, &entry.id)),
        "digest" => ids
            .iter()
            .any(|id| id.scheme == "digest" && id.id == entry.id),
        _ => false,
    }
}

/// `checkACL` as a typed result.
pub(crate) fn require(acl: &[Acl], perm: i32, auth: &AuthContext) -> Result<(), ErrorCode> {
    if check(acl, perm, auth) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// Validates a client's ACL and expands `auth` entries to the session's
/// authenticated (digest) identities, as `fixupACL` does. Duplicates are
/// dropped first; an empty result or an invalid entry is `InvalidAcl`.
pub fn fixup(acl: &[Acl], auth: &AuthContext) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        fixup_entry(a, auth, &mut out)?;
    }
    Ok(out)
}

fn fixup_entry(a: &Acl, auth: &AuthContext, out: &mut Vec<Acl>) -> Result<(), ErrorCode> {
    let id = &a.id;
    if id.scheme == "world" && id.id == "anyone" {
        out.push(a.clone());
    } else if id.scheme == "auth" {
        let before = out.len();
        for cid in auth.ids.iter().filter(|cid| cid.scheme == "digest") {
            out.push(Acl {
                perms: a.perms,
                id: cid.clone(),
            });
        }
        if out.len() == before {
            return Err(ErrorCode::InvalidAcl);
        }
    } else if id_valid(id) {
        out.push(a.clone());
    } else {
        return Err(ErrorCode::InvalidAcl);
    }
    Ok(())
}

/// Whether an id is valid for its scheme's provider (only `ip` and
/// `digest` have providers in a default ZooKeeper).
fn id_valid(id: &Id) -> bool {
    match id.scheme.as_str() {
        "digest" => java_split_count(&id.id, ':') == 2,
        "ip" => ip_valid(&id.id),
        _ => false,
    }
}

/// The length of Java's `s.split(sep)`: trailing empty strings dropped.
fn java_split_count(s: &str, sep: char) -> usize {
    let parts: Vec<&str> = s.split(sep).collect();
    let mut n = parts.len();
    while n > 0 && parts[n - 1].is_empty() {
        n -= 1;
    }
    // Java returns [""] for an empty input (no separator found).
    if s.is_empty() {
        1
    } else {
        n
    }
}

/// Parses a dotted IPv4 address as `IPAuthenticationProvider` does.
fn ipv4(addr: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        let v: i32 = p.parse().ok()?;
        b[i] = u8::try_from(v).ok()?;
    }
    Some(b)
}

/// Splits `"addr/bits"`, checking `bits` (absent means all 32).
fn ip_expr(expr: &str) -> Option<([u8; 4], u32)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let addr = ipv4(addr)?;
    let bits = match bits {
        Some(b) => u32::try_from(b.parse::<i32>().ok()?).ok()?,
        None => 32,
    };
    (bits <= 32).then_some((addr, bits))
}

fn ip_valid(expr: &str) -> bool {
    ip_expr(expr).is_some()
}

/// Whether client address `addr` falls in `expr` (`a.b.c.d` or CIDR).
pub fn ip_matches(addr: &str, expr: &str) -> bool {
    let (Some((net, bits)), Some(client)) = (ip_expr(expr), ipv4(addr)) else {
        return false;
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from_be_bytes(net) & mask == u32::from_be_bytes(client) & mask
}

/// getACL's answer to a reader without ADMIN: digest ids shown as
/// `user:x` (ZooKeeper replaces `:.*` with `:x`).
pub(crate) fn redact(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme != "digest" {
                return a.clone();
            }
            let id = match a.id.id.find(':') {
                Some(i) => format!("{}:x", &a.id.id[..i]),
                None => a.id.id.clone(),
            };
            Acl {
                perms: a.perms,
                id: Id {
                    scheme: a.id.scheme.clone(),
                    id,
                },
            }
        })
        .collect()
}

/// The content hash of an ACL list (order matters, as in ZooKeeper).
pub(crate) fn acl_hash(acl: &[Acl]) -> u64 {
    // Every create interns its ACL: lists of up to five entries (nearly
    // all) hash from the stack.
    let mut small = [0u64; 16];
    let mut big = Vec::new();
    let n = acl.len() * 3 + 1;
    let words: &mut [u64] = if n <= small.len() {
        &mut small[..n]
    } else {
        big.resize(n, 0);
        &mut big
    };
    words[0] = acl.len() as u64;
    for (a, w) in acl.iter().zip(words[1..].chunks_exact_mut(3)) {
        w[0] = a.perms as u32 as u64;
        w[1] = hash::hash_bytes(a.id.scheme.as_bytes(), 1);
        w[2] = hash::hash_bytes(a.id.id.as_bytes(), 2);
    }
    hash::hash_words(words, 0x61636c)
}

/// Every permission bit (for callers building ACLs).
pub const ALL: i32 = perms::ALL;

/// One interned ACL list.
#[derive(Debug, Clone)]
struct Entry {
    acl: Arc<[Acl]>,
    hash: u64,
    refs: u64,
}

/// Interns ACL lists: nodes hold a `u32` index; identical lists share one
/// entry, freed when its last node goes (ZooKeeper's
/// `ReferenceCountedACLCache`).
#[derive(Debug, Clone, Default)]
pub(crate) struct AclCache {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_hash: hash::FastMap<u64, Vec<u32>>,
}

impl AclCache {
    /// Takes a reference to `acl`'s entry, creating it if needed.
    pub fn intern(&mut self, acl: &[Acl]) -> u32 {
        let h = acl_hash(acl);
        if let Some(ids) = self.by_hash.get(&h) {
            for &i in ids {
                if let Some(e) = self.entries[i as usize].as_mut() {
                    if *e.acl == *acl {
                        e.refs += 1;
                        return i;
                    }
                }
            }
        }
        let entry = Entry {
            acl: acl.into(),
            hash: h,
            refs: 1,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(entry);
                i
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as u32
            }
        };
        self.by_hash.entry(h).or_default().push(i);
        i
    }

    /// Takes one more reference to live entry `i`.
    pub fn add_ref(&mut self, i: u32) {
        if let Some(Some(e)) = self.entries.get_mut(i as usize) {
            e.refs += 1;
        } else {
            debug_assert!(false, "add_ref of a free ACL entry {i}");
        }
    }

    /// Drops one reference to entry `i`.
    pub fn release(&mut self, i: u32) {
        let Some(Some(e)) = self.entries.get_mut(i as usize) else {
            debug_assert!(false, "release of a free ACL entry {i}");
            return;
        };
        e.refs -= 1;
        if e.refs > 0 {
            return;
        }
        let h = e.hash;
        self.entries[i as usize] = None;
        self.free.push(i);
        if let Some(ids) = self.by_hash.get_mut(&h) {
            ids.retain(|&x| x != i);
            if ids.is_empty() {
                self.by_hash.remove(&h);
            }
        }
    }

    /// The list behind entry `i` (empty if `i` is free, which is a bug).
    pub fn get(&self, i: u32) -> &Arc<[Acl]> {
        match self.entries.get(i as usize) {
            Some(Some(e)) => &e.acl,
            _ => {
                debug_assert!(false, "lookup of a free ACL entry {i}");
                &EMPTY
            }
        }
    }

    /// The live entries, by index.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Arc<[Acl]>)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, &e.acl)))
    }

    /// The content hash of entry `i`.
    pub fn hash_of(&self, i: u32) -> u64 {
        match self.entries.get(i as usize) {
            Some(Some(e)) => e.hash,
            _ => 0,
        }
    }

    /// Number of distinct lists.
    pub fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }
}

static EMPTY: std::sync::LazyLock<Arc<[Acl]>> = std::sync::LazyLock::new(|| Arc::from(Vec::new()));

#[cfg(test)]
mod tests {
    use super::*;

    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    fn acl(perms: i32, scheme: &str, i: &str) -> Acl {
        Acl {
            perms,
            id: id(scheme, i),
        }
    }

    #[test]
    fn digest_matches_zookeeper() {
        // From ZooKeeper's docs: super:test -> D/InIHSb7yEEbrWz8b9l71RjZJU=
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn ip_rules() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(ip_matches("127.0.0.1", "127.0.0.0/8"));
        assert!(ip_matches("10.1.2.3", "0.0.0.0/0"));
        assert!(!ip_matches("10.1.2.3", "127.0.0.0/8"));
        assert!(!ip_valid("300.1.2.3"));
        assert!(!ip_valid("1.2.3"));
        assert!(!ip_valid("1.2.3.4/33"));
        assert!(ip_valid("1.2.3.4/0"));
    }

    #[test]
    fn digest_validity_follows_java_split() {
        assert!(id_valid(&id("digest", "a:b")));
        assert!(id_valid(&id("digest", ":b")));
        assert!(id_valid(&id("digest", "a:b:")));
        assert!(!id_valid(&id("digest", "a:")));
        assert!(!id_valid(&id("digest", "ab")));
        assert!(!id_valid(&id("digest", "a::b")));
        assert!(!id_valid(&id("digest", "")));
    }

    #[test]
    fn fixup_rules() {
        let none = AuthContext {
            ids: &[],
            is_super: false,
        };
        assert_eq!(fixup(&[], &none), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup(&[acl(31, "auth", "")], &none),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(&[acl(31, "world", "x")], &none),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(&[acl(31, "nosuch", "x")], &none),
            Err(ErrorCode::InvalidAcl)
        );
        let two = [acl(31, "world", "anyone"), acl(31, "world", "anyone")];
        assert_eq!(fixup(&two, &none).unwrap().len(), 1);
        let ids = [id("ip", "127.0.0.1"), id("digest", "u:h")];
        let auth = AuthContext {
            ids: &ids,
            is_super: false,
        };
        assert_eq!(
            fixup(&[acl(5, "auth", "")], &auth),
            Ok(vec![acl(5, "digest", "u:h")])
        );
    }

    #[test]
    fn check_rules() {
        let ids = [id("ip", "127.0.0.1"), id("digest", "u:h")];
        let auth = AuthContext {
            ids: &ids,
            is_super: false,
        };
        assert!(check(&[], perms::READ, &auth));
        assert!(check(&[acl(1, "digest", "u:h")], perms::READ, &auth));
        assert!(!check(&[acl(2, "digest", "u:h")], perms::READ, &auth));
        assert!(check(&[acl(1, "ip", "127.0.0.0/8")], perms::READ, &auth));
        assert!(!check(&[acl(31, "digest", "v:h")], perms::READ, &auth));
        let su = AuthContext {
            ids: &[],
            is_super: true,
        };
        assert!(check(&[acl(31, "digest", "v:h")], perms::READ, &su));
    }

    #[test]
    fn cache_interns_and_frees() {
        let mut c = AclCache::default();
        let a = c.intern(&Acl::open_unsafe());
        let b = c.intern(&Acl::open_unsafe());
        assert_eq!(a, b);
        let r = c.intern(&Acl::read_unsafe());
        assert_ne!(a, r);
        assert_eq!(c.len(), 2);
        c.release(a);
        c.release(b);
        assert_eq!(c.len(), 1);
        assert_eq!(&**c.get(r), &Acl::read_unsafe()[..]);
        assert_eq!(redact(&[acl(1, "digest", "u:abc")])[0].id.id, "u:x");
    }
}
