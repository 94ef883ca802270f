//! ZooKeeper's `EphemeralType`: what a node's stored `ephemeralOwner`
//! means (extended types enabled, as paddock always accepts TTL nodes).

/// The stored owner of a container node (`Long.MIN_VALUE`).
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// Marks an extended owner (top byte all ones).
const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
/// Reserved bits of an extended owner; zero for TTL.
const RESERVED_MASK: u64 = 0x00ff_ff00_0000_0000;
/// The largest TTL in ms (40 bits).
pub const TTL_MAX_MS: i64 = 0xff_ffff_ffff;

/// The kind of node an `ephemeralOwner` denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EphemeralType {
    /// Persistent (owner 0).
    Void,
    /// Ephemeral: the owner is a session id.
    Normal,
    /// A container.
    Container,
    /// A TTL node with its TTL in ms.
    Ttl(i64),
}

impl EphemeralType {
    /// Decodes a stored owner.
    pub fn of(owner: i64) -> EphemeralType {
        let u = owner as u64;
        if owner == CONTAINER_OWNER {
            EphemeralType::Container
        } else if u & EXTENDED_MASK == EXTENDED_MASK && u & RESERVED_MASK == 0 {
            EphemeralType::Ttl((u & TTL_MAX_MS as u64) as i64)
        } else if owner == 0 {
            EphemeralType::Void
        } else {
            EphemeralType::Normal
        }
    }
}

/// The stored owner of a TTL node, if `ttl_ms` is in `1..=TTL_MAX_MS`.
pub fn ttl_owner(ttl_ms: i64) -> Option<i64> {
    (1..=TTL_MAX_MS)
        .contains(&ttl_ms)
        .then_some((EXTENDED_MASK | ttl_ms as u64) as i64)
}

/// The owner clients see: the session for ephemerals, else 0
/// (`DataNode.getClientEphemeralOwner`).
pub fn client_owner(owner: i64) -> i64 {
    match EphemeralType::of(owner) {
        EphemeralType::Normal => owner,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(EphemeralType::of(0), EphemeralType::Void);
        assert_eq!(
            EphemeralType::of(0x0100_0026_23ea_0000),
            EphemeralType::Normal
        );
        assert_eq!(EphemeralType::of(CONTAINER_OWNER), EphemeralType::Container);
        assert_eq!(ttl_owner(1000), Some(0xff00_0000_0000_03e8_u64 as i64));
        assert_eq!(
            EphemeralType::of(ttl_owner(1000).unwrap()),
            EphemeralType::Ttl(1000)
        );
        assert_eq!(ttl_owner(0), None);
        assert_eq!(ttl_owner(TTL_MAX_MS + 1), None);
        assert_eq!(client_owner(CONTAINER_OWNER), 0);
        assert_eq!(client_owner(ttl_owner(5).unwrap()), 0);
        assert_eq!(client_owner(42), 42);
    }
}
