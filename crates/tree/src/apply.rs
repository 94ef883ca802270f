//! Applying logged transactions, as ZooKeeper 3.8's `DataTree.processTxn`
//! does: deterministic, never panicking on a txn prepare produced or one
//! Apache ZooKeeper logged. A txn that cannot apply (a create of an
//! existing node while replaying over a fuzzy snapshot, say) yields its
//! error code and changes nothing.

use proto::response::event_type;
use proto::txn::{Txn, TxnEntry, TxnHeader};
use proto::{Acl, Create2Response, CreateResponse, ErrorCode, MultiResult, OpCode, Response, Stat};

use crate::ephemeral::{ttl_owner, CONTAINER_OWNER};
use crate::path;
use crate::store::{Node, StatPersisted};
use crate::tree::{client_stat, error_code, DataTree};
use crate::{ApplyResult, WatchEvent};

/// What a create txn asks for, whatever its record type.
struct NewNode<'a> {
    path: &'a str,
    data: Option<&'a [u8]>,
    acl: &'a [Acl],
    owner: i64,
    parent_cversion: i32,
}

/// Where apply puts a txn's watch events; nowhere when nobody can be
/// watching (a replay at start-up, a server with no watch set), so that
/// no path is copied and no ACL reference taken for nothing (at replay
/// the ACL references' atomic counts were a tenth of the time).
pub(crate) struct Events {
    list: Vec<WatchEvent>,
    wanted: bool,
}

impl Events {
    fn add(&mut self, event: impl FnOnce() -> WatchEvent) {
        if self.wanted {
            self.list.push(event());
        }
    }
}

impl DataTree {
    /// Applies one logged transaction; `last_zxid` moves to its zxid (error
    /// txns included, as ZooKeeper). Events come in ZooKeeper's order.
    pub fn apply(&mut self, entry: &TxnEntry) -> ApplyResult {
        self.apply_with(entry, true)
    }

    /// [`DataTree::apply`] that makes no watch events unless `events` (the
    /// result's list is then empty): the same changes to the tree.
    pub fn apply_with(&mut self, entry: &TxnEntry, events: bool) -> ApplyResult {
        let h = &entry.header;
        let mut events = Events {
            list: Vec::new(),
            wanted: events,
        };
        let result = self.apply_txn(h, &entry.txn, &mut events);
        if h.zxid > self.last_zxid {
            self.last_zxid = h.zxid;
        }
        ApplyResult {
            zxid: h.zxid,
            result,
            events: events.list,
        }
    }

    fn apply_txn(
        &mut self,
        h: &TxnHeader,
        txn: &Txn,
        events: &mut Events,
    ) -> Result<Response, ErrorCode> {
        match txn {
            Txn::Create(_) | Txn::CreateTtl(_) | Txn::CreateContainer(_) => {
                let (path, stat) = self.apply_create(h, txn, events)?;
                Ok(if h.op == OpCode::Create as i32 {
                    Response::Create(CreateResponse { path })
                } else {
                    Response::Create2(Create2Response { path, stat })
                })
            }
            Txn::Delete(t) => self
                .delete_node(&t.path, h.zxid, events)
                .map(|_| Response::Empty),
            Txn::SetData(t) => self
                .set_data(
                    &t.path,
                    t.data.as_deref(),
                    t.version,
                    h.zxid,
                    h.time,
                    events,
                )
                .map(Response::Stat),
            Txn::SetAcl(t) => self.set_acl(&t.path, &t.acl, t.version).map(Response::Stat),
            Txn::Check(_) => Ok(Response::Empty),
            Txn::CreateSession(t) => {
                self.sessions.insert(h.client_id, t.timeout_ms);
                Ok(Response::Empty)
            }
            Txn::CloseSession(t) => {
                self.close_session(h.client_id, &t.paths_to_delete, h.zxid, events);
                Ok(Response::Empty)
            }
            Txn::Error(e) => Err(error_code(e.err)),
            Txn::Multi(parts) => Ok(Response::Multi(self.apply_multi(h, parts, events))),
        }
    }

    /// Any of the three create records: returns the path and new stat.
    fn apply_create(
        &mut self,
        h: &TxnHeader,
        txn: &Txn,
        events: &mut Events,
    ) -> Result<(String, Stat), ErrorCode> {
        let new = match txn {
            Txn::Create(t) => NewNode {
                path: &t.path,
                data: t.data.as_deref(),
                acl: &t.acl,
                owner: if t.ephemeral { h.client_id } else { 0 },
                parent_cversion: t.parent_cversion,
            },
            Txn::CreateTtl(t) => NewNode {
                path: &t.path,
                data: t.data.as_deref(),
                acl: &t.acl,
                owner: ttl_owner(t.ttl).ok_or(ErrorCode::BadArguments)?,
                parent_cversion: t.parent_cversion,
            },
            Txn::CreateContainer(t) => NewNode {
                path: &t.path,
                data: t.data.as_deref(),
                acl: &t.acl,
                owner: CONTAINER_OWNER,
                parent_cversion: t.parent_cversion,
            },
            _ => return Err(ErrorCode::BadArguments),
        };
        let stat = self.create_node(&new, h.zxid, h.time, events)?;
        Ok((new.path.to_string(), stat))
    }

    /// ZooKeeper's multi: if any part is an error txn, every part becomes
    /// an error result (0 before the first error, -2 after it) and nothing
    /// changes; otherwise each part applies in order (a part failing at
    /// apply, which prepare rules out, does not undo the others).
    fn apply_multi(
        &mut self,
        h: &TxnHeader,
        parts: &[Txn],
        events: &mut Events,
    ) -> Vec<MultiResult> {
        let failed = parts.iter().any(|p| matches!(p, Txn::Error(_)));
        let mut post_failed = false;
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            let res = match part {
                Txn::Error(e) => {
                    post_failed = true;
                    MultiResult::Error(error_code(e.err))
                }
                _ if failed && post_failed => MultiResult::Error(ErrorCode::RuntimeInconsistency),
                _ if failed => MultiResult::Error(ErrorCode::Ok),
                _ => self
                    .apply_part(h, part, events)
                    .unwrap_or_else(MultiResult::Error),
            };
            out.push(res);
        }
        out
    }

    fn apply_part(
        &mut self,
        h: &TxnHeader,
        part: &Txn,
        events: &mut Events,
    ) -> Result<MultiResult, ErrorCode> {
        Ok(match part {
            Txn::Create(_) => MultiResult::Create(self.apply_create(h, part, events)?.0),
            Txn::CreateTtl(_) | Txn::CreateContainer(_) => {
                let (path, stat) = self.apply_create(h, part, events)?;
                MultiResult::Create2(path, stat)
            }
            Txn::Delete(t) => {
                self.delete_node(&t.path, h.zxid, events)?;
                MultiResult::Delete
            }
            Txn::SetData(t) => MultiResult::SetData(self.set_data(
                &t.path,
                t.data.as_deref(),
                t.version,
                h.zxid,
                h.time,
                events,
            )?),
            Txn::Check(_) => MultiResult::Check,
            _ => return Err(ErrorCode::BadArguments),
        })
    }

    /// `DataTree.createNode`: NoNode without a parent, NodeExists if
    /// present; bumps the parent's stored cversion to `parent_cversion`
    /// (-1: by one) and its pzxid, only if that raises it.
    fn create_node(
        &mut self,
        new: &NewNode,
        zxid: i64,
        time: i64,
        events: &mut Events,
    ) -> Result<Stat, ErrorCode> {
        let parent_path = path::parent(new.path).ok_or(ErrorCode::NoNode)?;
        let parent = self.store.find(parent_path).ok_or(ErrorCode::NoNode)?;
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            ephemeral_owner: new.owner,
            ..StatPersisted::default()
        };
        let data = new.data.unwrap_or_default();
        let acl = self.acls.intern(new.acl);
        let mut node = Node::new(new.path, data, stat, acl);
        node.set_null(new.data.is_none());
        // One index probe both checks the path is new and stores it.
        let Some(i) = self.insert_node_under(node, parent) else {
            self.acls.release(acl);
            return Err(ErrorCode::NodeExists);
        };
        self.update_meta(parent, |n| {
            let cv = match new.parent_cversion {
                -1 => n.stat.cversion.wrapping_add(1),
                cv => cv,
            };
            if cv > n.stat.cversion {
                n.stat.cversion = cv;
                n.stat.pzxid = zxid;
            }
        });
        self.quota_created(new.path, parent_path, path::name(new.path), data.len());
        events.add(|| event(new.path, event_type::NODE_CREATED, self.node_acl(i)));
        events.add(|| {
            let acl = self.node_acl(parent);
            event(parent_path, event_type::NODE_CHILDREN_CHANGED, acl)
        });
        Ok(client_stat(self.store.node(i)))
    }

    /// `DataTree.deleteNode`: NoNode if absent; raises the parent's pzxid.
    /// A node that still has children (possible only when replaying over a
    /// fuzzy snapshot) goes with its whole subtree, silently.
    pub(crate) fn delete_node(
        &mut self,
        p: &str,
        zxid: i64,
        events: &mut Events,
    ) -> Result<(), ErrorCode> {
        let i = self.store.find(p).ok_or(ErrorCode::NoNode)?;
        let parent_path = path::parent(p).ok_or(ErrorCode::NoNode)?;
        let parent = self.store.find(parent_path).filter(|&pi| pi != i);
        let Some(parent) = parent else {
            return Err(ErrorCode::BadArguments); // the root
        };
        let acl = events.wanted.then(|| self.node_acl(i));
        self.remove_descendants(i);
        let removed = self.remove_node(i, Some(parent));
        self.quota_deleted(p, parent_path, path::name(p), removed.data().len());
        self.update_meta(parent, |n| {
            if zxid > n.stat.pzxid {
                n.stat.pzxid = zxid;
            }
        });
        if let Some(acl) = acl {
            events.add(|| event(p, event_type::NODE_DELETED, acl));
        }
        events.add(|| {
            let acl = self.node_acl(parent);
            event(parent_path, event_type::NODE_CHILDREN_CHANGED, acl)
        });
        Ok(())
    }

    /// Removes every descendant of slot `i`, children before parents.
    fn remove_descendants(&mut self, i: u32) {
        let mut order = Vec::new();
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            for c in self.store.children(n) {
                order.push((c, n));
                stack.push(c);
            }
        }
        for (c, parent) in order.into_iter().rev() {
            self.remove_node(c, Some(parent));
        }
    }

    fn set_data(
        &mut self,
        p: &str,
        data: Option<&[u8]>,
        version: i32,
        zxid: i64,
        time: i64,
        events: &mut Events,
    ) -> Result<Stat, ErrorCode> {
        let i = self.store.find(p).ok_or(ErrorCode::NoNode)?;
        let old_len = self.store.node(i).data().len() as i64;
        let null = data.is_none();
        let data = data.unwrap_or_default();
        self.replace_data(i, data);
        self.store.node_mut(i).set_null(null);
        self.quota_set(p, data.len() as i64 - old_len);
        self.update_meta(i, |n| {
            n.stat.mtime = time;
            n.stat.mzxid = zxid;
            n.stat.version = version;
        });
        events.add(|| event(p, event_type::NODE_DATA_CHANGED, self.node_acl(i)));
        Ok(client_stat(self.store.node(i)))
    }

    fn set_acl(&mut self, p: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let i = self.store.find(p).ok_or(ErrorCode::NoNode)?;
        let new = self.acls.intern(acl);
        let old = self.store.node(i).acl;
        self.update_meta(i, |n| {
            n.acl = new;
            n.stat.aversion = version;
        });
        self.acls.release(old);
        Ok(client_stat(self.store.node(i)))
    }

    /// `DataTree.killSession`: deletes the txn's paths in order, then any
    /// other ephemerals the session still owns (sorted), and forgets it.
    fn close_session(&mut self, session: i64, paths: &[String], zxid: i64, events: &mut Events) {
        for p in paths {
            // NoNode is expected when replaying; ZooKeeper ignores it too.
            let _ = self.delete_node(p, zxid, events);
        }
        let rest = self.ephemerals.remove(&session).unwrap_or_default();
        for p in rest {
            let _ = self.delete_node(&p, zxid, events);
        }
        self.sessions.remove(&session);
    }
}

fn event(path: &str, kind: i32, acl: std::sync::Arc<[proto::Acl]>) -> WatchEvent {
    WatchEvent {
        path: path.to_string(),
        kind,
        acl,
    }
}

impl DataTree {
    /// The ACL of slot `i` (shared, cheap to clone).
    fn node_acl(&self, i: u32) -> std::sync::Arc<[proto::Acl]> {
        self.acls.get(self.store.node(i).acl).clone()
    }
}
