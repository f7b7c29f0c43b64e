"""kazoo against a ZooKeeper ensemble: the client API.

    python3 kazoo_api.py HOST:PORT[,HOST:PORT...] SCENARIO

See kazoo_common.py for the output. Clients that must see each other's
changes are put on different servers of the ensemble when there are
several, so that the checks cover replication and cross-server watches.
"""

import socket
import threading
import time

from kazoo.exceptions import (
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, KazooState
from kazoo.security import (
    ACL,
    Id,
    OPEN_ACL_UNSAFE,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

from kazoo_common import (
    CheckFailed,
    check,
    expect_equal,
    expect_raises,
    main,
    wait_event,
)


def stat_fields(st):
    return dict(st._asdict())


def crud(s):
    zk = s.client(0)
    other = s.client(1)
    now_ms = int(time.time() * 1000)

    s.step("create_stat")
    zk.create(s.root)
    p = s.root + "/node"
    path, st = zk.create(p, b"hello", include_data=True)
    expect_equal(path, p, "created path")
    expect_equal((st.version, st.cversion, st.aversion), (0, 0, 0), "versions of a new node")
    expect_equal(st.dataLength, 5, "dataLength")
    expect_equal(st.numChildren, 0, "numChildren")
    expect_equal(st.ephemeralOwner, 0, "ephemeralOwner of a persistent node")
    check(st.czxid > 0, "czxid %d", st.czxid)
    expect_equal(st.mzxid, st.czxid, "mzxid of a new node")
    expect_equal(st.pzxid, st.czxid, "pzxid of a new node")
    expect_equal(st.mtime, st.ctime, "mtime of a new node")
    check(abs(st.ctime - now_ms) < 60000, "ctime %d is not near now (%d)", st.ctime, now_ms)
    s.ok("czxid=%#x ctime=%d" % (st.czxid, st.ctime))

    s.step("get")
    data, gst = zk.get(p)
    expect_equal(data, b"hello", "data")
    expect_equal(stat_fields(gst), stat_fields(st), "stat of get against create's")
    s.ok()

    s.step("exists")
    est = zk.exists(p)
    expect_equal(stat_fields(est), stat_fields(st), "stat of exists")
    expect_equal(zk.exists(s.root + "/missing"), None, "exists of a missing node")
    s.ok()

    s.step("set_data")
    st2 = zk.set(p, b"world!")
    expect_equal(st2.version, 1, "version after set")
    expect_equal(st2.czxid, st.czxid, "czxid after set")
    check(st2.mzxid > st.mzxid, "mzxid %d not after %d", st2.mzxid, st.mzxid)
    expect_equal(st2.pzxid, st.pzxid, "pzxid after set")
    expect_equal(st2.dataLength, 6, "dataLength after set")
    check(st2.mtime >= st.ctime, "mtime %d before ctime %d", st2.mtime, st.ctime)
    expect_equal(st2.ctime, st.ctime, "ctime after set")
    expect_equal(zk.get(p)[0], b"world!", "data after set")
    s.ok("mzxid=%#x" % st2.mzxid)

    s.step("versions")
    expect_raises(BadVersionError, zk.set, p, b"x", version=0)
    st3 = zk.set(p, b"x", version=1)
    expect_equal(st3.version, 2, "version after a versioned set")
    expect_raises(BadVersionError, zk.delete, p, version=1)
    s.ok()

    s.step("children_stat")
    parent_before = zk.exists(s.root)
    c, cst = zk.create(p + "/child", b"c", include_data=True)
    pst = zk.exists(p)
    expect_equal(pst.cversion, 1, "parent cversion after a child create")
    expect_equal(pst.numChildren, 1, "parent numChildren")
    expect_equal(pst.pzxid, cst.czxid, "parent pzxid is the child's czxid")
    expect_equal(pst.version, 2, "parent data version is unchanged")
    expect_equal(pst.mzxid, st3.mzxid, "parent mzxid is unchanged")
    children, chst = zk.get_children(p, include_data=True)
    expect_equal(children, ["child"], "children")
    expect_equal(stat_fields(chst), stat_fields(pst), "stat of getChildren2")
    zk.delete(c)
    pst2 = zk.exists(p)
    expect_equal((pst2.cversion, pst2.numChildren), (2, 0), "parent cversion, numChildren after a delete")
    check(pst2.pzxid > cst.czxid, "parent pzxid %d not moved by the delete", pst2.pzxid)
    expect_equal(zk.exists(s.root).numChildren, parent_before.numChildren, "grandparent numChildren")
    s.ok("pzxid=%#x" % pst2.pzxid)

    s.step("errors")
    expect_raises(NodeExistsError, zk.create, p)
    expect_raises(NoNodeError, zk.get, s.root + "/missing")
    expect_raises(NoNodeError, zk.set, s.root + "/missing", b"")
    expect_raises(NoNodeError, zk.delete, s.root + "/missing")
    expect_raises(NoNodeError, zk.create, s.root + "/no/parent")
    expect_raises(NoNodeError, zk.get_children, s.root + "/missing")
    zk.create(p + "/child")
    expect_raises(NotEmptyError, zk.delete, p)
    s.ok()

    s.step("empty_and_large_data")
    path = zk.create(s.root + "/empty")
    data, est = zk.get(path)
    expect_equal((data, est.dataLength), (b"", 0), "empty data")
    big = bytes(range(256)) * 2048  # 512 KiB
    zk.create(s.root + "/big", big)
    data, bst = zk.get(s.root + "/big")
    check(data == big, "512 KiB of data came back changed (%d bytes)", len(data))
    expect_equal(bst.dataLength, len(big), "dataLength of big")
    s.ok("%d bytes" % len(big))

    s.step("makepath_and_recursive_delete")
    deep = s.root + "/a/b/c/d"
    zk.create(deep, b"deep", makepath=True)
    expect_equal(zk.get(deep)[0], b"deep", "data at the end of a made path")
    zk.ensure_path(s.root + "/a/b/e")
    expect_equal(sorted(zk.get_children(s.root + "/a/b")), ["c", "e"], "children of /a/b")
    zk.delete(s.root + "/a", recursive=True)
    expect_equal(zk.exists(s.root + "/a"), None, "exists after a recursive delete")
    s.ok()

    s.step("unicode")
    name = s.root + "/\u00e9t\u00e9-\u6771\u4eac"
    zk.create(name, "donn\u00e9es".encode("utf-8"))
    check(name.split("/")[-1] in zk.get_children(s.root), "unicode name missing from %r", zk.get_children(s.root))
    expect_equal(zk.get(name)[0].decode("utf-8"), "donn\u00e9es", "unicode data")
    s.ok()

    s.step("other_server_after_sync")
    other.sync(p)
    data, ost = other.get(p)
    expect_equal(data, b"x", "data seen on another server")
    expect_equal(ost.mzxid, st3.mzxid, "mzxid seen on another server")
    s.ok()

    s.step("root_and_zookeeper")
    check("zookeeper" in zk.get_children("/"), "/zookeeper missing from %r", zk.get_children("/"))
    check(s.root[1:] in zk.get_children("/"), "%s missing from /", s.root)
    expect_equal(zk.exists("/").czxid, 0, "czxid of /")
    check("quota" in zk.get_children("/zookeeper"), "/zookeeper/quota missing from %r", zk.get_children("/zookeeper"))
    s.ok("/zookeeper has %s" % sorted(zk.get_children("/zookeeper")))

    s.step("default_acl")
    acl, ast = zk.get_acls(p)
    expect_equal(list(acl), list(OPEN_ACL_UNSAFE), "default ACL")
    expect_equal(ast.aversion, 0, "aversion")
    s.ok()


def ephemeral_sequential(s):
    owner = s.client(0)
    watcher = s.client(1)
    owner.create(s.root)
    sid = owner.client_id[0]

    s.step("ephemeral")
    e = s.root + "/eph"
    path, st = owner.create(e, b"e", ephemeral=True, include_data=True)
    expect_equal(st.ephemeralOwner, sid, "ephemeralOwner")
    expect_raises(NoChildrenForEphemeralsError, owner.create, e + "/child")
    watcher.sync(e)
    expect_equal(watcher.exists(e).ephemeralOwner, sid, "ephemeralOwner seen by another session")
    s.ok("owner=%#x" % sid)

    s.step("sequential")
    q = s.root + "/seq"
    owner.create(q)
    names = [owner.create(q + "/s-", b"", sequence=True) for _ in range(3)]
    expect_equal(names, [q + "/s-%010d" % i for i in range(3)], "sequential names")
    # The suffix counts the parent's child creations, whatever their
    # names; deletes do not count (though they move cversion).
    owner.create(q + "/plain")
    owner.delete(q + "/plain")
    expect_equal(owner.exists(q).cversion, 5, "cversion after four creates and a delete")
    n = owner.create(q + "/s-", sequence=True)
    expect_equal(n, q + "/s-0000000004", "sequential name after a create and a delete")
    n = owner.create(q + "/", sequence=True)
    expect_equal(n, q + "/0000000005", "a sequential node with an empty prefix")
    s.ok(names[-1])

    s.step("ephemeral_sequential")
    es = [owner.create(s.root + "/es-", b"", ephemeral=True, sequence=True) for _ in range(2)]
    check(es[0] < es[1], "ephemeral sequential names out of order: %r", es)
    for p in es:
        expect_equal(owner.exists(p).ephemeralOwner, sid, "ephemeralOwner of %s" % p)
    s.ok(", ".join(es))

    s.step("ephemerals_end_with_session")
    gone = {}
    events = []
    done = threading.Event()
    watched = [e] + es

    def on_event(ev):
        events.append(ev)
        if ev.type == EventType.DELETED:
            gone[ev.path] = True
        if len(gone) == len(watched):
            done.set()

    watcher.sync(s.root)
    for p in watched:
        check(watcher.exists(p, watch=on_event) is not None, "%s missing before the session ends", p)
    owner.stop()
    owner.close()
    wait_event(done, "NodeDeleted events for %r (got %r)" % (watched, events))
    for p in watched:
        expect_equal(watcher.exists(p), None, "exists(%s) after its session ended" % p)
    check(watcher.exists(q) is not None, "a persistent node went with the session")
    s.ok("%d deleted" % len(watched))


def data_watch(s):
    writer = s.client(0)
    zk = s.client(1)
    p = s.root + "/watched"
    writer.create(p, b"v0", makepath=True)
    zk.sync(p)

    calls = []
    cond = threading.Condition()

    def on_change(data, stat, event):
        with cond:
            calls.append((data, stat.version if stat else None, event.type if event else None))
            cond.notify_all()

    def wait_calls(n):
        with cond:
            if not cond.wait_for(lambda: len(calls) >= n, timeout=20):
                raise AssertionError("timed out waiting for callback %d, have %r" % (n, calls))
            return list(calls)

    s.step("data_watch_initial")
    zk.DataWatch(p, on_change)
    expect_equal(wait_calls(1), [(b"v0", 0, None)], "DataWatch callbacks")
    s.ok()

    s.step("data_watch_sequence")
    want = [(b"v0", 0, None)]
    # (A delete and re-create is watch_after_nonode's data_watch_recreate.)
    for i, (action, expected) in enumerate([
        (lambda: writer.set(p, b"v1"), (b"v1", 1, EventType.CHANGED)),
        (lambda: writer.set(p, b"v2"), (b"v2", 2, EventType.CHANGED)),
        (lambda: writer.set(p, b"v3"), (b"v3", 3, EventType.CHANGED)),
    ]):
        action()
        want.append(expected)
        expect_equal(wait_calls(len(want)), want, "DataWatch callbacks after change %d" % (i + 1))
    s.ok("%d callbacks" % len(want))

    s.step("data_watch_ignores_children")
    # A child's creation changes no data: the next callback must be the
    # next data change's.
    writer.create(p + "/child")
    writer.set(p, b"v4")
    want.append((b"v4", 4, EventType.CHANGED))
    expect_equal(wait_calls(len(want)), want, "DataWatch callbacks")
    s.ok("%d callbacks" % len(want))


def children_watch(s):
    writer = s.client(0)
    zk = s.client(2)
    p = s.root + "/parent"
    writer.create(p, makepath=True)
    zk.sync(p)

    calls = []
    cond = threading.Condition()

    def on_children(children, event):
        with cond:
            calls.append((sorted(children), event.type if event else None))
            cond.notify_all()

    def wait_calls(n):
        with cond:
            if not cond.wait_for(lambda: len(calls) >= n, timeout=20):
                raise AssertionError("timed out waiting for callback %d, have %r" % (n, calls))
            return list(calls)

    s.step("children_watch_initial")
    zk.ChildrenWatch(p, on_children, send_event=True)
    expect_equal(wait_calls(1), [([], None)], "ChildrenWatch callbacks")
    s.ok()

    s.step("children_watch_sequence")
    want = [([], None)]
    for i, (action, children) in enumerate([
        (lambda: writer.create(p + "/a"), ["a"]),
        (lambda: writer.create(p + "/b"), ["a", "b"]),
        (lambda: writer.delete(p + "/a"), ["b"]),
        # A data change of the parent or of a child fires nothing: the
        # next callback is the next create's.
        (lambda: (writer.set(p, b"data"), writer.set(p + "/b", b"data"), writer.create(p + "/c")), ["b", "c"]),
        (lambda: writer.create(p + "/e-", ephemeral=True, sequence=True), ["b", "c", "e-0000000003"]),
    ]):
        action()
        want.append((children, EventType.CHILD))
        expect_equal(wait_calls(len(want)), want, "ChildrenWatch callbacks after change %d" % (i + 1))
    s.ok("%d callbacks" % len(want))


def raw_watches(s):
    writer = s.client(0)
    zk = s.client(1)
    p = s.root + "/w"
    writer.create(p, b"0", makepath=True)
    zk.sync(p)

    def collector():
        events = []
        ev = threading.Event()

        def fn(e):
            events.append((e.type, e.path))
            ev.set()
        return events, ev, fn

    s.step("get_watch_fires_once")
    events, ev, fn = collector()
    zk.get(p, watch=fn)
    writer.set(p, b"1")
    wait_event(ev, "NodeDataChanged on %s" % p)
    expect_equal(events, [(EventType.CHANGED, p)], "events")
    # A one-shot watch is gone once fired: the next change fires only a
    # watch set after it, on the same connection, after the first one.
    ev.clear()
    events2, ev2, fn2 = collector()
    writer.set(p, b"2")
    zk.sync(p)
    zk.get(p, watch=fn2)
    writer.set(p, b"3")
    wait_event(ev2, "the second watch")
    expect_equal(events2, [(EventType.CHANGED, p)], "events of the second watch")
    expect_equal(events, [(EventType.CHANGED, p)], "events of the fired watch")
    s.ok()

    s.step("exists_watch_on_missing")
    events, ev, fn = collector()
    m = s.root + "/later"
    expect_equal(zk.exists(m, watch=fn), None, "exists")
    writer.create(m, b"")
    wait_event(ev, "NodeCreated on %s" % m)
    expect_equal(events, [(EventType.CREATED, m)], "events")
    s.ok()

    s.step("children_watch_and_delete")
    events, ev, fn = collector()
    devents, dev, dfn = collector()
    zk.get_children(s.root, watch=fn)
    zk.get(m, watch=dfn)
    writer.delete(m)
    wait_event(ev, "NodeChildrenChanged on %s" % s.root)
    wait_event(dev, "NodeDeleted on %s" % m)
    expect_equal(events, [(EventType.CHILD, s.root)], "child events")
    expect_equal(devents, [(EventType.DELETED, m)], "data events")
    s.ok()

    s.step("watches_of_a_deleted_parent")
    # Deleting a node fires its child watches as NodeDeleted, its data
    # watches too, and its parent's child watches as NodeChildrenChanged.
    d = s.root + "/doomed"
    writer.create(d, b"")
    zk.sync(d)
    cevents, cev, cfn = collector()
    devents, dev, dfn = collector()
    pevents, pev, pfn = collector()
    zk.get_children(d, watch=cfn)
    zk.exists(d, watch=dfn)
    zk.get_children(s.root, watch=pfn)
    writer.delete(d)
    wait_event(cev, "NodeDeleted for the child watch of %s" % d)
    wait_event(dev, "NodeDeleted for the data watch of %s" % d)
    wait_event(pev, "NodeChildrenChanged for %s" % s.root)
    expect_equal(cevents, [(EventType.DELETED, d)], "child watch events")
    expect_equal(devents, [(EventType.DELETED, d)], "data watch events")
    expect_equal(pevents, [(EventType.CHILD, s.root)], "parent's child watch events")
    s.ok()

    s.step("watch_order")
    # Every watcher of one change hears of it, and a client's watches fire
    # in the order of the changes.
    order = []
    allev = threading.Event()
    paths = [s.root + "/o%d" % i for i in range(5)]
    for q in paths:
        writer.create(q, b"")
    zk.sync(s.root)

    def on(e):
        order.append(e.path)
        if len(order) == len(paths):
            allev.set()
    for q in paths:
        zk.get(q, watch=on)
    for q in paths:
        writer.set(q, b"x")
    wait_event(allev, "five NodeDataChanged events")
    expect_equal(order, paths, "order of events")
    s.ok()


def watch_after_nonode(s):
    """Reads that fail with NoNode and the watches that follow them.

    ZooKeeper sets no watch when getData or getChildren fails with NoNode
    (only exists watches a missing node), so a client that then asks for
    an exists watch, or reads the node again once it exists, gets one.
    kazoo's DataWatch does exactly this when its node is deleted: get,
    NoNode, exists with a watch, then a callback on NodeCreated.

    Each check runs even if one before it failed."""
    writer = s.client(0)
    zk = s.client(1)
    writer.create(s.root)
    zk.sync(s.root)
    # Shorter than WAIT: a watch event comes at once or not at all.
    wait = 5

    def collector():
        events = []
        ev = threading.Event()

        def fn(e):
            events.append((e.type, e.path))
            ev.set()
        return events, ev, fn

    def exists_watch_after_get_nonode():
        m = s.root + "/m"
        gevents, gev, gfn = collector()
        eevents, eev, efn = collector()
        expect_raises(NoNodeError, zk.get, m, watch=gfn)
        expect_equal(zk.exists(m, watch=efn), None, "exists")
        writer.create(m, b"")
        wait_event(eev, "NodeCreated on %s for the exists watch set after a failed get" % m, timeout=wait)
        expect_equal(eevents, [(EventType.CREATED, m)], "exists watch events")
        expect_equal(gevents, [], "events of the get that failed")
        s.ok()

    def get_watch_after_get_nonode():
        n = s.root + "/n"
        expect_raises(NoNodeError, zk.get, n, watch=lambda e: None)
        writer.create(n, b"0")
        zk.sync(n)
        events, ev, fn = collector()
        zk.get(n, watch=fn)
        writer.set(n, b"1")
        wait_event(ev, "NodeDataChanged on %s for a get watch set after a failed get" % n, timeout=wait)
        expect_equal(events, [(EventType.CHANGED, n)], "events")
        s.ok()

    def data_watch_recreate():
        # kazoo's DataWatch across a delete and a re-create.
        p = s.root + "/dw"
        writer.create(p, b"v0")
        zk.sync(p)
        calls = []
        cond = threading.Condition()

        def on_change(data, stat, event):
            with cond:
                calls.append((data, stat.version if stat else None, event.type if event else None))
                cond.notify_all()

        def wait_calls(k):
            with cond:
                if not cond.wait_for(lambda: len(calls) >= k, timeout=wait):
                    raise CheckFailed("timed out waiting for callback %d, have %r" % (k, calls))
                return list(calls)

        zk.DataWatch(p, on_change)
        want = [(b"v0", 0, None)]
        expect_equal(wait_calls(1), want, "DataWatch callbacks")
        for i, (action, expected) in enumerate([
            (lambda: writer.delete(p), (None, None, EventType.DELETED)),
            (lambda: writer.create(p, b"v1"), (b"v1", 0, EventType.CREATED)),
            (lambda: writer.set(p, b"v2"), (b"v2", 1, EventType.CHANGED)),
        ]):
            action()
            want.append(expected)
            expect_equal(wait_calls(len(want)), want, "DataWatch callbacks after change %d" % (i + 1))
        s.ok("%d callbacks" % len(want))

    s.run_all([exists_watch_after_get_nonode, get_watch_after_get_nonode, data_watch_recreate])


def session_resume(s):
    """A client whose connection drops resumes its session on a server of
    the ensemble (kazoo sends its session id, password and last zxid; it
    re-reads rather than sending SetWatches)."""
    writer = s.client(0)
    zk = s.client()  # the whole ensemble: it may resume anywhere
    zk.create(s.root)
    e = zk.create(s.root + "/eph", b"e", ephemeral=True)
    sid = zk.client_id[0]
    states = []
    reconnected = threading.Event()

    def listener(state):
        states.append(state)
        if state == KazooState.CONNECTED and KazooState.SUSPENDED in states:
            reconnected.set()
    zk.add_listener(listener)

    s.step("resume_after_connection_drop")
    before = "%s:%d" % zk._connection._socket.getpeername()[:2]
    # Drop the connection under kazoo's feet: it reconnects with the
    # session it had.
    zk._connection._socket.shutdown(socket.SHUT_RDWR)
    wait_event(reconnected, "kazoo to reconnect (states %r)" % states)
    after = "%s:%d" % zk._connection._socket.getpeername()[:2]
    expect_equal(zk.client_id[0], sid, "session id after reconnecting")
    expect_equal(zk.exists(e).ephemeralOwner, sid, "owner of the ephemeral node after reconnecting")
    writer.set(s.root, b"written elsewhere")
    zk.sync(s.root)
    expect_equal(zk.get(s.root)[0], b"written elsewhere", "a write from another session")
    zk.create(s.root + "/after", b"")
    s.ok("%s, then %s" % (before, after))

    s.step("watch_after_resume")
    events = []
    ev = threading.Event()

    def fn(event):
        events.append((event.type, event.path))
        ev.set()
    zk.get(e, watch=fn)
    writer.set(e, b"changed")
    wait_event(ev, "NodeDataChanged after reconnecting")
    expect_equal(events, [(EventType.CHANGED, e)], "events")
    s.ok()

    s.step("ephemeral_ends_with_resumed_session")
    zk.stop()
    writer.sync(s.root)
    expect_equal(writer.exists(e), None, "the ephemeral node once its session closed")
    s.ok()


def consistency(s):
    """ZooKeeper's ordering guarantees, across sessions on different
    servers: a session sees its own writes, and once a reply shows it a
    change (a NodeExists, a new version) it reads that change."""
    a = s.client(0)
    b = s.client(1)
    a.create(s.root)
    b.sync(s.root)
    rounds = 50

    s.step("read_your_writes")
    p = s.root + "/ryw"
    b.create(p, b"0")
    for i in range(1, rounds):
        st = b.set(p, str(i).encode())
        data, gst = b.get(p)
        expect_equal((data, gst.version), (str(i).encode(), st.version), "read after write %d" % i)
        b.create("%s/c%d" % (p, i))
        check("c%d" % i in b.get_children(p), "child c%d missing from the creator's read", i)
    s.ok("%d rounds" % rounds)

    s.step("read_after_node_exists")
    for i in range(rounds):
        q = "%s/x%d" % (s.root, i)
        a.create(q, b"a")
        expect_raises(NodeExistsError, b.create, q, b"b")
        # The NodeExists came after a's create in the server's order:
        # b's next read must see the node.
        data, _ = b.get(q)
        expect_equal(data, b"a", "data of %s read after NodeExists" % q)
    s.ok("%d rounds" % rounds)

    s.step("read_after_bad_version")
    v = s.root + "/v"
    a.create(v, b"0")
    b.sync(v)
    for i in range(1, rounds):
        a.set(v, str(i).encode())
        expect_raises(BadVersionError, b.set, v, b"stale", version=i - 1)
        data, st = b.get(v)
        expect_equal((data, st.version), (str(i).encode(), i), "read after BadVersion %d" % i)
    s.ok("%d rounds" % rounds)


def transaction(s):
    zk = s.client(0)
    other = s.client(2)
    zk.create(s.root)
    a, b = s.root + "/a", s.root + "/b"

    s.step("transaction_commit")
    t = zk.transaction()
    t.create(a, b"1")
    t.create(b, b"2")
    t.set_data(a, b"3")
    t.check(a, 1)
    t.delete(b)
    t.create(s.root + "/s-", b"", sequence=True)
    t.create(s.root + "/e", b"", ephemeral=True)
    results = t.commit()
    expect_equal(len(results), 7, "number of results")
    expect_equal(results[0], a, "result of create a")
    expect_equal(results[1], b, "result of create b")
    check(hasattr(results[2], "version"), "result of set_data is not a stat: %r", results[2])
    expect_equal(results[2].version, 1, "version in set_data's result")
    expect_equal(results[3:5], [True, True], "results of check and delete")
    expect_equal(results[5], s.root + "/s-0000000002", "result of the sequential create")
    expect_equal(results[6], s.root + "/e", "result of the ephemeral create")
    data, st = zk.get(a)
    expect_equal((data, st.version), (b"3", 1), "a after the transaction")
    expect_equal(zk.exists(b), None, "b after the transaction")
    expect_equal(zk.exists(s.root + "/e").ephemeralOwner, zk.client_id[0], "ephemeralOwner of e")
    # One transaction is one zxid.
    expect_equal(st.czxid, st.mzxid, "a's czxid and mzxid")
    s.ok()

    s.step("transaction_rollback")
    before = zk.get_children(s.root)
    t = zk.transaction()
    t.create(s.root + "/c", b"")
    t.set_data(a, b"4")
    t.check(a, 99)
    t.delete(a)
    results = t.commit()
    kinds = [type(r) for r in results]
    expect_equal(kinds, [RolledBackError, RolledBackError, BadVersionError, RuntimeInconsistency],
                 "results of a failed transaction")
    expect_equal(sorted(zk.get_children(s.root)), sorted(before), "children after a failed transaction")
    expect_equal(zk.get(a)[0], b"3", "a after a failed transaction")
    s.ok()

    s.step("transaction_errors")
    t = zk.transaction()
    t.create(a, b"")
    results = t.commit()
    expect_equal([type(r) for r in results], [NodeExistsError], "create of an existing node")
    t = zk.transaction()
    t.delete(s.root + "/missing")
    results = t.commit()
    expect_equal([type(r) for r in results], [NoNodeError], "delete of a missing node")
    s.ok()

    s.step("transaction_context_manager")
    with zk.transaction() as t:
        t.create(s.root + "/ctx", b"cm")
    other.sync(s.root)
    expect_equal(other.get(s.root + "/ctx")[0], b"cm", "node seen on another server")
    s.ok()


def acl(s):
    owner = s.client(0)
    anon = s.client(1)
    alice = s.client(2, auth_data=[("digest", "alice:secret")])
    owner.create(s.root)
    p = s.root + "/secret"

    s.step("digest_acl")
    alice_all = make_digest_acl("alice", "secret", all=True)
    owner.create(p, b"s3cr3t", acl=[alice_all])
    anon.sync(p)
    expect_raises(NoAuthError, anon.get, p)
    expect_raises(NoAuthError, anon.set, p, b"")
    expect_raises(NoAuthError, anon.get_children, p)
    expect_raises(NoAuthError, owner.get, p)
    alice.sync(p)
    expect_equal(alice.get(p)[0], b"s3cr3t", "data read by alice")
    s.ok()

    s.step("get_acls")
    acls, st = alice.get_acls(p)
    want = ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("alice", "secret")))
    expect_equal(list(acls), [want], "ACL of the digest node")
    # getACL needs READ or ADMIN (ZOOKEEPER-1392).
    expect_raises(NoAuthError, anon.get_acls, p)
    s.ok(acls[0].id.id)

    s.step("add_auth")
    anon.add_auth("digest", "bob:other")
    expect_raises(NoAuthError, anon.get, p)
    anon.add_auth("digest", "alice:secret")
    expect_equal(anon.get(p)[0], b"s3cr3t", "data after add_auth")
    st = anon.set(p, b"changed")
    expect_equal(st.version, 1, "version after a set with auth")
    s.ok()

    s.step("wrong_password")
    mallory = s.client(0, auth_data=[("digest", "alice:wrong")])
    expect_raises(NoAuthError, mallory.get, p)
    s.ok()

    s.step("set_acls")
    acls, st = alice.get_acls(p)
    st2 = alice.set_acls(p, [alice_all, make_acl("world", "anyone", read=True)], version=st.aversion)
    expect_equal(st2.aversion, st.aversion + 1, "aversion after setACL")
    owner.sync(p)
    expect_equal(owner.get(p)[0], b"changed", "data readable by the world")
    expect_raises(NoAuthError, owner.set, p, b"")
    expect_raises(NoAuthError, owner.delete, p + "/x")
    expect_raises(BadVersionError, alice.set_acls, p, [alice_all], version=st.aversion)
    s.ok()

    s.step("create_and_delete_perms")
    q = s.root + "/createonly"
    owner.create(q, acl=[make_acl("world", "anyone", create=True, read=True)])
    owner.create(q + "/kid")
    expect_raises(NoAuthError, owner.delete, q + "/kid")
    expect_raises(NoAuthError, owner.set, q, b"x")
    expect_raises(NoAuthError, owner.set_acls, q, OPEN_ACL_UNSAFE)
    s.ok()

    s.step("auth_scheme")
    # "auth" stands for every identity of the creator's session.
    r = s.root + "/authnode"
    alice.create(r, b"a", acl=[make_acl("auth", "", all=True)])
    acls, _ = alice.get_acls(r)
    expect_equal([(a.perms, a.id.scheme, a.id.id) for a in acls],
                 [(Permissions.ALL, "digest", make_digest_acl_credential("alice", "secret"))],
                 "ACL of a node created with the auth scheme")
    fresh = s.client(1)
    expect_raises(InvalidACLError, fresh.create, s.root + "/noauth", acl=[make_acl("auth", "", all=True)])
    s.ok()

    s.step("ip_acl")
    ipn = s.root + "/ip"
    owner.create(ipn, b"ip", acl=[make_acl("ip", "127.0.0.1", all=True)])
    expect_equal(owner.get(ipn)[0], b"ip", "data read from 127.0.0.1")
    ipo = s.root + "/ip-other"
    owner.create(ipo, b"", acl=[make_acl("ip", "10.1.2.3", all=True)])
    expect_raises(NoAuthError, owner.get, ipo)
    ipnet = s.root + "/ip-net"
    owner.create(ipnet, b"net", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
    expect_equal(owner.get(ipnet)[0], b"net", "data read from 127.0.0.0/8")
    s.ok()

    s.step("invalid_acl")
    expect_raises(InvalidACLError, owner.create, s.root + "/bad", acl=[make_acl("nosuchscheme", "x", all=True)])
    s.ok()


def server_version(s):
    zk = s.client(0)

    s.step("ruok")
    expect_equal(zk.command(b"ruok"), "imok", "ruok")
    s.ok()

    s.step("server_version")
    envi = zk.command(b"envi")
    if "zookeeper.version=" not in envi:
        s.skip("the server does not answer envi: %r" % envi.strip())
        return
    v = zk.server_version()
    check(isinstance(v, tuple) and len(v) >= 2, "server_version() = %r", v)
    s.ok(".".join(str(d) for d in v))


if __name__ == "__main__":
    main({
        "crud": crud,
        "ephemeral_sequential": ephemeral_sequential,
        "data_watch": data_watch,
        "children_watch": children_watch,
        "raw_watches": raw_watches,
        "watch_after_nonode": watch_after_nonode,
        "session_resume": session_resume,
        "consistency": consistency,
        "transaction": transaction,
        "acl": acl,
        "server_version": server_version,
    })
