//! Human-readable renderings shared by the `data` tools: times, ACLs,
//! stats, transactions.

use std::fmt::Write as _;

use proto::txn::{Txn, TxnEntry};
use proto::{Acl, OpCode, Stat};

/// `ms` since the Unix epoch as ISO 8601 UTC, e.g.
/// `2024-05-01T12:00:00.123Z`.
pub fn iso_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// ZooKeeper's short permission letters, e.g. `cdrwa`.
pub fn perms(p: i32) -> String {
    let mut s = String::new();
    for (bit, c) in [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')] {
        if p & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// `[scheme:id:perms, ...]`.
pub fn acl(acl: &[Acl]) -> String {
    let parts: Vec<String> = acl
        .iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perms(a.perms)))
        .collect();
    format!("[{}]", parts.join(","))
}

/// Every field of a client-visible stat.
pub fn stat(s: &Stat) -> String {
    format!(
        "czxid={:#x} mzxid={:#x} pzxid={:#x} ctime={} mtime={} version={} cversion={} aversion={} ephemeralOwner={:#x} dataLength={} numChildren={}",
        s.czxid, s.mzxid, s.pzxid, iso_time(s.ctime), iso_time(s.mtime), s.version,
        s.cversion, s.aversion, s.ephemeral_owner, s.data_length, s.num_children
    )
}

/// A data length plus a short preview when the bytes are printable text.
/// Znode data that may be null.
pub fn opt_data(d: Option<&[u8]>) -> String {
    d.map_or_else(|| "null".to_string(), data)
}

/// A short, printable preview of znode data.
pub fn data(d: &[u8]) -> String {
    const PREVIEW_BYTES: usize = 32;
    let head = &d[..d.len().min(PREVIEW_BYTES)];
    match std::str::from_utf8(head) {
        Ok(s) if !s.is_empty() && s.chars().all(|c| !c.is_control()) => {
            let more = if d.len() > PREVIEW_BYTES { "..." } else { "" };
            format!("{}B {s:?}{more}", d.len())
        }
        _ => format!("{}B", d.len()),
    }
}

/// The opcode's name as ZooKeeper's `Request.op2String` spells it.
pub fn op_name(op: i32) -> String {
    let name = match OpCode::from_i32(op) {
        Some(OpCode::Create) => "create",
        Some(OpCode::Create2) => "create2",
        Some(OpCode::CreateTtl) => "createTTL",
        Some(OpCode::CreateContainer) => "createContainer",
        Some(OpCode::Delete) => "delete",
        Some(OpCode::DeleteContainer) => "deleteContainer",
        Some(OpCode::SetData) => "setData",
        Some(OpCode::SetAcl) => "setACL",
        Some(OpCode::Check) => "check",
        Some(OpCode::Multi) => "multi",
        Some(OpCode::CreateSession) => "createSession",
        Some(OpCode::CloseSession) => "closeSession",
        Some(OpCode::Error) => "error",
        Some(OpCode::Reconfig) => "reconfig",
        _ => return format!("op{op}"),
    };
    name.to_string()
}

/// One log line: zxid, time, session, cxid, op and the txn's fields.
pub fn entry(e: &TxnEntry) -> String {
    let h = &e.header;
    let mut s = format!(
        "{:#018x} {} session={:#x} cxid={:#x} {}",
        h.zxid,
        iso_time(h.time),
        h.client_id,
        h.cxid,
        op_name(h.op)
    );
    let fields = txn_fields(&e.txn);
    if !fields.is_empty() {
        s.push(' ');
        s.push_str(&fields);
    }
    s
}

/// The fields of a txn body.
pub fn txn_fields(t: &Txn) -> String {
    match t {
        Txn::Create(c) => format!(
            "path={} data={} acl={} ephemeral={} parentCversion={}",
            c.path,
            opt_data(c.data.as_deref()),
            acl(&c.acl),
            c.ephemeral,
            c.parent_cversion
        ),
        Txn::CreateTtl(c) => format!(
            "path={} data={} acl={} parentCversion={} ttl={}",
            c.path,
            opt_data(c.data.as_deref()),
            acl(&c.acl),
            c.parent_cversion,
            c.ttl
        ),
        Txn::CreateContainer(c) => format!(
            "path={} data={} acl={} parentCversion={}",
            c.path,
            opt_data(c.data.as_deref()),
            acl(&c.acl),
            c.parent_cversion
        ),
        Txn::Delete(d) => format!("path={}", d.path),
        Txn::SetData(d) => format!(
            "path={} data={} version={}",
            d.path,
            opt_data(d.data.as_deref()),
            d.version
        ),
        Txn::SetAcl(a) => format!("path={} acl={} version={}", a.path, acl(&a.acl), a.version),
        Txn::Check(c) => format!("path={} version={}", c.path, c.version),
        Txn::CreateSession(c) => format!("timeout={}ms", c.timeout_ms),
        Txn::CloseSession(c) if c.paths_to_delete.is_empty() => String::new(),
        Txn::CloseSession(c) => format!("ephemerals=[{}]", c.paths_to_delete.join(",")),
        Txn::Error(e) => format!("err={}", e.err),
        Txn::Multi(parts) => {
            let mut s = format!("{} ops:", parts.len());
            for p in parts {
                let _ = write!(s, " {{{} {}}}", op_name(p.op() as i32), txn_fields(p));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso_time(1_714_564_800_000), "2024-05-01T12:00:00.000Z");
        assert_eq!(iso_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn perms_letters() {
        assert_eq!(perms(31), "cdrwa");
        assert_eq!(perms(1), "r");
        assert_eq!(data(b"hi"), "2B \"hi\"");
        assert_eq!(data(&[0, 1]), "2B");
    }
}
