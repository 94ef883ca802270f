//! The Rust `zookeeper-client` crate against a real paddock on 127.0.0.1:
//! creates, reads, a watch, ephemerals, multi, all unchanged client code.

use zookeeper_client as zk;

async fn start() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paddock_server::Config {
        data_dir: dir.path().to_path_buf(),
        data_log_dir: dir.path().to_path_buf(),
        client_port: 0,
        client_port_address: "127.0.0.1".parse().unwrap(),
        ..Default::default()
    };
    let server = paddock_server::Server::bind(cfg).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending()));
    (addr.to_string(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_and_watch() {
    let (addr, _dir) = start().await;
    let client = zk::Client::connect(&addr).await.unwrap();
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let (_, watcher) = client.check_and_watch_stat("/abc").await.unwrap();
    let (stat, _) = client.create("/abc", b"data", &opts).await.unwrap();
    assert_eq!(
        client.get_data("/abc").await.unwrap(),
        (b"data".to_vec(), stat)
    );
    let event = watcher.changed().await;
    assert_eq!(event.event_type, zk::EventType::NodeCreated);
    assert_eq!(event.path, "/abc");

    let (_, _, data_watcher) = client.get_and_watch_data("/abc").await.unwrap();
    client
        .set_data("/abc", b"new", Some(stat.version))
        .await
        .unwrap();
    let event = data_watcher.changed().await;
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);

    let err = client.create("/abc", b"", &opts).await.unwrap_err();
    assert_eq!(err, zk::Error::NodeExists);
    let err = client.delete("/abc", Some(99)).await.unwrap_err();
    assert_eq!(err, zk::Error::BadVersion);
    client.delete("/abc", None).await.unwrap();
    assert_eq!(client.check_stat("/abc").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_go_with_their_session() {
    let (addr, _dir) = start().await;
    let owner = zk::Client::connect(&addr).await.unwrap();
    let other = zk::Client::connect(&addr).await.unwrap();
    let opts = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    owner.create("/e", b"", &opts).await.unwrap();
    let (_, watcher) = other.check_and_watch_stat("/e").await.unwrap();
    drop(owner);
    let event = watcher.changed().await;
    assert_eq!(event.event_type, zk::EventType::NodeDeleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_is_atomic() {
    let (addr, _dir) = start().await;
    let client = zk::Client::connect(&addr).await.unwrap();
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let mut writer = client.new_multi_writer();
    writer.add_create("/m1", b"1", &opts).unwrap();
    writer.add_create("/m1", b"2", &opts).unwrap();
    assert!(writer.commit().await.is_err());
    assert_eq!(client.check_stat("/m1").await.unwrap(), None);
    let mut writer = client.new_multi_writer();
    writer.add_create("/m1", b"1", &opts).unwrap();
    writer.add_create("/m2", b"2", &opts).unwrap();
    assert_eq!(writer.commit().await.unwrap().len(), 2);
    let mut children = client.list_children("/").await.unwrap();
    children.sort();
    assert_eq!(children, vec!["m1", "m2", "zookeeper"]);
}
