#!/usr/bin/python3
"""Record what Apache ZooKeeper 3.8 answers to testdata/zk38/scenarios.json.

golden_test.go replays the same scenarios against zkraft and compares its
answers with golden.json, which this script writes. The Go test needs
neither ZooKeeper nor Python; only regenerating golden.json does.

Regenerate (Debian/Ubuntu: apt-get install zookeeper python3-kazoo), from
the repository root:

    /usr/bin/python3 testdata/zk38/record.py

It starts a fresh standalone ZooKeeper (java QuorumPeerMain, jars from
/usr/share/java, TTL nodes enabled, container reaping pushed out of reach)
on 127.0.0.1 for every scenario, so that each one sees a pristine tree and
zxids counted from zero, exactly like the fresh in-memory zkraft node the
Go test opens per scenario. Options:

    --only NAME       record only these scenarios (repeatable); the other
                      scenarios keep their entries from the existing golden.json
    --server H:P      use a running server instead (it must run with
                      -Dzookeeper.extendedTypesEnabled=true); the tree is
                      cleaned between scenarios, but the root's Stat and the
                      zxids are then not those of a fresh server, so do not
                      commit what this produces
    --classpath CP    the ZooKeeper class path (default: Debian's layout)
    --out FILE        where to write (default: golden.json next to this file)

Use /usr/bin/python3: kazoo comes from the python3-kazoo package.

scenarios.json: {"scenarios": [{"name", "doc", "steps": [step, ...]}]}.
Every step has "s" (the session: "s1", "s2", ...) and "op":
  connect, close                  open / close the session (close deletes
                                  its ephemerals)
  create   path data mode acl ttl_ms
                                  mode 0-6 (default 0); acl defaults to
                                  world:anyone ALL; with ttl_ms the request
                                  is createTTL, mode 4 is createContainer,
                                  anything else create2
  delete   path version           version defaults to -1
  set      path data version
  get, exists, children, getACL   path
  getW, existsW, childrenW        the same, also setting a one-shot watch
  setACL   path acl version
  multi    ops: [{op: create|delete|set|check, ...as above}]
  addAuth  scheme credential
  events                          the events the session's watches got
An acl is a list of {"perms", "scheme", "id"}. Strings are sent as Java
and Go clients send them ("" is empty, not null).

A multi's create of mode 0-3 answers with its path only: ZooKeeper turns a
create2 inside a multi into a create (only createContainer and createTTL
results carry a Stat), so golden_test.go leaves those Stats out too.

Normalisation (golden_test.go does the same on the zkraft side):
  * after every write step (connect, close, create, delete, set, setACL,
    multi) the server's last zxid is read through an observer session; that
    zxid is labelled "step N" (N = the step's 0-based index) unless an
    earlier step already has it;
  * in every Stat, czxid/mzxid/pzxid become their label, "0" for zero, "?"
    for anything else; ephemeralOwner becomes the owning session's name or
    0; ctime and mtime become "0" or "nonzero";
  * errors are ZooKeeper's code names (KeeperException.Code), "OK" for
    success; in a failed multi an op that would have succeeded is
    "ROLLEDBACK" (code 0) and one not attempted is "RUNTIMEINCONSISTENCY";
  * children are sorted; an "events" step lists the watch events a session
    received since its previous "events" step, each as the label of the step
    that set the watch, the event type and path, ordered by that label.
"""

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import namedtuple

import kazoo.protocol.serialization as serialization
from kazoo.client import KazooClient
from kazoo.exceptions import ZookeeperError
from kazoo.protocol.serialization import (
    CheckVersion, Create2, Delete, Exists, GetACL, GetChildren2, GetData,
    MultiHeader, SetACL, SetData, int_struct, long_struct, multiheader_struct,
    read_string, stat_struct, write_buffer)
from kazoo.protocol.states import Callback, ZnodeStat
from kazoo.security import ACL, Id

HERE = os.path.dirname(os.path.abspath(__file__))

DEFAULT_CLASSPATH = ":".join([
    "/etc/zookeeper/conf",            # Debian's log4j.properties
    "/usr/share/java/zookeeper.jar",  # its manifest names every dependency
    "/usr/share/java/slf4j-simple.jar",
])

CODE_NAMES = {
    0: "OK", -1: "SYSTEMERROR", -2: "RUNTIMEINCONSISTENCY",
    -3: "DATAINCONSISTENCY", -4: "CONNECTIONLOSS", -5: "MARSHALLINGERROR",
    -6: "UNIMPLEMENTED", -7: "OPERATIONTIMEOUT", -8: "BADARGUMENTS",
    -12: "UNKNOWNSESSION", -13: "NEWCONFIGNOQUORUM",
    -14: "RECONFIGINPROGRESS", -100: "APIERROR", -101: "NONODE",
    -102: "NOAUTH", -103: "BADVERSION", -108: "NOCHILDRENFOREPHEMERALS",
    -110: "NODEEXISTS", -111: "NOTEMPTY", -112: "SESSIONEXPIRED",
    -113: "INVALIDCALLBACK", -114: "INVALIDACL", -115: "AUTHFAILED",
    -118: "SESSIONMOVED", -119: "NOTREADONLY",
    -120: "EPHEMERALONLOCALSESSION", -121: "NOWATCHER",
    -122: "REQUESTTIMEOUT", -123: "RECONFIGDISABLED",
    -124: "SESSIONCLOSEDREQUIRESASLAUTH", -125: "QUOTAEXCEEDED",
    -127: "THROTTLEDOP",
}

EVENT_NAMES = {"CREATED": "NodeCreated", "DELETED": "NodeDeleted",
               "CHANGED": "NodeDataChanged", "CHILD": "NodeChildrenChanged"}

WRITE_OPS = {"connect", "close", "create", "delete", "set", "setACL", "multi"}
WATCH_OPS = {"getW", "existsW", "childrenW"}

CALL_TIMEOUT = 15


def write_string(s):
    """kazoo 2.8 sends "" as a null string (length -1); Java and Go clients
    send it as an empty one, which is what the scenarios mean (an "auth" ACL
    id, an empty path or credential). kazoo's request classes look this
    function up in their module, so replacing it there changes them all."""
    if s is None:
        return int_struct.pack(-1)
    b = s.encode("utf-8")
    return int_struct.pack(len(b)) + b


serialization.write_string = write_string


# --- requests kazoo 2.8 does not have -----------------------------------

def _acl_bytes(acls):
    b = bytearray(int_struct.pack(len(acls)))
    for a in acls:
        b.extend(int_struct.pack(a.perms) + write_string(a.id.scheme) +
                 write_string(a.id.id))
    return b


def _read_create2(buf, offset):
    path, offset = read_string(buf, offset)
    stat = ZnodeStat._make(stat_struct.unpack_from(buf, offset))
    return (path, stat), offset + stat_struct.size


class CreateContainer(namedtuple("CreateContainer", "path data acl flags")):
    """createContainer (19): a CreateRequest, answered by Create2Response."""
    type = 19

    def serialize(self):
        b = bytearray(write_string(self.path))
        b.extend(write_buffer(self.data))
        b.extend(_acl_bytes(self.acl))
        b.extend(int_struct.pack(self.flags))
        return b

    @classmethod
    def deserialize(cls, buf, offset):
        return _read_create2(buf, offset)[0]


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """createTTL (21): CreateTTLRequest, answered by Create2Response."""
    type = 21

    def serialize(self):
        b = bytearray(write_string(self.path))
        b.extend(write_buffer(self.data))
        b.extend(_acl_bytes(self.acl))
        b.extend(int_struct.pack(self.flags))
        b.extend(long_struct.pack(self.ttl))
        return b

    @classmethod
    def deserialize(cls, buf, offset):
        return _read_create2(buf, offset)[0]


class Multi(namedtuple("Multi", "operations")):
    """multi (14) that also decodes create2-family results (type 15),
    which kazoo's Transaction cannot. Each result is (type, value, err)."""
    type = 14

    def serialize(self):
        b = bytearray()
        for op in self.operations:
            b.extend(MultiHeader(op.type, False, -1).serialize())
            b.extend(op.serialize())
        return b + multiheader_struct.pack(-1, True, -1)

    @classmethod
    def deserialize(cls, buf, offset):
        results = []
        while True:
            header, offset = MultiHeader.deserialize(buf, offset)
            if header.done:
                return results
            if header.type in (1,):
                path, offset = read_string(buf, offset)
                results.append(("create", (path, None), 0))
            elif header.type in (15, 19, 21):
                value, offset = _read_create2(buf, offset)
                results.append(("create", value, 0))
            elif header.type == 2:
                results.append(("delete", None, 0))
            elif header.type == 5:
                stat = ZnodeStat._make(stat_struct.unpack_from(buf, offset))
                offset += stat_struct.size
                results.append(("set", stat, 0))
            elif header.type == 13:
                results.append(("check", None, 0))
            elif header.type == -1:
                err = int_struct.unpack_from(buf, offset)[0]
                offset += int_struct.size
                results.append(("error", None, err))
            else:
                raise ValueError("unexpected multi result type %d" % header.type)


# --- scenario plumbing ----------------------------------------------------

DEFAULT_ACL = [{"perms": 31, "scheme": "world", "id": "anyone"}]


def to_acls(step):
    return [ACL(a["perms"], Id(a["scheme"], a["id"]))
            for a in step.get("acl", DEFAULT_ACL)]


def create_request(step):
    """The request a Java client would send: create2 for modes 0-3 (and
    5/6 without a TTL, which ZooKeeper refuses), createContainer for 4,
    createTTL whenever the step gives ttl_ms."""
    path = step["path"]
    data = step.get("data", "").encode()
    mode = step.get("mode", 0)
    acls = to_acls(step)
    if "ttl_ms" in step:
        return CreateTTL(path, data, acls, mode, step["ttl_ms"])
    if mode == 4:
        return CreateContainer(path, data, acls, mode)
    return Create2(path, data, acls, mode)


def sub_request(op):
    kind = op["op"]
    if kind == "create":
        return create_request(op)
    if kind == "delete":
        return Delete(op["path"], op.get("version", -1))
    if kind == "set":
        return SetData(op["path"], op.get("data", "").encode(),
                       op.get("version", -1))
    if kind == "check":
        return CheckVersion(op["path"], op.get("version", -1))
    raise ValueError("unknown multi op %r" % kind)


def stat_raw(st):
    return {"__stat__": list(st)}


def acl_json(acls):
    return [{"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id}
            for a in acls]


class Session:
    def __init__(self, name, hostport):
        self.name = name
        self.client = KazooClient(hosts=hostport, timeout=10.0)
        self.client.start(timeout=CALL_TIMEOUT)
        self.events = []  # (step index, type, path), in arrival order
        self.lock = threading.Lock()

    def call(self, req):
        a = self.client.handler.async_result()
        self.client._call(req, a)
        return a.get(timeout=CALL_TIMEOUT)

    def watcher(self, index):
        def fire(ev):
            with self.lock:
                self.events.append((index, EVENT_NAMES.get(ev.type, ev.type), ev.path))
        return fire

    def drain_events(self):
        # Every notification for a change that happened before this request
        # is written to the connection before its reply.
        self.call(Exists("/", None))
        # kazoo runs watch callbacks on one thread, in order: once this
        # marker has run, so have the callbacks of those notifications.
        done = threading.Event()
        self.client.handler.dispatch_callback(Callback("watch", done.set, ()))
        if not done.wait(CALL_TIMEOUT):
            raise RuntimeError("kazoo callback thread stuck")
        with self.lock:
            evs, self.events = self.events, []
        evs.sort(key=lambda e: e[0])
        return [{"watch": "step %d" % i, "type": t, "path": p} for i, t, p in evs]

    def close(self):
        self.client.stop()
        self.client.close()


class Runner:
    def __init__(self, hostport):
        self.hostport = hostport

    def run(self, scenario):
        observer = Session("observer", self.hostport)
        sessions = {}
        owners = {}  # session id -> name
        labels = {}  # zxid -> "step N"
        out = []
        try:
            for i, step in enumerate(scenario["steps"]):
                res = self.step(i, step, sessions, owners)
                if step["op"] in WRITE_OPS:
                    # A read's reply header carries the server's last zxid.
                    observer.call(Exists("/", None))
                    labels.setdefault(observer.client.last_zxid, "step %d" % i)
                out.append(res)
        finally:
            for s in sessions.values():
                try:
                    s.close()
                except Exception:
                    pass
            observer.close()
        return [normalize(r, labels, owners) for r in out]

    def step(self, i, step, sessions, owners):
        op = step["op"]
        name = step["s"]
        if op == "connect":
            if name in sessions:
                raise ValueError("session %s already connected" % name)
            s = Session(name, self.hostport)
            sessions[name] = s
            owners[s.client.client_id[0]] = name
            return {"err": "OK"}
        s = sessions[name]
        if op == "close":
            del sessions[name]
            s.close()
            return {"err": "OK"}
        if op == "events":
            return {"err": "OK", "events": s.drain_events()}
        if op == "addAuth":
            try:
                s.client.add_auth(step["scheme"], step["credential"])
            except ZookeeperError as e:
                return {"err": CODE_NAMES[e.code]}
            return {"err": "OK"}
        if op == "multi":
            return self.multi(s, step)
        try:
            return self.simple(i, s, op, step)
        except ZookeeperError as e:
            return {"err": CODE_NAMES[e.code]}

    def simple(self, i, s, op, step):
        path = step["path"]
        version = step.get("version", -1)
        if op == "create":
            p, st = s.call(create_request(step))
            return {"err": "OK", "path": p, "stat": stat_raw(st)}
        if op == "delete":
            s.call(Delete(path, version))
            return {"err": "OK"}
        if op == "set":
            st = s.call(SetData(path, step.get("data", "").encode(), version))
            return {"err": "OK", "stat": stat_raw(st)}
        if op == "setACL":
            st = s.call(SetACL(path, to_acls(step), version))
            return {"err": "OK", "stat": stat_raw(st)}
        if op == "getACL":
            acls, st = s.call(GetACL(path))
            return {"err": "OK", "acl": acl_json(acls), "stat": stat_raw(st)}
        w = s.watcher(i) if op in WATCH_OPS else None
        if op in ("get", "getW"):
            data, st = s.call(GetData(path, w))
            return {"err": "OK", "data": (data or b"").decode(), "stat": stat_raw(st)}
        if op in ("exists", "existsW"):
            st = s.call(Exists(path, w))
            if st is None:
                return {"err": "OK", "exists": False}
            return {"err": "OK", "exists": True, "stat": stat_raw(st)}
        if op in ("children", "childrenW"):
            children, st = s.call(GetChildren2(path, w))
            return {"err": "OK", "children": sorted(children), "stat": stat_raw(st)}
        raise ValueError("unknown op %r" % op)

    def multi(self, s, step):
        ops = step.get("ops", [])
        results = s.call(Multi([sub_request(o) for o in ops]))
        if len(results) != len(ops):
            raise RuntimeError("multi: %d results for %d ops" % (len(results), len(ops)))
        failed = any(err != 0 for _, _, err in results)
        top = "OK"
        out = []
        for kind, value, err in results:
            if kind == "error":
                if err == 0 and failed:
                    out.append({"err": "ROLLEDBACK"})
                    continue
                if top == "OK" and err not in (0, -2):
                    top = CODE_NAMES[err]
                out.append({"err": CODE_NAMES[err]})
            elif kind == "create":
                path, st = value
                r = {"err": "OK", "path": path}
                if st is not None:
                    r["stat"] = stat_raw(st)
                out.append(r)
            elif kind == "set":
                out.append({"err": "OK", "stat": stat_raw(value)})
            else:
                out.append({"err": "OK"})
        return {"err": top, "results": out}


STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
               "aversion", "ephemeralOwner", "dataLength", "numChildren", "pzxid")


def normalize(v, labels, owners):
    if isinstance(v, list):
        return [normalize(x, labels, owners) for x in v]
    if not isinstance(v, dict):
        return v
    if "__stat__" in v:
        st = dict(zip(STAT_FIELDS, v["__stat__"]))
        z = lambda x: "0" if x == 0 else labels.get(x, "?")
        t = lambda x: "0" if x == 0 else "nonzero"
        eo = st["ephemeralOwner"]
        return {
            "czxid": z(st["czxid"]), "mzxid": z(st["mzxid"]), "pzxid": z(st["pzxid"]),
            "ctime": t(st["ctime"]), "mtime": t(st["mtime"]),
            "version": st["version"], "cversion": st["cversion"],
            "aversion": st["aversion"],
            "ephemeralOwner": 0 if eo == 0 else owners.get(eo, "?"),
            "dataLength": st["dataLength"], "numChildren": st["numChildren"],
        }
    return {k: normalize(x, labels, owners) for k, x in v.items()}


# --- the server -----------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(hostport, cmd):
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.sendall(cmd.encode())
        chunks = []
        while True:
            b = s.recv(4096)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode()


class Server:
    """A fresh standalone ZooKeeper in a temporary directory."""

    def __init__(self, classpath):
        self.dir = tempfile.mkdtemp(prefix="zk38-")
        self.port = free_port()
        self.hostport = "127.0.0.1:%d" % self.port
        data = os.path.join(self.dir, "data")
        os.mkdir(data)
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("tickTime=2000\n"
                    "dataDir=%s\n"
                    "clientPort=%d\n"
                    "clientPortAddress=127.0.0.1\n"
                    "maxClientCnxns=0\n"
                    "admin.enableServer=false\n"
                    "4lw.commands.whitelist=ruok,srvr\n" % (data, self.port))
        self.log = open(os.path.join(self.dir, "zookeeper.log"), "w")
        self.proc = subprocess.Popen(
            ["java", "-cp", classpath,
             "-Dzookeeper.extendedTypesEnabled=true",
             # No container or TTL reaping while a scenario runs.
             "-Dznode.container.checkIntervalMs=3600000",
             "-Dzookeeper.admin.enableServer=false",
             "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("ZooKeeper exited; log in %s" % self.dir)
            try:
                # ruok answers before the server serves; srvr does not.
                if "Zookeeper version:" in four_letter(self.hostport, "srvr"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ZooKeeper did not start")
            time.sleep(0.05)

    def version(self):
        for line in four_letter(self.hostport, "srvr").splitlines():
            if line.startswith("Zookeeper version:"):
                return line.split(":", 1)[1].strip()
        return "?"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def clean_tree(hostport):
    """Delete everything but the system nodes (for --server)."""
    c = KazooClient(hosts=hostport)
    c.start(timeout=CALL_TIMEOUT)
    try:
        for child in c.get_children("/"):
            if child != "zookeeper":
                c.delete("/" + child, recursive=True)
        for child in c.get_children("/zookeeper"):
            if child not in ("quota", "config"):
                c.delete("/zookeeper/" + child, recursive=True)
    finally:
        c.stop()
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", default=os.path.join(HERE, "scenarios.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "golden.json"))
    ap.add_argument("--server")
    ap.add_argument("--classpath", default=DEFAULT_CLASSPATH)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    # kazoo logs every connection a scenario closes.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)

    with open(args.scenarios) as f:
        scenarios = json.load(f)["scenarios"]
    names = [sc["name"] for sc in scenarios]
    if len(set(names)) != len(names):
        sys.exit("duplicate scenario names")
    for n in args.only:
        if n not in names:
            sys.exit("no scenario %r" % n)

    previous = {}
    if args.only and os.path.exists(args.out):
        with open(args.out) as f:
            previous = {sc["name"]: sc for sc in json.load(f)["scenarios"]}

    version = previous_version = "?"
    if args.only and os.path.exists(args.out):
        with open(args.out) as f:
            previous_version = json.load(f).get("zookeeper", "?")
    out = []
    for sc in scenarios:
        if args.only and sc["name"] not in args.only:
            if sc["name"] in previous:
                out.append(previous[sc["name"]])
            continue
        t0 = time.monotonic()
        if args.server:
            clean_tree(args.server)
            results = Runner(args.server).run(sc)
        else:
            srv = Server(args.classpath)
            try:
                version = srv.version()
                results = Runner(srv.hostport).run(sc)
            finally:
                srv.stop()
        out.append({"name": sc["name"], "results": results})
        print("%-40s %3d steps  %.1fs" % (sc["name"], len(results), time.monotonic() - t0),
              file=sys.stderr)

    doc = {
        "comment": "Generated by testdata/zk38/record.py from scenarios.json; do not edit.",
        "zookeeper": version if version != "?" else previous_version,
        "scenarios": out,
    }
    with open(args.out, "w") as f:
        f.write(dump(doc))


def dump(doc):
    """JSON with one step result per line, so diffs stay readable."""
    lines = ["{"]
    lines.append('  "comment": %s,' % json.dumps(doc["comment"]))
    lines.append('  "zookeeper": %s,' % json.dumps(doc["zookeeper"]))
    lines.append('  "scenarios": [')
    for si, sc in enumerate(doc["scenarios"]):
        lines.append('    {"name": %s, "results": [' % json.dumps(sc["name"]))
        for ri, r in enumerate(sc["results"]):
            comma = "," if ri < len(sc["results"]) - 1 else ""
            lines.append("      " + json.dumps(r, sort_keys=True) + comma)
        comma = "," if si < len(doc["scenarios"]) - 1 else ""
        lines.append("    ]}" + comma)
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
