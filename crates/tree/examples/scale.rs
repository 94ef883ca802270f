//! Scale check: N znodes of 100 bytes through prepare + apply, then reads.
//! Prints time per op and the process's resident memory.
//!
//! `cargo run --release -p paddock-tree --example scale -- 1000000`

use std::time::Instant;

use paddock_tree::{AuthContext, DataTree, PrepContext, Prepper};
use proto::{Acl, CreateOp, GetDataRequest, Id, OpCode, Request};

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let base = rss_mb();
    let ids = [Id {
        scheme: "ip".into(),
        id: "127.0.0.1".into(),
    }];
    let auth = AuthContext {
        ids: &ids,
        is_super: false,
    };
    let mut tree = DataTree::new();
    let mut prep = Prepper::new();
    let mut zxid = 0i64;
    let mut write = |tree: &mut DataTree, prep: &mut Prepper, req: &Request| {
        zxid += 1;
        let ctx = PrepContext {
            session_id: 1,
            cxid: 0,
            zxid,
            time_ms: zxid,
            auth,
        };
        let e = prep.prepare(tree, req, &ctx);
        let r = tree.apply(&e);
        prep.applied(zxid);
        assert!(r.result.is_ok(), "{r:?}");
    };
    let create = |path: String| {
        Request::Create(CreateOp {
            op: OpCode::Create,
            path,
            data: Some(vec![7u8; 100]),
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl: 0,
        })
    };
    let fanout = 1000;
    for p in 0..n.div_ceil(fanout) {
        write(&mut tree, &mut prep, &create(format!("/p{p:04}")));
    }
    let t = Instant::now();
    for i in 0..n {
        write(
            &mut tree,
            &mut prep,
            &create(format!("/p{:04}/node-{i:08}", i / fanout)),
        );
    }
    let el = t.elapsed();
    println!(
        "create: {n} in {el:?} = {:.0} ns/op",
        el.as_nanos() as f64 / n as f64
    );
    println!(
        "rss: {:.1} MB ({:.1} MB for the tree, {:.0} B/node)",
        rss_mb(),
        rss_mb() - base,
        (rss_mb() - base) * 1048576.0 / n as f64
    );
    let t = Instant::now();
    let mut total = 0usize;
    for i in 0..n {
        let path = format!("/p{:04}/node-{i:08}", i / fanout);
        let req = Request::GetData(GetDataRequest { path, watch: false });
        if let Ok(proto::Response::GetData(r)) = tree.read(&req, &auth, 1) {
            total += r.data.map_or(0, |d| d.len());
        }
    }
    let el = t.elapsed();
    println!(
        "getData: {n} in {el:?} = {:.0} ns/op ({total} bytes)",
        el.as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for i in 0..n {
        let path = format!("/p{:04}/node-{i:08}", i / fanout);
        let _ = tree.get_data(&path, &auth);
    }
    let el = t.elapsed();
    println!(
        "get_data (borrowed): {:.0} ns/op",
        el.as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for i in 0..n {
        let path = format!("/p{:04}/node-{i:08}", i / fanout);
        let req = Request::SetData(proto::SetDataRequest {
            path,
            data: Some(vec![8u8; 100]),
            version: -1,
        });
        write(&mut tree, &mut prep, &req);
    }
    let el = t.elapsed();
    println!("setData: {:.0} ns/op", el.as_nanos() as f64 / n as f64);
    let t = Instant::now();
    let mut buf = Vec::new();
    tree.serialize(&mut buf).unwrap();
    println!("serialize: {:?}, {} MB", t.elapsed(), buf.len() >> 20);
    let t = Instant::now();
    let back = DataTree::deserialize(&mut &buf[..]).unwrap();
    println!("deserialize: {:?}", t.elapsed());
    assert_eq!(back.digest(), tree.digest());
    let t = Instant::now();
    for i in 0..n {
        let path = format!("/p{:04}/node-{i:08}", i / fanout);
        let req = Request::Delete(proto::DeleteRequest { path, version: -1 });
        write(&mut tree, &mut prep, &req);
    }
    let el = t.elapsed();
    println!("delete: {:.0} ns/op", el.as_nanos() as f64 / n as f64);
}
