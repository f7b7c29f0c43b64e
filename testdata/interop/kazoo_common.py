"""Shared plumbing of the kazoo interop scripts.

Every script is run by the Go tests in interop_kazoo_test.go as

    python3 SCRIPT HOSTS SCENARIO

where HOSTS is the ensemble's "host:port,host:port,..." and SCENARIO one of
the script's scenarios. A scenario prints one line per check:

    ok NAME: detail      the check passed
    skip NAME: reason    the check could not run against this server
    FAIL NAME: reason    the check failed (the script then exits 1)

and, when every check passed, a last line "PASS SCENARIO". The Go test
asserts the exit status and the "ok" lines it expects.

Waits poll a condition until a deadline (wait_until) or block on a
threading.Event with a timeout: nothing relies on a sleep being long enough.
"""

import logging
import sys
import threading
import time
import traceback
import uuid

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

# How long any single wait may take before the check fails: generous, as
# the servers may run under the race detector on a loaded machine.
WAIT = 20.0

# The session timeout the clients ask for, in seconds. The server may
# negotiate it down (zkraft: to 20 ticks).
SESSION_TIMEOUT = 10.0


class CheckFailed(Exception):
    """A check did not hold."""


class Scenario(object):
    """One run of a scenario: the hosts, the clients it opened, a root
    path of its own, and the lines it prints."""

    def __init__(self, hosts, name):
        self.hosts = hosts
        self.host_list = hosts.split(",")
        self.name = name
        # A root of its own, so that runs never see each other's nodes.
        self.root = "/interop-%s-%s" % (name.replace("_", "-"), uuid.uuid4().hex[:8])
        self._clients = []
        self._lock = threading.Lock()
        self.current = None  # the check being run, for FAIL lines

    def client(self, host=None, **kwargs):
        """Start a client on host (an index into the ensemble, or None for
        all of it) and return it; it is stopped when the scenario ends."""
        if host is None:
            hosts = self.hosts
        else:
            hosts = self.host_list[host % len(self.host_list)]
        kwargs.setdefault("timeout", SESSION_TIMEOUT)
        kwargs.setdefault("connection_retry", KazooRetry(max_tries=-1, delay=0.05, max_delay=1.0))
        kwargs.setdefault("command_retry", KazooRetry(max_tries=20, delay=0.05, max_delay=1.0))
        zk = KazooClient(hosts=hosts, **kwargs)
        zk.start(timeout=WAIT)
        with self._lock:
            self._clients.append(zk)
        return zk

    def step(self, check):
        """Begin the check named check: a failure from here on names it."""
        self.current = check

    def ok(self, detail=""):
        """The current check passed."""
        print("ok %s: %s" % (self.current, detail), flush=True)

    def skip(self, reason):
        """The current check cannot run against this server."""
        print("skip %s: %s" % (self.current, reason), flush=True)

    def run_all(self, checks):
        """Run each function of checks as the check of its name, going on
        after a failure; fail at the end with the first failure."""
        first = None
        for fn in checks:
            self.step(fn.__name__)
            try:
                fn()
            except CheckFailed as e:
                print("FAIL %s: %s" % (self.current, e), flush=True)
                first = first or e
        if first is not None:
            self.current = None
            raise CheckFailed("%s" % first)

    def close(self):
        """Stop every client, after removing the scenario's root with the
        first client that may (ACLs may keep some from it)."""
        with self._lock:
            clients, self._clients = self._clients, []
        for zk in clients:
            if not zk.connected:
                continue
            try:
                if zk.exists(self.root) is not None:
                    zk.delete(self.root, recursive=True)
                break
            except Exception:
                pass
        for zk in clients:
            try:
                zk.stop()
                zk.close()
            except Exception:
                pass


def check(cond, what, *args):
    """Fail the current check unless cond holds."""
    if not cond:
        raise CheckFailed(what % args if args else what)


def expect_equal(got, want, what):
    if got != want:
        raise CheckFailed("%s: got %r, want %r" % (what, got, want))


def expect_raises(exc, fn, *args, **kwargs):
    """Run fn and fail unless it raises exc; returns the exception."""
    try:
        fn(*args, **kwargs)
    except exc as e:
        return e
    except Exception as e:
        raise CheckFailed("%s%r raised %r, want %s" % (
            getattr(fn, "__name__", fn), args, e, exc.__name__))
    raise CheckFailed("%s%r returned, want %s" % (
        getattr(fn, "__name__", fn), args, exc.__name__))


def wait_until(pred, what, timeout=WAIT):
    """Poll pred until it returns a true value, which is returned; fail
    after timeout seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise CheckFailed("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(delay)  # polling, bounded by the deadline
        delay = min(delay * 2, 0.05)


def wait_event(ev, what, timeout=WAIT):
    if not ev.wait(timeout):
        raise CheckFailed("timed out after %.0fs waiting for %s" % (timeout, what))


def join_all(threads, what, timeout=WAIT * 3):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            raise CheckFailed("timed out waiting for %s (%s still running)" % (what, t.name))


class Worker(threading.Thread):
    """A thread that keeps the exception its target raised, so the
    scenario can fail with it."""

    def __init__(self, name, target, *args):
        threading.Thread.__init__(self, name=name, target=target, args=args, daemon=True)
        self.error = None
        self.trace = None

    def run(self):
        try:
            threading.Thread.run(self)
        except BaseException as e:
            self.error = e
            self.trace = traceback.format_exc()


def raise_worker_errors(threads):
    for t in threads:
        if t.error is not None:
            raise CheckFailed("%s failed: %r\n%s" % (t.name, t.error, t.trace))


def main(scenarios):
    """Run the scenario named on the command line; exit 0 if every check
    passed, 1 if one failed, 2 on bad usage."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if len(sys.argv) != 3 or sys.argv[2] not in scenarios:
        print("usage: %s HOST:PORT[,HOST:PORT...] {%s}" % (sys.argv[0], "|".join(sorted(scenarios))),
              file=sys.stderr)
        sys.exit(2)
    hosts, name = sys.argv[1], sys.argv[2]
    s = Scenario(hosts, name)
    code = 0
    try:
        scenarios[name](s)
        print("PASS %s" % name, flush=True)
    except CheckFailed as e:
        print("FAIL %s: %s" % (s.current or name, e), flush=True)
        code = 1
    except Exception:
        print("FAIL %s: unexpected exception:\n%s" % (s.current or name, traceback.format_exc()), flush=True)
        code = 1
    finally:
        s.close()
    sys.stdout.flush()
    sys.exit(code)
