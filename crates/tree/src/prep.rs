//! Preparing writes, as ZooKeeper 3.8's `PrepRequestProcessor` does:
//! validate against the tree plus the outstanding changes of txns prepared
//! but not yet applied, then build the txn. Client mistakes never fail
//! here: they become error txns, which are logged and consume a zxid.
//!
//! Check order per op (the first failure wins), as ZooKeeper:
//! - create: flags, TTL, path shape (`/` present, no NUL), ACL (InvalidAcl),
//!   parent (NoNode), CREATE on parent (NoAuth), sequential suffix, full
//!   path validation (BadArguments), NodeExists, ephemeral parent.
//! - delete: path shape and special paths (BadArguments), parent (NoNode),
//!   DELETE on parent, node (NoNode), version, NotEmpty.
//! - setData: path, node, WRITE, version. setACL: path, ACL, node, ADMIN,
//!   ACL version. check: path, node, READ, version.

use std::collections::VecDeque;
use std::sync::Arc;

use proto::records::perms;
use proto::request::create_mode as mode;
use proto::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn,
    CreateTxn, DeleteTxn, ErrorTxn, SetAclTxn, SetDataTxn, Txn, TxnEntry, TxnHeader,
};
use proto::{Acl, CreateOp, ErrorCode, OpCode, Request};

use crate::acl;
use crate::ephemeral::{ttl_owner, EphemeralType, CONTAINER_OWNER};
use crate::hash::FastMap;
use crate::path;
use crate::tree::DataTree;
use crate::PrepContext;

/// A path's state as prepare sees it (ZooKeeper's `ChangeRecord`).
#[derive(Debug, Clone)]
struct Record {
    exists: bool,
    version: i32,
    aversion: i32,
    /// Stored cversion: the number of child creates.
    cversion: i32,
    ephemeral_owner: i64,
    child_count: i32,
    acl: Arc<[Acl]>,
}

impl Record {
    fn deleted() -> Record {
        Record {
            exists: false,
            version: 0,
            aversion: 0,
            cversion: 0,
            ephemeral_owner: 0,
            child_count: 0,
            acl: Arc::from(Vec::new()),
        }
    }
}

#[derive(Debug, Clone)]
struct Change {
    zxid: i64,
    record: Record,
}

/// Outstanding changes: the effect of every prepared, not yet applied txn
/// on the paths it touches (ZooKeeper's `outstandingChanges`).
#[derive(Debug, Default)]
pub struct Prepper {
    changes: FastMap<String, Change>,
    queue: VecDeque<(i64, String)>,
}

/// The tree seen through the outstanding changes plus the changes of the
/// request being prepared (`local`, dropped if a multi fails).
struct View<'a> {
    tree: &'a DataTree,
    changes: &'a FastMap<String, Change>,
    local: FastMap<String, Record>,
}

impl View<'_> {
    fn lookup(&self, p: &str) -> Option<Record> {
        let p = path::canonical(p);
        if let Some(r) = self.local.get(p) {
            return Some(r.clone());
        }
        if let Some(c) = self.changes.get(p) {
            return Some(c.record.clone());
        }
        let n = self.tree.store.get(p)?;
        Some(Record {
            exists: true,
            version: n.stat.version,
            aversion: n.stat.aversion,
            cversion: n.stat.cversion,
            ephemeral_owner: n.stat.ephemeral_owner,
            child_count: n.child_count() as i32,
            acl: self.tree.acls.get(n.acl).clone(),
        })
    }

    /// The live record of `p`, or NoNode.
    fn get(&self, p: &str) -> Result<Record, ErrorCode> {
        self.lookup(p).filter(|r| r.exists).ok_or(ErrorCode::NoNode)
    }

    fn put(&mut self, p: &str, r: Record) {
        self.local.insert(path::canonical(p).to_string(), r);
    }
}

/// `checkAndIncVersion`: -1 matches any version; returns the next one
/// (wrapping, as Java's int does).
fn next_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config` cannot be
/// deleted (ZooKeeper's `isSpecialPath`).
fn is_special(p: &str) -> bool {
    matches!(
        p,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// `getParentPathAndValidate` (delete and deleteContainer).
fn parent_for_delete(p: &str) -> Result<&str, ErrorCode> {
    if p.contains('\0') || is_special(p) {
        return Err(ErrorCode::BadArguments);
    }
    path::parent(p).ok_or(ErrorCode::BadArguments)
}

impl Prepper {
    /// No outstanding changes.
    pub fn new() -> Prepper {
        Prepper::default()
    }

    /// Number of paths with outstanding changes.
    pub fn outstanding(&self) -> usize {
        self.changes.len()
    }

    /// Validates a write request and builds its txn (an error txn if the
    /// client's request fails). Header `op` is the client's opcode (create
    /// vs create2 vs createContainer vs createTTL), `error` for a failure.
    pub fn prepare(&mut self, tree: &DataTree, req: &Request, ctx: &PrepContext) -> TxnEntry {
        if let Request::CloseSession = req {
            return self.prepare_close_session(tree, ctx.session_id, ctx);
        }
        let mut view = View {
            tree,
            changes: &self.changes,
            local: FastMap::default(),
        };
        let (op, result) = match req {
            Request::Multi(ops) if !ops.iter().all(is_multi_write) => {
                // ZooKeeper refuses to mix reads into a multi
                // (MarshallingError, still logged as an error txn).
                (OpCode::Multi as i32, Err(ErrorCode::MarshallingError))
            }
            Request::Multi(ops) => (OpCode::Multi as i32, Ok(prep_multi(&mut view, ops, ctx))),
            Request::Reconfig(_) => (OpCode::Reconfig as i32, Err(ErrorCode::ReconfigDisabled)),
            Request::Create(c) => (c.op as i32, prep_create(&mut view, c, c.op, c.ttl, ctx)),
            _ => (req.op(), prep_one(&mut view, req, ctx)),
        };
        let local = std::mem::take(&mut view.local);
        self.finish(ctx, op, result, local)
    }

    /// The internal deleteContainer request for `path` (containers and TTL
    /// nodes the server found expired): NotEmpty if it gained a child,
    /// BadVersion if it is an ephemeral, else a delete txn logged under
    /// opcode deleteContainer.
    pub fn prepare_delete_container(
        &mut self,
        tree: &DataTree,
        path: &str,
        ctx: &PrepContext,
    ) -> TxnEntry {
        let mut view = View {
            tree,
            changes: &self.changes,
            local: FastMap::default(),
        };
        let result = prep_delete_container(&mut view, path);
        let local = std::mem::take(&mut view.local);
        self.finish(ctx, OpCode::DeleteContainer as i32, result, local)
    }

    /// A createSession txn for `session_id` (the header's client id; cxid
    /// 0) at `zxid` and `time_ms`.
    pub fn prepare_create_session(
        &mut self,
        session_id: i64,
        timeout_ms: i32,
        zxid: i64,
        time_ms: i64,
    ) -> TxnEntry {
        TxnEntry {
            header: TxnHeader {
                client_id: session_id,
                cxid: 0,
                zxid,
                time: time_ms,
                op: OpCode::CreateSession as i32,
            },
            txn: Txn::CreateSession(CreateSessionTxn { timeout_ms }),
        }
    }

    /// A closeSession txn listing the session's ephemerals: those in the
    /// tree plus those prepared, minus those being deleted (sorted).
    pub fn prepare_close_session(
        &mut self,
        tree: &DataTree,
        session_id: i64,
        ctx: &PrepContext,
    ) -> TxnEntry {
        let mut paths: std::collections::BTreeSet<String> =
            tree.ephemerals_of(session_id).into_iter().collect();
        for (p, c) in &self.changes {
            // The latest change to a path decides: the session owns it
            // only if it (re)created it.
            if c.record.exists && c.record.ephemeral_owner == session_id {
                paths.insert(p.clone());
            } else {
                paths.remove(p);
            }
        }
        let mut view = View {
            tree,
            changes: &self.changes,
            local: FastMap::default(),
        };
        for p in &paths {
            if let Some(parent) = path::parent(p) {
                if let Ok(mut r) = view.get(parent) {
                    r.child_count -= 1;
                    view.put(parent, r);
                }
            }
            view.put(p, Record::deleted());
        }
        let local = std::mem::take(&mut view.local);
        let txn = Txn::CloseSession(CloseSessionTxn {
            paths_to_delete: paths.into_iter().collect(),
        });
        let entry = TxnEntry {
            header: header(session_id, ctx, OpCode::CloseSession as i32),
            txn,
        };
        self.record(ctx.zxid, local);
        entry
    }

    /// Forgets the outstanding changes of txns up to and including `zxid`
    /// (call once they are applied).
    pub fn applied(&mut self, zxid: i64) {
        while let Some((z, _)) = self.queue.front() {
            if *z > zxid {
                break;
            }
            let Some((z, p)) = self.queue.pop_front() else {
                break;
            };
            if self.changes.get(&p).is_some_and(|c| c.zxid == z) {
                self.changes.remove(&p);
            }
        }
    }

    /// Forgets every outstanding change (after the log failed, say).
    pub fn clear(&mut self) {
        self.changes.clear();
        self.queue.clear();
    }

    fn finish(
        &mut self,
        ctx: &PrepContext,
        op: i32,
        result: Result<Txn, ErrorCode>,
        local: FastMap<String, Record>,
    ) -> TxnEntry {
        match result {
            Ok(txn) => {
                self.record(ctx.zxid, local);
                TxnEntry {
                    header: header(ctx.session_id, ctx, op),
                    txn,
                }
            }
            Err(code) => TxnEntry {
                header: header(ctx.session_id, ctx, OpCode::Error as i32),
                txn: Txn::Error(ErrorTxn { err: code as i32 }),
            },
        }
    }

    fn record(&mut self, zxid: i64, local: FastMap<String, Record>) {
        for (p, record) in local {
            self.queue.push_back((zxid, p.clone()));
            self.changes.insert(p, Change { zxid, record });
        }
    }
}

fn header(client_id: i64, ctx: &PrepContext, op: i32) -> TxnHeader {
    TxnHeader {
        client_id,
        cxid: ctx.cxid,
        zxid: ctx.zxid,
        time: ctx.time_ms,
        op,
    }
}

/// delete, setData, setACL, check (alone or in multi).
fn prep_one(view: &mut View, req: &Request, ctx: &PrepContext) -> Result<Txn, ErrorCode> {
    match req {
        Request::Delete(r) => prep_delete(view, &r.path, r.version, ctx),
        Request::SetData(r) => prep_set_data(view, &r.path, r.data.as_deref(), r.version, ctx),
        Request::SetAcl(r) => prep_set_acl(view, &r.path, &r.acl, r.version, ctx),
        Request::Check(r) => prep_check(view, &r.path, r.version, ctx),
        Request::Create(c) => prep_create(view, c, c.op, c.ttl, ctx),
        _ => Err(ErrorCode::Unimplemented),
    }
}

/// Which create the flags ask for, and its parts.
struct Mode {
    ephemeral: bool,
    sequential: bool,
    ttl: bool,
}

fn parse_mode(flags: i32) -> Result<Mode, ErrorCode> {
    if !(mode::PERSISTENT..=mode::PERSISTENT_SEQUENTIAL_WITH_TTL).contains(&flags) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(Mode {
        ephemeral: matches!(flags, mode::EPHEMERAL | mode::EPHEMERAL_SEQUENTIAL),
        sequential: matches!(
            flags,
            mode::PERSISTENT_SEQUENTIAL
                | mode::EPHEMERAL_SEQUENTIAL
                | mode::PERSISTENT_SEQUENTIAL_WITH_TTL
        ),
        ttl: matches!(
            flags,
            mode::PERSISTENT_WITH_TTL | mode::PERSISTENT_SEQUENTIAL_WITH_TTL
        ),
    })
}

/// `EphemeralType.validateTTL`: a TTL mode needs a TTL in range, other
/// modes none. A createTTL with a non-TTL mode is refused outright
/// (ZooKeeper would log a txn that fails at apply).
fn check_ttl(op: OpCode, m: &Mode, ttl: i64) -> Result<(), ErrorCode> {
    let ok = if m.ttl {
        ttl_owner(ttl).is_some()
    } else {
        ttl < 0 && op != OpCode::CreateTtl
    };
    if ok {
        Ok(())
    } else {
        Err(ErrorCode::BadArguments)
    }
}

/// Any create; `op` decides the txn type (see the module docs for order).
fn prep_create(
    view: &mut View,
    c: &CreateOp,
    op: OpCode,
    ttl: i64,
    ctx: &PrepContext,
) -> Result<Txn, ErrorCode> {
    let m = parse_mode(c.flags)?;
    let ttl = if op == OpCode::CreateTtl { ttl } else { -1 };
    check_ttl(op, &m, ttl)?;
    if c.path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let parent_path = path::parent(&c.path).ok_or(ErrorCode::BadArguments)?;
    let acl = acl::fixup(&c.acl, &ctx.auth)?;
    let mut parent = view.get(parent_path)?;
    acl::require(&parent.acl, perms::CREATE, &ctx.auth)?;
    let p = if m.sequential {
        format!("{}{:010}", c.path, parent.cversion)
    } else {
        c.path.clone()
    };
    path::validate(&p)?;
    if view.get(&p).is_ok() {
        return Err(ErrorCode::NodeExists);
    }
    if EphemeralType::of(parent.ephemeral_owner) == EphemeralType::Normal {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    let parent_cversion = parent.cversion.wrapping_add(1);
    let owner = match op {
        OpCode::CreateContainer => CONTAINER_OWNER,
        OpCode::CreateTtl => ttl_owner(ttl).ok_or(ErrorCode::BadArguments)?,
        _ if m.ephemeral => ctx.session_id,
        _ => 0,
    };
    parent.child_count += 1;
    parent.cversion = parent_cversion;
    view.put(parent_path, parent);
    view.put(
        &p,
        Record {
            exists: true,
            version: 0,
            aversion: 0,
            cversion: 0,
            ephemeral_owner: owner,
            child_count: 0,
            acl: Arc::from(acl.clone()),
        },
    );
    let data = c.data.clone();
    Ok(match op {
        OpCode::CreateContainer => Txn::CreateContainer(CreateContainerTxn {
            path: p,
            data,
            acl,
            parent_cversion,
        }),
        OpCode::CreateTtl => Txn::CreateTtl(CreateTtlTxn {
            path: p,
            data,
            acl,
            parent_cversion,
            ttl,
        }),
        _ => Txn::Create(CreateTxn {
            path: p,
            data,
            acl,
            ephemeral: m.ephemeral,
            parent_cversion,
        }),
    })
}

fn prep_delete(
    view: &mut View,
    p: &str,
    version: i32,
    ctx: &PrepContext,
) -> Result<Txn, ErrorCode> {
    let parent_path = parent_for_delete(p)?;
    let mut parent = view.get(parent_path)?;
    acl::require(&parent.acl, perms::DELETE, &ctx.auth)?;
    let node = view.get(p)?;
    next_version(node.version, version)?;
    if node.child_count > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    parent.child_count -= 1;
    view.put(parent_path, parent);
    view.put(p, Record::deleted());
    Ok(Txn::Delete(DeleteTxn {
        path: p.to_string(),
    }))
}

fn prep_delete_container(view: &mut View, p: &str) -> Result<Txn, ErrorCode> {
    let parent_path = parent_for_delete(p)?;
    let node = view.get(p)?;
    if node.child_count > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    if EphemeralType::of(node.ephemeral_owner) == EphemeralType::Normal {
        return Err(ErrorCode::BadVersion);
    }
    let mut parent = view.get(parent_path)?;
    parent.child_count -= 1;
    view.put(parent_path, parent);
    view.put(p, Record::deleted());
    Ok(Txn::Delete(DeleteTxn {
        path: p.to_string(),
    }))
}

fn prep_set_data(
    view: &mut View,
    p: &str,
    data: Option<&[u8]>,
    version: i32,
    ctx: &PrepContext,
) -> Result<Txn, ErrorCode> {
    path::validate(p)?;
    let mut node = view.get(p)?;
    acl::require(&node.acl, perms::WRITE, &ctx.auth)?;
    let version = next_version(node.version, version)?;
    node.version = version;
    view.put(p, node);
    Ok(Txn::SetData(SetDataTxn {
        path: p.to_string(),
        data: data.map(<[u8]>::to_vec),
        version,
    }))
}

fn prep_set_acl(
    view: &mut View,
    p: &str,
    acl: &[Acl],
    version: i32,
    ctx: &PrepContext,
) -> Result<Txn, ErrorCode> {
    path::validate(p)?;
    let acl = acl::fixup(acl, &ctx.auth)?;
    let mut node = view.get(p)?;
    acl::require(&node.acl, perms::ADMIN, &ctx.auth)?;
    let version = next_version(node.aversion, version)?;
    node.aversion = version;
    node.acl = Arc::from(acl.clone());
    view.put(p, node);
    Ok(Txn::SetAcl(SetAclTxn {
        path: p.to_string(),
        acl,
        version,
    }))
}

/// check: the txn carries the *next* version, as ZooKeeper logs it.
fn prep_check(view: &mut View, p: &str, version: i32, ctx: &PrepContext) -> Result<Txn, ErrorCode> {
    path::validate(p)?;
    let node = view.get(p)?;
    acl::require(&node.acl, perms::READ, &ctx.auth)?;
    let version = next_version(node.version, version)?;
    Ok(Txn::Check(CheckVersionTxn {
        path: p.to_string(),
        version,
    }))
}

/// multi: each op sees the earlier ones. On the first failure the earlier
/// ops' changes are rolled back and the txn becomes all error parts: 0
/// before the failing op, its code, -2 after.
fn prep_multi(view: &mut View, ops: &[Request], ctx: &PrepContext) -> Txn {
    let mut parts = Vec::with_capacity(ops.len());
    let mut failed = false;
    for op in ops {
        if failed {
            parts.push(error_part(ErrorCode::RuntimeInconsistency));
            continue;
        }
        match prep_multi_op(view, op, ctx) {
            Ok(t) => parts.push(t),
            Err(code) => {
                failed = true;
                view.local.clear();
                for p in parts.iter_mut() {
                    *p = error_part(ErrorCode::Ok);
                }
                parts.push(error_part(code));
            }
        }
    }
    Txn::Multi(parts)
}

fn error_part(code: ErrorCode) -> Txn {
    Txn::Error(ErrorTxn { err: code as i32 })
}

/// The ops a (write) multi may hold.
fn is_multi_write(op: &Request) -> bool {
    matches!(
        op,
        Request::Create(_) | Request::Delete(_) | Request::SetData(_) | Request::Check(_)
    )
}

/// One op of a multi. As ZooKeeper's `MultiOperationRecord`, a create's
/// type comes from its flags: TTL modes createTTL, container
/// createContainer, else create (so create2 replies like create).
fn prep_multi_op(view: &mut View, op: &Request, ctx: &PrepContext) -> Result<Txn, ErrorCode> {
    match op {
        Request::Create(c) => {
            let ttl_mode = matches!(
                c.flags,
                mode::PERSISTENT_WITH_TTL | mode::PERSISTENT_SEQUENTIAL_WITH_TTL
            );
            let kind = if ttl_mode {
                OpCode::CreateTtl
            } else if c.flags == mode::CONTAINER {
                OpCode::CreateContainer
            } else {
                OpCode::Create
            };
            let ttl = if c.op == OpCode::CreateTtl && ttl_mode {
                c.ttl
            } else {
                -1
            };
            prep_create(view, c, kind, ttl, ctx)
        }
        Request::Delete(_) | Request::SetData(_) | Request::Check(_) => prep_one(view, op, ctx),
        _ => Err(ErrorCode::BadArguments),
    }
}
