// Drives Apache ZooKeeper 3.8's Java client through every request the golden
// captures need. Run by capture.py with the recording proxy's address; it
// prints CUT when the proxy should drop the connection (to make the client
// reconnect and send setWatches / setWatches2) and waits to be reconnected.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

public class GoldenClient {
    static final Semaphore connected = new Semaphore(0);

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        ZooKeeper zk = new ZooKeeper(connect, 4000, (WatchedEvent e) -> {
            if (e.getType() == Watcher.Event.EventType.None
                    && e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.release();
            }
        });
        if (!connected.tryAcquire(20, TimeUnit.SECONDS)) {
            throw new RuntimeException("not connected");
        }
        Watcher noop = (WatchedEvent e) -> { };
        zk.addAuthInfo("digest", b("golden:secret"));
        List<ACL> acl = Arrays.asList(
                new ACL(ZooDefs.Perms.ALL, new Id("digest", "golden:xWIAyp+iipmRz+wIMl/M3rwWQD4=")),
                new ACL(ZooDefs.Perms.READ, new Id("world", "anyone")));
        Stat stat = new Stat();
        zk.create("/golden", b("root"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create("/golden/acl-", b("acl"), acl, CreateMode.EPHEMERAL_SEQUENTIAL);
        zk.create("/golden/c2", b("two"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, stat);
        zk.create("/golden/ttl", b("ttl"), ZooDefs.Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT_WITH_TTL, stat, 60000);
        zk.create("/golden/container", b(""), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER);
        try {
            zk.create("/golden/c2", b("dup"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException expected) {
        }
        zk.getData("/golden/c2", true, stat);
        zk.setData("/golden/c2", b("changed"), 0);
        zk.exists("/golden/c2", false);
        zk.exists("/golden/missing", true);
        zk.getChildren("/golden", false, stat);
        zk.getChildren("/golden", true);
        zk.getACL("/golden/c2", stat);
        zk.setACL("/golden/c2", ZooDefs.Ids.OPEN_ACL_UNSAFE, 0);
        zk.multi(Arrays.asList(
                Op.create("/golden/m", b("m"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.setData("/golden/m", b("m2"), 0),
                Op.check("/golden/m", 1),
                Op.delete("/golden/m", 1)));
        try {
            zk.multi(Arrays.asList(
                    Op.create("/golden/f", b("f"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                    Op.check("/golden/c2", 99),
                    Op.delete("/golden/c2", -1)));
        } catch (KeeperException.BadVersionException expected) {
        }
        zk.multi(Arrays.asList(Op.getData("/golden/c2"), Op.getChildren("/golden")));
        CountDownLatch synced = new CountDownLatch(1);
        zk.sync("/golden", (rc, path, ctx) -> synced.countDown(), null);
        synced.await(10, TimeUnit.SECONDS);
        zk.getEphemerals("/golden");
        zk.getAllChildrenNumber("/golden");
        zk.whoAmI();
        zk.getData("/golden/ttl", noop, stat);
        zk.removeWatches("/golden/ttl", noop, Watcher.WatcherType.Data, false);
        zk.getData("/golden/ttl", true, stat);
        zk.exists("/golden/nope", true);
        Thread.sleep(2000); // idle: the client pings
        System.out.println("CUT");
        System.out.flush();
        in.readLine();
        if (!connected.tryAcquire(20, TimeUnit.SECONDS)) {
            throw new RuntimeException("not reconnected");
        }
        zk.addWatch("/golden", AddWatchMode.PERSISTENT_RECURSIVE);
        zk.removeAllWatches("/golden/ttl", Watcher.WatcherType.Any, false);
        System.out.println("CUT");
        System.out.flush();
        in.readLine();
        if (!connected.tryAcquire(20, TimeUnit.SECONDS)) {
            throw new RuntimeException("not reconnected");
        }
        zk.delete("/golden/c2", 1);
        try {
            zk.getData("/golden/c2", false, stat);
        } catch (KeeperException.NoNodeException expected) {
        }
        zk.delete("/golden/ttl", -1);
        zk.delete("/golden/container", -1);
        zk.close();
        System.out.println("DONE");
    }
}
