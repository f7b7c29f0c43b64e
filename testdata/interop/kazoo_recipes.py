"""kazoo's recipes against a ZooKeeper ensemble.

    python3 kazoo_recipes.py HOST:PORT[,HOST:PORT...] SCENARIO

See kazoo_common.py for the output. Every participant of a recipe has a
client of its own, on the servers of the ensemble in turn, and runs in a
thread of its own.
"""

import collections
import threading

from kazoo.exceptions import LockTimeout
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock
from kazoo.recipe.party import Party, ShallowParty
from kazoo.recipe.queue import LockingQueue, Queue

from kazoo_common import (
    Worker,
    check,
    expect_equal,
    join_all,
    main,
    raise_worker_errors,
    wait_event,
    wait_until,
)


class Exclusion(object):
    """Counts the threads inside a critical section, and the most ever
    inside at once."""

    def __init__(self):
        self._mu = threading.Lock()
        self.inside = 0
        self.max_inside = 0
        self.entries = 0

    def enter(self):
        with self._mu:
            self.inside += 1
            self.entries += 1
            self.max_inside = max(self.max_inside, self.inside)

    def leave(self):
        with self._mu:
            self.inside -= 1


def lock(s):
    admin = s.client(0)
    admin.create(s.root)
    path = s.root + "/lock"
    counter = s.root + "/counter"
    admin.create(counter, b"0")
    workers, rounds = 4, 5
    ex = Exclusion()

    s.step("lock_mutual_exclusion")

    def contend(i):
        zk = s.client(i)
        lk = Lock(zk, path, "worker-%d" % i)
        for _ in range(rounds):
            with lk:
                ex.enter()
                # A read-modify-write of a znode with no version check:
                # only mutual exclusion keeps an increment from being
                # lost, and the next holder (on another server) must see
                # this one's write once it sees the lock released.
                data, _ = zk.get(counter)
                zk.set(counter, str(int(data) + 1).encode())
                ex.leave()
    threads = [Worker("lock-worker-%d" % i, contend, i) for i in range(workers)]
    for t in threads:
        t.start()
    join_all(threads, "the lock workers")
    raise_worker_errors(threads)
    expect_equal(ex.max_inside, 1, "most holders at once")
    admin.sync(counter)
    expect_equal(int(admin.get(counter)[0]), workers * rounds, "counter")
    expect_equal(admin.get_children(path), [], "lock nodes left behind")
    s.ok("%d acquisitions" % ex.entries)

    s.step("lock_timeout_and_contenders")
    holder = s.client(1)
    hl = Lock(holder, path, "holder")
    check(hl.acquire(timeout=20), "holder could not acquire")
    other = s.client(2)
    ol = Lock(other, path, "other")
    check(not ol.acquire(blocking=False), "a non-blocking acquire of a held lock succeeded")
    try:
        ol.acquire(timeout=0.3)
        raise AssertionError("acquire of a held lock did not time out")
    except LockTimeout:
        pass
    expect_equal(ol.contenders(), ["holder"], "contenders")
    s.ok()

    s.step("lock_released_by_session_end")
    got = threading.Event()

    def wait_lock():
        with ol:
            got.set()
    t = Worker("lock-waiter", wait_lock)
    t.start()
    wait_until(lambda: len(admin.get_children(path)) == 2, "the waiter's lock node")
    check(not got.is_set(), "the waiter acquired a held lock")
    holder.stop()  # closes the session: its lock node goes
    wait_event(got, "the waiter to acquire the lock of a closed session")
    join_all([t], "the waiter")
    raise_worker_errors([t])
    s.ok()


def election(s):
    observer = s.client(0)
    observer.create(s.root)
    path = s.root + "/election"
    observer.create(path)
    n = 3
    clients = [s.client(i) for i in range(n)]
    stop = [threading.Event() for _ in range(n)]
    ex = Exclusion()
    leaders = []
    led = threading.Condition()

    def lead(i):
        ex.enter()
        with led:
            leaders.append(i)
            led.notify_all()
        stop[i].wait(60)
        ex.leave()

    def campaign(i):
        e = Election(clients[i], path, "candidate-%d" % i)
        try:
            e.run(lead, i)
        except Exception:
            if i != 1:  # candidate 1's session is closed while it leads
                raise

    def wait_leaders(k):
        with led:
            if not led.wait_for(lambda: len(leaders) >= k, timeout=20):
                raise AssertionError("timed out waiting for leader %d, have %r" % (k, leaders))
            return list(leaders)

    s.step("election_one_leader")
    threads = []
    for i in range(n):
        t = Worker("candidate-%d" % i, campaign, i)
        t.start()
        threads.append(t)
        # Start the candidates one after the other so that the order of
        # succession is known.
        wait_until(lambda: len(observer.get_children(path)) == i + 1, "candidate %d's node" % i)
    first = wait_leaders(1)
    expect_equal(first, [0], "first leader")
    e = Election(observer, path)
    # The observer's server may lag the candidates': sync first.
    observer.sync(path)
    expect_equal(e.contenders(), ["candidate-%d" % i for i in range(n)], "contenders")
    s.ok("leader candidate-0")

    s.step("election_next_takes_over")
    stop[0].set()  # the leader steps down
    expect_equal(wait_leaders(2), [0, 1], "leaders")
    observer.sync(path)
    expect_equal(e.contenders(), ["candidate-1", "candidate-2"], "contenders")
    s.ok("leader candidate-1")

    s.step("election_leader_session_ends")
    clients[1].stop()  # the leader's session closes while it leads
    expect_equal(wait_leaders(3), [0, 1, 2], "leaders")
    stop[1].set()
    observer.sync(path)
    expect_equal(e.contenders(), ["candidate-2"], "contenders")
    stop[2].set()
    join_all(threads, "the candidates")
    raise_worker_errors(threads)
    # Candidate 1's lead overlapped 2's: it learnt of its lost session
    # only when it stopped.
    check(ex.max_inside <= 2, "more than two leaders at once")
    observer.sync(path)
    expect_equal(e.contenders(), [], "contenders after the election")
    s.ok("leader candidate-2")


def queue(s):
    admin = s.client(0)
    admin.create(s.root)

    s.step("queue_priority")
    q = Queue(admin, s.root + "/prio")
    q.put(b"low", priority=200)
    q.put(b"mid")
    q.put(b"high", priority=1)
    q.put(b"mid2")
    q.put(b"mid3")
    expect_equal(len(q), 5, "len")
    got = [q.get() for _ in range(5)]
    expect_equal(got, [b"high", b"mid", b"mid2", b"mid3", b"low"], "order")
    expect_equal(q.get(), None, "get of an empty queue")
    s.ok()

    s.step("queue_every_item_once")
    path = s.root + "/work"
    producers, consumers, items = 2, 3, 40
    total = producers * items
    got = collections.Counter()
    mu = threading.Lock()
    done = threading.Event()

    def produce(i):
        pq = Queue(s.client(i), path)
        for k in range(items):
            pq.put(("p%d-%d" % (i, k)).encode())

    def consume(i):
        cq = Queue(s.client(i + 1), path)
        while not done.is_set():
            v = cq.get()
            if v is None:
                with mu:
                    if sum(got.values()) >= total:
                        done.set()
                done.wait(0.01)  # an empty queue: poll again
                continue
            with mu:
                got[v] += 1
                if sum(got.values()) >= total:
                    done.set()
    threads = [Worker("producer-%d" % i, produce, i) for i in range(producers)]
    threads += [Worker("consumer-%d" % i, consume, i) for i in range(consumers)]
    for t in threads:
        t.start()
    wait_event(done, "every item to be consumed", timeout=60)
    join_all(threads, "producers and consumers")
    raise_worker_errors(threads)
    want = {("p%d-%d" % (i, k)).encode() for i in range(producers) for k in range(items)}
    expect_equal(set(got), want, "items consumed")
    dup = {k: c for k, c in got.items() if c != 1}
    expect_equal(dup, {}, "items consumed more than once")
    admin.sync(path)
    expect_equal(len(Queue(admin, path)), 0, "len after consuming everything")
    s.ok("%d items" % total)


def locking_queue(s):
    admin = s.client(0)
    admin.create(s.root)
    path = s.root + "/lq"

    s.step("locking_queue_release")
    a = LockingQueue(s.client(1), path)
    a.put(b"first", priority=10)
    a.put_all([b"second", b"third"], priority=20)
    expect_equal(len(a), 3, "len")
    expect_equal(a.get(timeout=20), b"first", "first get")
    check(a.holds_lock(), "the getter does not hold its item's lock")
    b = LockingQueue(s.client(2), path)
    expect_equal(b.get(timeout=20), b"second", "another consumer skips a locked item")
    check(a.release(), "release")
    # The released item is offered again.
    c = LockingQueue(s.client(0), path)
    expect_equal(c.get(timeout=20), b"first", "get after a release")
    check(c.consume(), "consume")
    check(b.consume(), "consume")
    expect_equal(a.get(timeout=20), b"third", "last item")
    check(a.consume(), "consume")
    expect_equal(a.get(timeout=0.2), None, "get of an empty queue")
    s.ok()

    s.step("locking_queue_every_item_once")
    path = s.root + "/lq2"
    consumers, items = 3, 30
    producer = LockingQueue(s.client(0), path)
    got = collections.Counter()
    mu = threading.Lock()
    done = threading.Event()

    def consume(i):
        q = LockingQueue(s.client(i), path)
        while not done.is_set():
            v = q.get(timeout=0.2)
            if v is None:
                continue
            with mu:
                got[v] += 1
            check(q.consume(), "consume of %r" % v)
            with mu:
                if sum(got.values()) >= items:
                    done.set()
    threads = [Worker("lq-consumer-%d" % i, consume, i) for i in range(consumers)]
    for t in threads:
        t.start()
    for k in range(items):
        producer.put(("item-%d" % k).encode())
    wait_event(done, "every item to be consumed", timeout=60)
    join_all(threads, "the consumers")
    raise_worker_errors(threads)
    want = {("item-%d" % k).encode() for k in range(items)}
    expect_equal(set(got), want, "items consumed")
    dup = {k: c for k, c in got.items() if c != 1}
    expect_equal(dup, {}, "items consumed more than once")
    admin.sync(path)
    expect_equal(len(LockingQueue(admin, path)), 0, "len after consuming everything")
    s.ok("%d items" % items)


def barrier(s):
    admin = s.client(0)
    admin.create(s.root)
    path = s.root + "/barrier"

    s.step("barrier")
    b = Barrier(admin, path)
    b.create()
    check(not b.wait(timeout=0.2), "wait returned True on a standing barrier")
    released = []
    mu = threading.Lock()

    def wait(i):
        ok = Barrier(s.client(i), path).wait(timeout=30)
        with mu:
            released.append((i, ok))
    threads = [Worker("barrier-waiter-%d" % i, wait, i) for i in range(3)]
    for t in threads:
        t.start()
    b.remove()
    join_all(threads, "the waiters")
    raise_worker_errors(threads)
    expect_equal(sorted(released), [(0, True), (1, True), (2, True)], "waiters released")
    check(Barrier(s.client(1), path).wait(timeout=5), "wait on a removed barrier")
    s.ok()

    s.step("double_barrier")
    path = s.root + "/double"
    n = 3
    log = []
    mu = threading.Lock()
    go_leave = [threading.Event() for _ in range(n)]

    def member(i):
        db = DoubleBarrier(s.client(i), path, n, "member-%d" % i)
        db.enter()
        check(db.participating, "member %d failed to enter" % i)
        with mu:
            log.append(("entered", i))
        go_leave[i].wait(60)
        with mu:
            log.append(("leaving", i))
        db.leave()
        check(not db.participating, "member %d still participating after leave" % i)
        with mu:
            log.append(("left", i))

    def logged(kind):
        with mu:
            return sorted(i for k, i in log if k == kind)

    threads = [Worker("member-%d" % i, member, i) for i in range(n)]
    for t in threads[:2]:
        t.start()
    # Two members wait in enter until the third comes.
    wait_until(lambda: admin.exists(path) and len(admin.get_children(path)) >= 2, "two members in the barrier")
    expect_equal(logged("entered"), [], "members entered before the last arrived")
    threads[2].start()
    wait_until(lambda: logged("entered") == [0, 1, 2], "every member to enter")
    # Two members leave and wait in leave until the third does.
    go_leave[0].set()
    go_leave[1].set()
    wait_until(lambda: logged("leaving") == [0, 1], "two members leaving")
    wait_until(lambda: len(admin.get_children(path)) <= 2, "the two leaving members' nodes to go")
    expect_equal(logged("left"), [], "members left before the last did")
    go_leave[2].set()
    join_all(threads, "the members")
    raise_worker_errors(threads)
    expect_equal(logged("left"), [0, 1, 2], "members that left")
    s.ok()


def counter(s):
    admin = s.client(0)
    admin.create(s.root)

    s.step("counter_basic")
    c = Counter(admin, s.root + "/c")
    expect_equal(c.value, 0, "initial value")
    c += 5
    c -= 2
    expect_equal(c.value, 3, "value")
    f = Counter(admin, s.root + "/f", default=0.5)
    f += 0.25
    expect_equal(f.value, 0.75, "float value")
    s.ok()

    s.step("counter_concurrent")
    path = s.root + "/shared"
    workers, rounds = 4, 15

    def bump(i):
        ci = Counter(s.client(i), path)
        for _ in range(rounds):
            ci += 1
    threads = [Worker("counter-%d" % i, bump, i) for i in range(workers)]
    for t in threads:
        t.start()
    join_all(threads, "the counters")
    raise_worker_errors(threads)
    admin.sync(path)
    expect_equal(Counter(admin, path).value, workers * rounds, "counter after concurrent increments")
    s.ok("%d increments" % (workers * rounds))


def party(s):
    observer = s.client(0)
    observer.create(s.root)

    for cls, name in ((Party, "party"), (ShallowParty, "shallow_party")):
        s.step(name)
        path = s.root + "/" + name
        members = [s.client(i) for i in range(3)]
        parties = [cls(members[i], path, "member-%d" % i) for i in range(3)]
        for p in parties:
            p.join()
        view = cls(observer, path)
        observer.sync(path)
        expect_equal(len(view), 3, "len")
        expect_equal(sorted(view), ["member-0", "member-1", "member-2"], "members")
        parties[0].leave()
        observer.sync(path)
        expect_equal(sorted(view), ["member-1", "member-2"], "members after a leave")
        members[1].stop()  # the session's membership goes with it
        observer.sync(path)
        expect_equal(sorted(view), ["member-2"], "members after a session ended")
        expect_equal(len(view), 1, "len")
        s.ok()


if __name__ == "__main__":
    main({
        "lock": lock,
        "election": election,
        "queue": queue,
        "locking_queue": locking_queue,
        "barrier": barrier,
        "counter": counter,
        "party": party,
    })
