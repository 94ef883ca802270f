use proto::request::create_mode as mode;
use proto::{Acl, OpCode};

use super::harness::*;
use crate::{DataTree, TreeError};

fn sample() -> H {
    let mut h = H::new();
    h.open_session(0x42, 12_000);
    h.ok(1, &create("/a", b"alpha", 0));
    h.ok(1, &create("/a/b", &[0u8, 1, 2, 255], 0));
    h.ok(0x42, &create("/a/e", b"", mode::EPHEMERAL));
    h.ok(1, &create_acl("/ro", Acl::read_unsafe()));
    h.ok(
        1,
        &create_op(
            OpCode::CreateContainer,
            "/c",
            b"",
            mode::CONTAINER,
            Acl::open_unsafe(),
            0,
        ),
    );
    h.ok(
        1,
        &create_op(
            OpCode::CreateTtl,
            "/t",
            b"",
            mode::PERSISTENT_WITH_TTL,
            Acl::open_unsafe(),
            5,
        ),
    );
    h.ok(1, &create("/ü ✓", b"u", 0));
    h.ok(1, &set("/a", b"beta", -1));
    h
}

/// Loads `b` with and without the parsing thread: both must agree.
fn load(b: &[u8]) -> Result<DataTree, TreeError> {
    let threaded = DataTree::deserialize_on(&mut &b[..], true);
    let inline = DataTree::deserialize_on(&mut &b[..], false);
    match (&threaded, &inline) {
        (Ok(a), Ok(b)) => assert_eq!(bytes(a), bytes(b), "same tree both ways"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "same error both ways"),
        _ => panic!(
            "threaded {:?} but inline {:?}",
            threaded.is_ok(),
            inline.is_ok()
        ),
    }
    threaded
}

fn bytes(t: &DataTree) -> Vec<u8> {
    let mut v = Vec::new();
    t.serialize(&mut v).unwrap();
    v
}

#[test]
fn round_trip_keeps_everything() {
    let h = sample();
    let buf = bytes(&h.tree);
    let t = load(&buf).unwrap();
    assert_eq!(t.digest(), h.tree.digest());
    assert_eq!(t.compute_digest(), h.tree.digest());
    assert_eq!(t.last_zxid(), h.tree.last_zxid());
    assert_eq!(t.node_count(), h.tree.node_count());
    assert_eq!(t.approximate_data_size(), h.tree.approximate_data_size());
    assert_eq!(t.sessions(), vec![(0x42, 12_000)]);
    assert_eq!(t.ephemerals_of(0x42), vec!["/a/e"]);
    assert_eq!((t.container_count(), t.ttl_count()), (1, 1));
    assert_eq!(t.acl_cache_len(), h.tree.acl_cache_len());
    for p in [
        "/",
        "/zookeeper/config",
        "/a",
        "/a/b",
        "/a/e",
        "/ro",
        "/c",
        "/t",
        "/ü ✓",
    ] {
        assert_eq!(t.stat(p), h.tree.stat(p), "{p}");
        assert_eq!(
            t.data(p).map(|d| d.0.to_vec()),
            h.tree.data(p).map(|d| d.0.to_vec())
        );
        assert_eq!(t.acl(p), h.tree.acl(p));
    }
    assert_eq!(bytes(&t), buf, "re-serializing gives the same bytes");
}

#[test]
fn loaded_tree_keeps_working() {
    let h = sample();
    let buf = bytes(&h.tree);
    let mut h2 = H::new();
    h2.tree = load(&buf).unwrap();
    h2.zxid = h.zxid;
    h2.ok(1, &create("/a/b/c", b"", 0));
    h2.ok(1, &delete("/ro", -1));
    h2.ok(0x42, &proto::Request::CloseSession);
    assert!(h2.tree.stat("/a/e").is_none());
    assert_eq!(h2.tree.digest(), h2.tree.compute_digest());
}

#[test]
fn version_1_snapshots_still_load() {
    // Version 1 differs only in how its stored digest was computed.
    let h = sample();
    let v2 = bytes(&h.tree);
    let mut v1 = v2.clone();
    v1[8..12].copy_from_slice(&1u32.to_be_bytes());
    let at = v1.len() - 8;
    v1[at..].copy_from_slice(&h.tree.compute_digest_v1().to_be_bytes());
    assert_ne!(h.tree.compute_digest_v1(), h.tree.digest());
    let t = load(&v1).unwrap();
    assert_eq!(t.digest(), h.tree.digest(), "kept the current way");
    assert_eq!(bytes(&t), v2, "written back as version 2");
    // A version-1 file is checked against the version-1 digest.
    let mut wrong = v2.clone();
    wrong[8..12].copy_from_slice(&1u32.to_be_bytes());
    assert!(matches!(
        load(&wrong),
        Err(TreeError::DigestMismatch { .. })
    ));
}

#[test]
fn fields_longer_than_the_loader_buffer_round_trip() {
    // The loader takes fields out of a 256 KiB buffer; longer ones stream.
    let mut h = sample();
    let big: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    h.ok(1, &create("/big", &big, 0));
    let long_path = format!("/{}", "p".repeat(300_000));
    h.ok(1, &create(&long_path, b"x", 0));
    let buf = bytes(&h.tree);
    let t = load(&buf).unwrap();
    assert_eq!(t.data("/big").unwrap().0, &big[..]);
    assert_eq!(t.data(&long_path).unwrap().0, b"x");
    assert_eq!(bytes(&t), buf);
    for len in [buf.len() - 1, buf.len() / 2, 400_000] {
        assert!(load(&buf[..len]).is_err(), "prefix {len}");
    }
}

#[test]
fn bytes_after_the_body_are_an_error() {
    let mut buf = bytes(&sample().tree);
    buf.push(0);
    assert!(matches!(load(&buf), Err(TreeError::Corrupt { .. })));
}

#[test]
fn every_truncation_is_an_error() {
    let buf = bytes(&sample().tree);
    for len in 0..buf.len() {
        assert!(load(&buf[..len]).is_err(), "prefix {len}");
    }
}

#[test]
fn corruption_is_detected() {
    let buf = bytes(&sample().tree);
    let mut bad_magic = buf.clone();
    bad_magic[0] ^= 1;
    assert!(matches!(load(&bad_magic), Err(TreeError::BadMagic)));
    let mut bad_version = buf.clone();
    bad_version[11] = 9;
    assert!(matches!(
        load(&bad_version),
        Err(TreeError::UnsupportedVersion { version: 9 })
    ));
    // Flipping any single byte after the header fails or changes nothing
    // observable; it never panics. Most flips are caught.
    let mut caught = 0;
    for i in 12..buf.len() {
        let mut b = buf.clone();
        b[i] ^= 0x5a;
        if load(&b).is_err() {
            caught += 1;
        }
    }
    assert!(
        caught > (buf.len() - 12) * 9 / 10,
        "caught {caught} of {}",
        buf.len() - 12
    );
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678_u64;
    for n in 0..2000 {
        let mut b = Vec::new();
        b.extend_from_slice(crate::snapshot::MAGIC);
        b.extend_from_slice(&1u32.to_be_bytes());
        for _ in 0..(n % 200) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b.push((seed >> 33) as u8);
        }
        let _ = load(&b);
    }
    // Huge declared lengths do not allocate up front.
    let mut b = Vec::new();
    b.extend_from_slice(crate::snapshot::MAGIC);
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(load(&b).is_err());
}

#[test]
fn many_parts_with_children_before_their_parents_round_trip() {
    // More nodes than one part holds, and freed early slots reused by deep
    // nodes, so the body lists some children before their parents.
    let mut h = H::new();
    for i in 0..40 {
        h.ok(1, &create(&format!("/x{i}"), b"", 0));
    }
    for p in 0..3 {
        h.ok(1, &create(&format!("/p{p}"), b"p", 0));
        for c in 0..900 {
            h.ok(1, &create(&format!("/p{p}/c{c}"), b"child data", 0));
        }
    }
    for i in 0..40 {
        h.ok(1, &delete(&format!("/x{i}"), -1));
    }
    for i in 0..40 {
        h.ok(1, &create(&format!("/p2/c{}/d{i}", i * 7), b"deep", 0));
    }
    let buf = bytes(&h.tree);
    let t = load(&buf).unwrap();
    assert_eq!(t.node_count(), h.tree.node_count());
    assert_eq!(t.digest(), h.tree.compute_digest());
    assert_eq!(t.approximate_data_size(), h.tree.approximate_data_size());
    for p in ["/p0", "/p2", "/p2/c7", "/p2/c273/d39", "/p1/c899"] {
        assert_eq!(t.stat(p), h.tree.stat(p), "{p}");
        // A child set's order is unspecified (a hash set's, as in
        // ZooKeeper): a loaded set is sized for its children at once, so
        // it need not list them as the set that grew one create at a time.
        let sorted = |t: &DataTree| {
            t.children(p).map(|c| {
                let mut c: Vec<String> = c.into_iter().map(String::from).collect();
                c.sort();
                c
            })
        };
        assert_eq!(sorted(&t), sorted(&h.tree), "{p}");
    }
    assert_eq!(bytes(&t), buf);
}

#[test]
fn a_repeated_path_an_orphan_or_a_relative_path_is_corrupt() {
    let mut h = H::new();
    h.ok(1, &create("/a", b"1", 0));
    h.ok(1, &create("/b", b"2", 0));
    h.ok(1, &create("/a/c", b"3", 0));
    let buf = bytes(&h.tree);
    // Rewrites the length-prefixed path `from` (once in the body) as `to`.
    let with_path = |from: &str, to: &str| {
        assert_eq!(from.len(), to.len());
        let mut needle = (from.len() as u32).to_be_bytes().to_vec();
        needle.extend_from_slice(from.as_bytes());
        let at = buf
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("path in the body");
        let mut b = buf.clone();
        b[at + 4..at + 4 + to.len()].copy_from_slice(to.as_bytes());
        b
    };
    let corrupt = |b: &[u8]| match load(b) {
        Err(TreeError::Corrupt { what }) => what,
        other => panic!("expected corruption, got ok={}", other.is_ok()),
    };
    assert_eq!(corrupt(&with_path("/b", "/a")), "duplicate path");
    assert_eq!(
        corrupt(&with_path("/a/c", "/x/c")),
        "node without its parent"
    );
    assert_eq!(corrupt(&with_path("/", "x")), "node path");
}
