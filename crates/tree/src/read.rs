//! Read requests, served from the tree as ZooKeeper 3.8's
//! `FinalRequestProcessor` does: lookups first (NoNode), then the READ
//! check (NoAuth). Reads do not validate paths (ZooKeeper does not either,
//! except exists, which rejects a NUL); an invalid path is simply absent.

use proto::records::perms;
use proto::{
    ErrorCode, GetAclResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, MultiResult, Request, Response, Stat, SyncResponse,
};

use crate::acl;
use crate::path;
use crate::store::Node;
use crate::tree::{client_stat, DataTree};
use crate::AuthContext;

impl DataTree {
    /// Serves a read request (see the crate docs for the list). Exists on a
    /// missing node is `Err(NoNode)`; the server arms the watch anyway.
    pub fn read(
        &self,
        req: &Request,
        auth: &AuthContext,
        session_id: i64,
    ) -> Result<Response, ErrorCode> {
        match req {
            Request::Exists(r) => self.read_exists(&r.path).map(Response::Stat),
            Request::GetData(r) => {
                let (data, stat) = self.get_data(&r.path, auth)?;
                Ok(Response::GetData(GetDataResponse {
                    data: data.map(<[u8]>::to_vec),
                    stat,
                }))
            }
            Request::GetChildren(r) => Ok(Response::GetChildren(GetChildrenResponse {
                children: self.get_children(&r.path, auth)?.0,
            })),
            Request::GetChildren2(r) => {
                let (children, stat) = self.get_children(&r.path, auth)?;
                Ok(Response::GetChildren2(GetChildren2Response {
                    children,
                    stat,
                }))
            }
            Request::GetAcl(r) => self.read_acl(&r.path, auth),
            Request::GetAllChildrenNumber(r) => self
                .all_children_number(&r.path, auth)
                .map(Response::AllChildrenNumber),
            Request::GetEphemerals(r) => Ok(Response::Ephemerals(GetEphemeralsResponse {
                ephemerals: self.ephemerals_under(session_id, &r.prefix_path),
            })),
            Request::MultiRead(ops) => self.multi_read(ops, auth),
            Request::Sync(r) => Ok(Response::Sync(SyncResponse {
                path: r.path.clone(),
            })),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    fn lookup(&self, p: &str) -> Result<&Node, ErrorCode> {
        self.store.get(path::canonical(p)).ok_or(ErrorCode::NoNode)
    }

    fn read_exists(&self, p: &str) -> Result<Stat, ErrorCode> {
        if p.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        self.lookup(p).map(client_stat)
    }

    /// getData without copying the data: NoNode, then READ.
    pub fn get_data(
        &self,
        p: &str,
        auth: &AuthContext,
    ) -> Result<(Option<&[u8]>, Stat), ErrorCode> {
        let n = self.lookup(p)?;
        acl::require(self.acls.get(n.acl), perms::READ, auth)?;
        Ok((n.client_data(), client_stat(n)))
    }

    /// getChildren(2): NoNode, then READ; names in no particular order.
    pub fn get_children(
        &self,
        p: &str,
        auth: &AuthContext,
    ) -> Result<(Vec<String>, Stat), ErrorCode> {
        let n = self.lookup(p)?;
        acl::require(self.acls.get(n.acl), perms::READ, auth)?;
        let i = self.store.find(n.path()).ok_or(ErrorCode::NoNode)?;
        let names = self
            .store
            .children(i)
            .map(|c| path::name(self.store.node(c).path()).to_string())
            .collect();
        Ok((names, client_stat(n)))
    }

    /// getACL: READ or ADMIN needed; without ADMIN, digest ids read `user:x`.
    fn read_acl(&self, p: &str, auth: &AuthContext) -> Result<Response, ErrorCode> {
        let n = self.lookup(p)?;
        let list = self.acls.get(n.acl);
        acl::require(list, perms::READ | perms::ADMIN, auth)?;
        let acl = if acl::check(list, perms::ADMIN, auth) {
            list.to_vec()
        } else {
            acl::redact(list)
        };
        Ok(Response::GetAcl(GetAclResponse {
            acl,
            stat: client_stat(n),
        }))
    }

    /// Descendants of `p` (all nodes but the root itself for `/`).
    fn all_children_number(&self, p: &str, auth: &AuthContext) -> Result<i32, ErrorCode> {
        let n = self.lookup(p)?;
        acl::require(self.acls.get(n.acl), perms::READ, auth)?;
        if n.path() == "/" {
            return Ok((self.store.len() - 1) as i32);
        }
        let mut count = 0usize;
        let mut stack: Vec<u32> = self.store.find(n.path()).into_iter().collect();
        while let Some(i) = stack.pop() {
            for c in self.store.children(i) {
                count += 1;
                stack.push(c);
            }
        }
        Ok(count as i32)
    }

    /// The session's ephemerals whose path starts with `prefix` (all of
    /// them for an empty or `/` prefix), sorted.
    fn ephemerals_under(&self, session_id: i64, prefix: &str) -> Vec<String> {
        let Some(set) = self.ephemerals.get(&session_id) else {
            return Vec::new();
        };
        let all = prefix.trim().is_empty() || prefix.trim() == "/";
        set.iter()
            .filter(|p| all || p.starts_with(prefix))
            .map(|p| p.to_string())
            .collect()
    }

    /// multiRead: getData and getChildren only, each with its own result.
    fn multi_read(&self, ops: &[Request], auth: &AuthContext) -> Result<Response, ErrorCode> {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let res = match op {
                Request::GetData(r) => self
                    .get_data(&r.path, auth)
                    .map(|(d, s)| MultiResult::GetData(d.map(<[u8]>::to_vec), s)),
                Request::GetChildren(r) => self
                    .get_children(&r.path, auth)
                    .map(|(c, _)| MultiResult::GetChildren(c)),
                // ZooKeeper fails the whole request ("Invalid type of op").
                _ => return Err(ErrorCode::MarshallingError),
            };
            out.push(res.unwrap_or_else(MultiResult::Error));
        }
        Ok(Response::Multi(out))
    }
}
