# usage: /usr/bin/python3 capture.py OUTDIR PORTFILE
# Puts a ZooKeeper in a known state with kazoo (two sessions, nodes,
# ephemerals, data and child watches), then saves every word's reply.
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flw import ask
from kazoo.client import KazooClient
port = int(open(sys.argv[2]).read())
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
words = ["ruok","isro","srvr","stat","mntr","conf","cons","wchs","wchc","wchp","envi","dump","dirs","hash","gtmk","crst","srst"]
# a state with sessions, nodes, watches, ephemerals
c1 = KazooClient(hosts="127.0.0.1:%d" % port); c1.start()
c2 = KazooClient(hosts="127.0.0.1:%d" % port); c2.start()
c1.ensure_path("/a/b")
c1.create("/a/e1", b"x", ephemeral=True)
c2.create("/a/e2", b"yy", ephemeral=True)
c1.get("/a", watch=lambda e: None)
c1.get_children("/a", watch=lambda e: None)
c2.exists("/a/b", watch=lambda e: None)
c2.get("/a/b", watch=lambda e: None)
for i in range(5): c1.get("/a")
for w in words:
    data = ask(port, w)
    open(os.path.join(out, w + ".txt"), "wb").write(data)
    print("=== %s (%d bytes)" % (w, len(data)))
    sys.stdout.write(data.decode(errors="replace"))
    print()
# also stmk with an argument (8 bytes) is binary; skip
c1.stop(); c2.stop()
