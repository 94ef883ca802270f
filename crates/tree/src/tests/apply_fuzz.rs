//! Apply never panics and keeps every index in step, whatever the txn
//! (weird paths, replays, unknown error codes, nested multis...).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proto::txn::*;
use proto::{Acl, OpCode};

use crate::ephemeral::EphemeralType;
use crate::DataTree;

const PATHS: &[&str] = &[
    "/",
    "",
    "a",
    "//",
    "/a",
    "/a/",
    "/a/b",
    "/a//b",
    "/b",
    "/a/b/c",
    "/zookeeper",
    "/zookeeper/config",
    "/ü",
];

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(PATHS).prop_map(String::from)
}

fn acl() -> impl Strategy<Value = Vec<Acl>> {
    prop_oneof![
        Just(Acl::open_unsafe()),
        Just(Acl::read_unsafe()),
        Just(vec![])
    ]
}

fn leaf() -> impl Strategy<Value = Txn> {
    let data = prop::collection::vec(any::<u8>(), 0..3);
    prop_oneof![
        (path(), data.clone(), acl(), any::<bool>(), -2..4i32).prop_map(
            |(path, data, acl, ephemeral, parent_cversion)| {
                Txn::Create(CreateTxn {
                    path,
                    data: Some(data),
                    acl,
                    ephemeral,
                    parent_cversion,
                })
            }
        ),
        (
            path(),
            acl(),
            -1..3i32,
            prop_oneof![Just(-1i64), Just(0), 1..100i64, Just(i64::MAX)]
        )
            .prop_map(|(path, acl, parent_cversion, ttl)| {
                Txn::CreateTtl(CreateTtlTxn {
                    path,
                    data: Some(vec![]),
                    acl,
                    parent_cversion,
                    ttl,
                })
            }),
        (path(), -1..3i32).prop_map(|(path, parent_cversion)| {
            Txn::CreateContainer(CreateContainerTxn {
                path,
                data: Some(vec![1]),
                acl: Acl::open_unsafe(),
                parent_cversion,
            })
        }),
        path().prop_map(|path| Txn::Delete(DeleteTxn { path })),
        (path(), data, any::<i32>()).prop_map(|(path, data, version)| Txn::SetData(SetDataTxn {
            path,
            data: Some(data),
            version
        })),
        (path(), acl(), any::<i32>()).prop_map(|(path, acl, version)| Txn::SetAcl(SetAclTxn {
            path,
            acl,
            version
        })),
        (path(), any::<i32>())
            .prop_map(|(path, version)| Txn::Check(CheckVersionTxn { path, version })),
        any::<i32>().prop_map(|timeout_ms| Txn::CreateSession(CreateSessionTxn { timeout_ms })),
        prop::collection::vec(path(), 0..3)
            .prop_map(|paths_to_delete| Txn::CloseSession(CloseSessionTxn { paths_to_delete })),
        prop_oneof![Just(0), Just(-101), Just(12345)].prop_map(|err| Txn::Error(ErrorTxn { err })),
    ]
}

fn txn() -> impl Strategy<Value = Txn> {
    prop_oneof![4 => leaf(), 1 => prop::collection::vec(leaf(), 0..4).prop_map(Txn::Multi)]
}

fn entry() -> impl Strategy<Value = TxnEntry> {
    let ops = vec![1, 15, 19, 21, 2, 20, 5, 7, 13, -10, -11, -1, 14, 99];
    (
        txn(),
        prop::sample::select(ops),
        prop_oneof![Just(0i64), 1..4i64, Just(i64::MIN), Just(-1i64)],
        0..50i64,
    )
        .prop_map(|(txn, op, client_id, zxid)| TxnEntry {
            header: TxnHeader {
                client_id,
                cxid: 1,
                zxid,
                time: zxid * 10,
                op,
            },
            txn,
        })
}

pub(crate) fn check_invariants(t: &DataTree) {
    assert_eq!(t.digest(), t.compute_digest(), "digest");
    let mut size = 0u64;
    let mut ephemerals: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let (mut containers, mut ttls) = (BTreeSet::new(), BTreeSet::new());
    let mut acls = BTreeSet::new();
    for i in t.store.slots() {
        let n = t.store.node(i);
        size += crate::path::utf16_len(n.path_bytes()) + n.data().len() as u64;
        acls.insert(n.acl);
        match EphemeralType::of(n.stat.ephemeral_owner) {
            EphemeralType::Normal => {
                ephemerals
                    .entry(n.stat.ephemeral_owner)
                    .or_default()
                    .insert(n.path().to_string());
            }
            EphemeralType::Container => {
                containers.insert(n.path().to_string());
            }
            EphemeralType::Ttl(_) => {
                ttls.insert(n.path().to_string());
            }
            EphemeralType::Void => {}
        }
        for c in t.store.children(i) {
            let child = t.store.node(c).path();
            assert_eq!(crate::path::parent(child), Some(n.path()), "child link");
        }
        if n.path() != "/" {
            let p = crate::path::parent(n.path()).unwrap();
            let pi = t.store.find(p).expect("parent exists");
            assert!(t.store.children(pi).any(|c| c == i), "linked under parent");
        }
    }
    assert_eq!(size, t.approximate_data_size(), "data size");
    let got: BTreeMap<i64, BTreeSet<String>> = t
        .ephemerals
        .iter()
        .map(|(k, v)| (*k, v.iter().map(|p| p.to_string()).collect()))
        .collect();
    assert_eq!(got, ephemerals, "ephemerals");
    let got_c: BTreeSet<String> = t.containers.iter().map(|p| p.to_string()).collect();
    let got_t: BTreeSet<String> = t.ttls.iter().map(|p| p.to_string()).collect();
    assert_eq!((got_c, got_t), (containers, ttls), "containers, ttls");
    assert_eq!(t.acl_cache_len(), acls.len(), "ACL cache");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn apply_never_panics_and_keeps_indices(entries in prop::collection::vec(entry(), 1..30)) {
        let mut t = DataTree::new();
        for e in &entries {
            let r = t.apply(e);
            prop_assert_eq!(r.zxid, e.header.zxid);
            check_invariants(&t);
        }
        let mut buf = Vec::new();
        t.serialize(&mut buf).unwrap();
        let back = DataTree::deserialize(&mut &buf[..]).unwrap();
        prop_assert_eq!(back.digest(), t.digest());
        check_invariants(&back);
        let _ = OpCode::Create;
    }

    /// Applying without events (replay, no watch set) changes the tree
    /// exactly as applying with them, and answers the same.
    #[test]
    fn apply_without_events_changes_the_same(entries in prop::collection::vec(entry(), 1..30)) {
        let (mut with, mut without) = (DataTree::new(), DataTree::new());
        for e in &entries {
            let a = with.apply_with(e, true);
            let b = without.apply_with(e, false);
            prop_assert_eq!(&a.result, &b.result);
            prop_assert!(b.events.is_empty());
        }
        prop_assert_eq!(with.digest(), without.digest());
        let (mut x, mut y) = (Vec::new(), Vec::new());
        with.serialize(&mut x).unwrap();
        without.serialize(&mut y).unwrap();
        prop_assert_eq!(x, y);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// A snapshot written step by step while txns keep applying holds the
    /// tree exactly as it was when it began.
    #[test]
    fn live_snapshot_is_the_tree_when_it_began(
        before in prop::collection::vec(entry(), 0..20),
        during in prop::collection::vec((entry(), 0..4usize), 0..40),
    ) {
        let mut t = DataTree::new();
        for e in &before {
            t.apply(e);
        }
        let mut expected = Vec::new();
        t.clone().serialize(&mut expected).unwrap();
        let mut got = Vec::new();
        let mut w = t.snapshot_begin(&mut got);
        prop_assert_eq!(w.zxid(), t.last_zxid());
        let mut done = false;
        for (e, budget) in &during {
            t.apply(e);
            check_invariants(&t);
            if !done {
                done = t.snapshot_step(&mut w, *budget, &mut got).unwrap();
            }
        }
        while !t.snapshot_step(&mut w, 1, &mut got).unwrap() {}
        prop_assert!(!t.snapshot_in_progress());
        prop_assert_eq!(&got, &expected);
        let back = DataTree::deserialize(&mut &got[..]).unwrap();
        check_invariants(&back);
    }
}
