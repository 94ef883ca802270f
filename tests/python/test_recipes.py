"""kazoo recipes with several clients on threads: Lock, Semaphore,
Election, Barrier, DoubleBarrier, Queue, LockingQueue, Counter, Party,
TreeCache."""

import queue
import threading
import time

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.recipe.cache import TreeCache, TreeEvent

WAIT = 30.0


def run_threads(targets, timeout=WAIT):
    errors = queue.Queue()

    def wrap(fn):
        def inner():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.put(e)
        return inner

    ts = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
        assert not t.is_alive(), "worker thread hung"
    if not errors.empty():
        raise errors.get()


def test_lock_mutual_exclusion(make_client, base):
    clients = [make_client() for _ in range(4)]
    counter = clients[0].create(base + "/counter", b"0")
    inside = [0]
    overlap = []
    guard = threading.Lock()

    def worker(c, ident):
        def run():
            lock = c.Lock(base + "/lock", identifier=ident)
            for _ in range(5):
                with lock:
                    with guard:
                        inside[0] += 1
                        if inside[0] != 1:
                            overlap.append(inside[0])
                    v = int(c.get(counter)[0])
                    c.set(counter, str(v + 1).encode())
                    with guard:
                        inside[0] -= 1
        return run

    run_threads([worker(c, f"w{i}") for i, c in enumerate(clients)])
    assert not overlap
    assert clients[0].get(counter)[0] == b"20"
    assert clients[0].get_children(base + "/lock") == []


def test_lock_timeout_and_contenders(make_client, base):
    a, b = make_client(), make_client()
    la = a.Lock(base + "/lk", identifier="alpha")
    assert la.acquire(timeout=10)
    lb = b.Lock(base + "/lk", identifier="beta")
    with pytest.raises(LockTimeout):
        lb.acquire(timeout=0.5)
    assert la.contenders() == ["alpha"]
    la.release()
    assert lb.acquire(timeout=10)
    lb.release()


def test_lock_released_when_holder_session_closes(make_client, base):
    a, b = make_client(), make_client()
    la = a.Lock(base + "/lk2")
    assert la.acquire(timeout=10)
    got = threading.Event()

    def waiter():
        lb = b.Lock(base + "/lk2")
        if lb.acquire(timeout=WAIT):
            got.set()
            lb.release()

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    assert not got.is_set()
    a.stop()  # ephemeral lock node goes with the session
    assert got.wait(WAIT)
    t.join(WAIT)


def test_semaphore(make_client, base):
    clients = [make_client() for _ in range(4)]
    active, peak = [0], [0]
    guard = threading.Lock()
    entered = threading.Barrier(2, timeout=WAIT)  # two holders overlap at least once

    def worker(c, i):
        def run():
            sem = c.Semaphore(base + "/sem", identifier=f"s{i}", max_leases=2)
            with sem:
                with guard:
                    active[0] += 1
                    peak[0] = max(peak[0], active[0])
                if i < 2:
                    entered.wait()
                with guard:
                    active[0] -= 1
        return run

    run_threads([worker(c, i) for i, c in enumerate(clients)])
    assert peak[0] == 2


def test_read_write_lock(make_client, base):
    a, b, c = make_client(), make_client(), make_client()
    r1 = a.ReadLock(base + "/rw")
    r2 = b.ReadLock(base + "/rw")
    assert r1.acquire(timeout=10) and r2.acquire(timeout=10), "readers share"
    w = c.WriteLock(base + "/rw")
    with pytest.raises(LockTimeout):
        w.acquire(timeout=0.5)
    r1.release()
    r2.release()
    assert w.acquire(timeout=10)
    w.release()


def test_election(make_client, base):
    clients = [make_client() for _ in range(3)]
    leaders = queue.Queue()
    release = {i: threading.Event() for i in range(3)}
    current = [None]
    overlap = []
    guard = threading.Lock()

    def contender(i):
        def lead():
            with guard:
                if current[0] is not None:
                    overlap.append((current[0], i))
                current[0] = i
            leaders.put(i)
            release[i].wait(WAIT)
            with guard:
                current[0] = None

        def run():
            clients[i].Election(base + "/election", f"c{i}").run(lead)
        return run

    threads = [threading.Thread(target=contender(i), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    observer = clients[0].Election(base + "/election")
    end = time.monotonic() + WAIT
    while len(observer.contenders()) < 3:  # everyone has joined
        assert time.monotonic() < end, "contenders did not all join"
        time.sleep(0.05)  # poll interval
    order = []
    for _ in range(3):
        leader = leaders.get(timeout=WAIT)
        order.append(leader)
        e = clients[leader].Election(base + "/election")
        assert len(e.contenders()) == 3 - len(order) + 1
        release[leader].set()
    for t in threads:
        t.join(WAIT)
    assert sorted(order) == [0, 1, 2]
    assert not overlap


def test_barrier(make_client, base):
    owner = make_client()
    barrier = owner.Barrier(base + "/barrier")
    barrier.create()
    released = queue.Queue()
    waiting = threading.Barrier(4, timeout=WAIT)

    def waiter(c):
        def run():
            b = c.Barrier(base + "/barrier")
            waiting.wait()
            released.put(b.wait(timeout=WAIT))
        return run

    ts = [threading.Thread(target=waiter(make_client()), daemon=True) for _ in range(3)]
    for t in ts:
        t.start()
    waiting.wait()
    assert released.empty()
    barrier.remove()
    assert [released.get(timeout=WAIT) for _ in range(3)] == [True] * 3
    # an absent barrier does not block
    assert owner.Barrier(base + "/never").wait(timeout=1)


def test_double_barrier(make_client, base):
    n = 3
    clients = [make_client() for _ in range(n)]
    entered, left = queue.Queue(), queue.Queue()

    def participant(i):
        def run():
            db = clients[i].DoubleBarrier(base + "/dbl", n, identifier=f"p{i}")
            db.enter()
            entered.put(i)
            db.leave()
            left.put(i)
        return run

    run_threads([participant(i) for i in range(n)])
    assert sorted(entered.queue) == list(range(n))
    assert sorted(left.queue) == list(range(n))


def test_queue_priority_and_fifo(make_client, base):
    producer, consumer = make_client(), make_client()
    q = producer.Queue(base + "/q")
    q.put(b"low-1", priority=200)
    q.put(b"high-1", priority=1)
    q.put(b"mid-1", priority=100)
    q.put(b"high-2", priority=1)
    q.put(b"mid-2", priority=100)
    assert len(q) == 5
    cq = consumer.Queue(base + "/q")
    got = [cq.get() for _ in range(5)]
    assert got == [b"high-1", b"high-2", b"mid-1", b"mid-2", b"low-1"]
    assert cq.get() is None


def test_queue_concurrent_consumers(make_client, base):
    producer = make_client()
    q = producer.Queue(base + "/cq")
    items = [f"item-{i}".encode() for i in range(60)]
    for it in items:
        q.put(it)
    got = queue.Queue()

    def consumer(c):
        def run():
            cq = c.Queue(base + "/cq")
            while True:
                v = cq.get()
                if v is None:
                    return
                got.put(v)
        return run

    run_threads([consumer(make_client()) for _ in range(3)])
    assert sorted(got.queue) == sorted(items)


def test_locking_queue(make_client, base):
    a, b = make_client(), make_client()
    qa = a.LockingQueue(base + "/lq")
    qa.put_all([b"one", b"two", b"three"], priority=10)
    qa.put(b"zero", priority=1)
    assert len(qa) == 4
    qb = b.LockingQueue(base + "/lq")
    first = qb.get(timeout=10)
    assert first == b"zero" and qb.holds_lock()
    second = qa.get(timeout=10)  # another consumer gets the next entry
    assert second == b"one"
    assert qb.consume() and qa.release()  # a gives its item back
    assert sorted(qb.get(timeout=10) for _ in range(1)) == [b"one"]
    assert qb.consume()
    assert [qa.get(timeout=10), qa.consume()] == [b"two", True]
    assert [qa.get(timeout=10), qa.consume()] == [b"three", True]
    assert len(qa) == 0
    assert qa.get(timeout=0.2) is None


def test_counter(make_client, base):
    clients = [make_client() for _ in range(4)]

    def worker(c):
        def run():
            counter = c.Counter(base + "/count")
            for _ in range(25):
                counter += 1
        return run

    run_threads([worker(c) for c in clients])
    assert clients[0].Counter(base + "/count").value == 100
    fc = clients[0].Counter(base + "/fcount", default=0.0)
    fc += 2.5
    fc -= 1.0
    assert fc.value == 1.5
    assert fc.pre_value == 2.5 and fc.post_value == 1.5


def test_party(make_client, base):
    members = [make_client() for _ in range(3)]
    parties = [c.Party(base + "/party", f"m{i}") for i, c in enumerate(members)]
    for p in parties:
        p.join()
    observer = make_client().Party(base + "/party")
    assert len(observer) == 3
    assert sorted(observer) == ["m0", "m1", "m2"]
    parties[1].leave()
    assert sorted(observer) == ["m0", "m2"]
    members[2].stop()  # ephemeral membership ends with the session
    assert sorted(observer) == ["m0"]
    sp = members[0].ShallowParty(base + "/shallow", "s0")
    sp.join()
    assert list(make_client().ShallowParty(base + "/shallow")) == ["s0"]


def test_tree_cache(zk, make_client, base):
    events = queue.Queue()
    cache = TreeCache(zk, base)
    cache.listen(lambda ev: events.put(ev))
    cache.start()
    try:
        def wait_for(kind, path=None):
            while True:
                ev = events.get(timeout=WAIT)
                if ev.event_type == kind and (
                        path is None or (ev.event_data and ev.event_data.path == path)):
                    return ev
        wait_for(TreeEvent.INITIALIZED)
        other = make_client()
        other.create(base + "/a/b", b"deep", makepath=True)
        wait_for(TreeEvent.NODE_ADDED, base + "/a/b")
        assert cache.get_data(base + "/a/b").data == b"deep"
        other.set(base + "/a/b", b"new")
        wait_for(TreeEvent.NODE_UPDATED, base + "/a/b")
        assert cache.get_data(base + "/a/b").data == b"new"
        other.delete(base + "/a", recursive=True)
        wait_for(TreeEvent.NODE_REMOVED, base + "/a")
        assert cache.get_children(base) == frozenset()
    finally:
        cache.close()
