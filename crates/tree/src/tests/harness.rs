//! A tiny server: prepares, applies and acknowledges one request at a time
//! (or several prepared before any is applied).

use proto::txn::TxnEntry;
use proto::{Acl, CreateOp, ErrorCode, Id, OpCode, Request, Response};

use crate::{ApplyResult, AuthContext, DataTree, PrepContext, Prepper};

pub struct H {
    pub tree: DataTree,
    pub prep: Prepper,
    pub zxid: i64,
    pub time: i64,
    pub ids: Vec<Id>,
    pub is_super: bool,
}

pub fn ip() -> Id {
    Id {
        scheme: "ip".into(),
        id: "127.0.0.1".into(),
    }
}

impl H {
    pub fn new() -> H {
        H {
            tree: DataTree::new(),
            prep: Prepper::new(),
            zxid: 0,
            time: 1_000,
            ids: vec![ip()],
            is_super: false,
        }
    }

    pub fn auth(&self) -> AuthContext<'_> {
        AuthContext {
            ids: &self.ids,
            is_super: self.is_super,
        }
    }

    /// Prepares without applying.
    pub fn prepare(&mut self, session: i64, req: &Request) -> TxnEntry {
        self.zxid += 1;
        self.time += 1;
        let ctx = PrepContext {
            session_id: session,
            cxid: 7,
            zxid: self.zxid,
            time_ms: self.time,
            auth: AuthContext {
                ids: &self.ids,
                is_super: self.is_super,
            },
        };
        self.prep.prepare(&self.tree, req, &ctx)
    }

    pub fn apply(&mut self, e: &TxnEntry) -> ApplyResult {
        let r = self.tree.apply(e);
        self.prep.applied(e.header.zxid);
        r
    }

    pub fn write(&mut self, session: i64, req: &Request) -> ApplyResult {
        let e = self.prepare(session, req);
        self.apply(&e)
    }

    pub fn ok(&mut self, session: i64, req: &Request) -> Response {
        let r = self.write(session, req);
        match r.result {
            Ok(resp) => resp,
            Err(e) => panic!("{req:?} failed: {e:?}"),
        }
    }

    pub fn err(&mut self, session: i64, req: &Request) -> ErrorCode {
        match self.write(session, req).result {
            Ok(r) => panic!("{req:?} succeeded: {r:?}"),
            Err(e) => e,
        }
    }

    pub fn read(&self, req: &Request) -> Result<Response, ErrorCode> {
        self.tree.read(req, &self.auth(), 1)
    }

    pub fn open_session(&mut self, id: i64, timeout_ms: i32) {
        self.zxid += 1;
        let e = self
            .prep
            .prepare_create_session(id, timeout_ms, self.zxid, self.time);
        assert_eq!(self.apply(&e).result, Ok(Response::Empty));
    }
}
pub fn create(path: &str, data: &[u8], flags: i32) -> Request {
    create_op(OpCode::Create, path, data, flags, Acl::open_unsafe(), 0)
}

pub fn create2(path: &str, data: &[u8], flags: i32) -> Request {
    create_op(OpCode::Create2, path, data, flags, Acl::open_unsafe(), 0)
}

pub fn create_acl(path: &str, acl: Vec<Acl>) -> Request {
    create_op(OpCode::Create, path, b"", 0, acl, 0)
}

pub fn create_op(
    op: OpCode,
    path: &str,
    data: &[u8],
    flags: i32,
    acl: Vec<Acl>,
    ttl: i64,
) -> Request {
    Request::Create(CreateOp {
        op,
        path: path.into(),
        data: Some(data.to_vec()),
        acl,
        flags,
        ttl,
    })
}

pub fn delete(path: &str, version: i32) -> Request {
    Request::Delete(proto::DeleteRequest {
        path: path.into(),
        version,
    })
}

pub fn set(path: &str, data: &[u8], version: i32) -> Request {
    Request::SetData(proto::SetDataRequest {
        path: path.into(),
        data: Some(data.to_vec()),
        version,
    })
}

pub fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> Request {
    Request::SetAcl(proto::SetAclRequest {
        path: path.into(),
        acl,
        version,
    })
}

pub fn check(path: &str, version: i32) -> Request {
    Request::Check(proto::CheckVersionRequest {
        path: path.into(),
        version,
    })
}

pub fn get(path: &str) -> Request {
    Request::GetData(proto::GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

pub fn exists(path: &str) -> Request {
    Request::Exists(proto::ExistsRequest {
        path: path.into(),
        watch: false,
    })
}

pub fn children(path: &str) -> Request {
    Request::GetChildren(proto::GetChildrenRequest {
        path: path.into(),
        watch: false,
    })
}

pub fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id {
            scheme: scheme.into(),
            id: id.into(),
        },
    }
}
