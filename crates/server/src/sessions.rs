//! Session expiry bookkeeping, pure: the caller passes the time in.

use tree::FastMap as HashMap;

/// One tracked session.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// Negotiated timeout.
    pub timeout_ms: i32,
    /// When it expires unless touched again (ms on the caller's clock).
    pub deadline_ms: u64,
    /// Expiry or close has begun; no more touches.
    pub closing: bool,
}

/// Deadlines of every live session.
#[derive(Debug, Default)]
pub struct SessionTracker {
    sessions: HashMap<i64, Tracked>,
}

impl SessionTracker {
    /// Tracks a session from `now_ms`.
    pub fn add(&mut self, id: i64, timeout_ms: i32, now_ms: u64) {
        self.sessions.insert(
            id,
            Tracked {
                timeout_ms,
                deadline_ms: now_ms + timeout_ms.max(0) as u64,
                closing: false,
            },
        );
    }

    /// Pushes a live session's deadline out; false if unknown or closing.
    pub fn touch(&mut self, id: i64, now_ms: u64) -> bool {
        match self.sessions.get_mut(&id) {
            Some(t) if !t.closing => {
                t.deadline_ms = now_ms + t.timeout_ms.max(0) as u64;
                true
            }
            _ => false,
        }
    }

    /// The session, if tracked.
    pub fn get(&self, id: i64) -> Option<&Tracked> {
        self.sessions.get(&id)
    }

    /// Marks a session closing; false if unknown or already closing.
    pub fn set_closing(&mut self, id: i64) -> bool {
        match self.sessions.get_mut(&id) {
            Some(t) if !t.closing => {
                t.closing = true;
                true
            }
            _ => false,
        }
    }

    /// Gives every session a full timeout from now and clears closing
    /// marks (a new ZAB leader: it did not see the old one's touches, and
    /// closes it had begun may never have committed).
    pub fn renew_all(&mut self, now_ms: u64) {
        for t in self.sessions.values_mut() {
            t.deadline_ms = now_ms + t.timeout_ms.max(0) as u64;
            t.closing = false;
        }
    }

    /// Forgets a session.
    pub fn remove(&mut self, id: i64) {
        self.sessions.remove(&id);
    }

    /// Sessions past their deadline, now marked closing, sorted.
    pub fn take_expired(&mut self, now_ms: u64) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .sessions
            .iter_mut()
            .filter(|(_, t)| !t.closing && t.deadline_ms <= now_ms)
            .map(|(id, t)| {
                t.closing = true;
                *id
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Every session with its deadline (for `dump`), sorted by id.
    pub fn all(&self) -> Vec<(i64, Tracked)> {
        let mut v: Vec<(i64, Tracked)> =
            self.sessions.iter().map(|(k, t)| (*k, t.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }
}

/// A session's password: derived from its id and a fixed secret, so a
/// session survives a restart (as in ZooKeeper).
pub fn password_for(session_id: i64) -> Vec<u8> {
    let mut x = (session_id as u64) ^ 0xB341_5C00_D00D_F00D;
    let mut out = Vec::with_capacity(16);
    for _ in 0..2 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_be_bytes());
    }
    out
}

/// The first session id of a server, as ZooKeeper builds it: the server id
/// in the top byte, then milliseconds since the epoch, then a counter.
pub fn initial_session_id(server_id: u8, now_ms: u64) -> i64 {
    let t = ((now_ms << 24) >> 8) as i64;
    t | ((server_id as i64) << 56)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_follows_touches() {
        let mut t = SessionTracker::default();
        t.add(1, 1000, 0);
        t.add(2, 5000, 0);
        assert!(t.take_expired(999).is_empty());
        assert!(t.touch(1, 500));
        assert!(t.take_expired(1400).is_empty());
        assert_eq!(t.take_expired(1500), vec![1]);
        assert!(!t.touch(1, 1600), "a closing session is not revived");
        assert_eq!(t.take_expired(10_000), vec![2]);
    }

    #[test]
    fn passwords_are_stable_and_distinct() {
        assert_eq!(password_for(7), password_for(7));
        assert_ne!(password_for(7), password_for(8));
        assert_eq!(password_for(7).len(), 16);
    }
}
