#!/usr/bin/env bash
# compare.sh: Apache ZooKeeper 3.8 (Debian's zookeeper package) and
# zkraft, started from the same zoo.cfg files, standalone and as a 3-node
# ensemble on loopback, measured by the same client (cmd/zkbench over the
# wire) with the same workloads and session counts, fsync on for both.
# It prints each system's figures, a table of zkraft/ZooKeeper ratios, CPU
# seconds per 1,000 writes and resident memory of the servers.
#
#   bench/compare.sh                       # defaults below
#   DURATION=10s SESSIONS=1,8,32,64 MODES="standalone ensemble" bench/compare.sh
#   POPULATE=0 bench/compare.sh            # skip the memory step (1M znodes)
#   FANOUT=0 bench/compare.sh              # skip one setData fanned out to 10,000 watchers
#
# Needs: go, Debian's zookeeper (apt-get install zookeeper), python3.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-5s}"
SESSIONS="${SESSIONS:-1,8,32,64}"
WORKLOADS="${WORKLOADS:-create,set,get,mixed}"
MODES="${MODES:-standalone ensemble}"
POPULATE="${POPULATE:-1000000}"
FANOUT="${FANOUT:-10000}"
ZKSERVER="${ZKSERVER:-/usr/share/zookeeper/bin/zkServer.sh}"
OUT="${OUT:-bench/out}"

[ -x "$ZKSERVER" ] || { echo "compare.sh: $ZKSERVER not found (apt-get install zookeeper)" >&2; exit 2; }
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building zkraft and zkbench"
go build -o "$work/zkraft" ./cmd/zkraft
go build -o "$work/zkbench" ./cmd/zkbench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# write_configs MODE: one zoo.cfg per server under $work/MODE/N, the same
# for both systems apart from dataDir.
write_configs() {
  local mode=$1 n=1 servers=""
  [ "$mode" = ensemble ] && n=3
  clients=()
  for i in $(seq 1 "$n"); do
    clients+=("$(free_port)")
    [ "$n" -gt 1 ] && servers+="server.$i=127.0.0.1:$(free_port):$(free_port)"$'\n'
  done
  for sys in zookeeper zkraft; do
    for i in $(seq 1 "$n"); do
      local d="$work/$mode/$sys/$i"
      mkdir -p "$d/data"
      echo "$i" > "$d/data/myid"
      cat > "$d/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$d/data
clientPort=${clients[$((i-1))]}
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
${servers}
EOF
    done
  done
}

# start SYS MODE: starts the servers of SYS and waits until they serve.
start() {
  local sys=$1 mode=$2 n=1
  [ "$mode" = ensemble ] && n=3
  sys_pids=()
  for i in $(seq 1 "$n"); do
    local d="$work/$mode/$sys/$i"
    if [ "$sys" = zookeeper ]; then
      ZOO_LOG_DIR="$d" SERVER_JVMFLAGS="-Xmx1g" setsid "$ZKSERVER" start-foreground "$d/zoo.cfg" >"$d/server.log" 2>&1 &
    else
      ZKRAFT_LOG_LEVEL=warn setsid "$work/zkraft" start-foreground "$d/zoo.cfg" >"$d/server.log" 2>&1 &
    fi
    sys_pids+=("$!")
    pids+=("$!")
  done
  addrs=""
  for c in "${clients[@]}"; do addrs+="127.0.0.1:$c,"; done
  addrs=${addrs%,}
  for c in "${clients[@]}"; do
    for _ in $(seq 1 600); do
      if out=$(python3 - "$c" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"srvr"); data = b""
while True:
    b = s.recv(4096)
    if not b: break
    data += b
print(data.decode())
PY
      ) && grep -q "Mode:" <<<"$out"; then break; fi
      sleep 0.1
    done
  done
}

# server_pids: the JVM or zkraft processes (zkServer.sh execs java).
cpu_seconds() {
  local total=0
  for p in "${sys_pids[@]}"; do
    for q in $p $(pgrep -P "$p" || true); do
      [ -r "/proc/$q/stat" ] || continue
      total=$(python3 -c "import os,sys; f=open('/proc/$q/stat').read().rsplit(')',1)[1].split(); print($total + (int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))")
    done
  done
  echo "$total"
}
rss_kib() {
  local total=0
  for p in "${sys_pids[@]}"; do
    for q in $p $(pgrep -P "$p" || true); do
      kb=$(awk '/VmRSS/{print $2}' "/proc/$q/status" 2>/dev/null || echo 0)
      total=$((total + ${kb:-0}))
    done
  done
  echo "$total"
}
rss_mib() { echo $(( $(rss_kib) / 1024 )); }

stop() {
  for p in "${sys_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; pkill -TERM -P "$p" 2>/dev/null || true; done
  for p in "${sys_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

results="$OUT/compare-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
for mode in $MODES; do
  write_configs "$mode"
  for sys in zookeeper zkraft; do
    echo "== $sys, $mode"
    start "$sys" "$mode"
    "$work/zkbench" -servers "$addrs" -workloads create,get -sessions 32 -duration 3s >/dev/null   # warm-up
    : > "$results/$sys-$mode.cpu"
    for w in ${WORKLOADS//,/ }; do
      before=$(cpu_seconds)
      "$work/zkbench" -servers "$addrs" -workloads "$w" -sessions "$SESSIONS" -duration "$DURATION" \
        -json "$results/$sys-$mode-$w.json" | grep -v '…'
      echo "$w $(python3 -c "print($(cpu_seconds) - $before)")" >> "$results/$sys-$mode.cpu"
    done
    echo "rss_mib $(rss_mib)" >> "$results/$sys-$mode.cpu"
    if [ "$FANOUT" -gt 0 ]; then
      "$work/zkbench" -servers "$addrs" -workloads fanout -sessions "$FANOUT" \
        -json "$results/$sys-$mode-fanout.json" | grep -v '…'
    fi
    if [ "$POPULATE" -gt 0 ]; then
      # Memory per znode: resident memory before and after POPULATE znodes
      # of 100 bytes, per server.
      before=$(rss_kib)
      "$work/zkbench" -servers "$addrs" -workloads populate -sessions "$POPULATE" \
        -json "$results/$sys-$mode-populate.json" | grep -v '…'
      echo "populate $POPULATE ${#sys_pids[@]} $before $(rss_kib)" >> "$results/$sys-$mode.cpu"
    fi
    stop
  done
done

python3 - "$results" "$MODES" "$WORKLOADS" <<'PY'
import json, os, sys
d, modes, workloads = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(",")
def load(sys_, mode, w):
    p = os.path.join(d, f"{sys_}-{mode}-{w}.json")
    return {r["sessions"]: r for r in json.load(open(p))} if os.path.exists(p) else {}
def cpu(sys_, mode):
    out = {}
    for line in open(os.path.join(d, f"{sys_}-{mode}.cpu")):
        k, *v = line.split()
        out[k] = [float(x) for x in v] if len(v) > 1 else float(v[0])
    return out
print("\n== zkraft / ZooKeeper 3.8 (ratios: ops/s higher is better, p99 lower is better)")
print(f"{'mode':<11}{'workload':<9}{'sessions':>9}{'ZK ops/s':>11}{'zkraft ops/s':>14}{'ratio':>7}{'ZK p99 ms':>11}{'zkraft p99 ms':>15}{'ratio':>7}")
for mode in modes:
    for w in workloads:
        zk, zr = load("zookeeper", mode, w), load("zkraft", mode, w)
        for n in sorted(zk):
            if n not in zr: continue
            a, b = zk[n], zr[n]
            print(f"{mode:<11}{w:<9}{n:>9}{a['ops_per_s']:>11.0f}{b['ops_per_s']:>14.0f}{b['ops_per_s']/max(a['ops_per_s'],1e-9):>7.2f}"
                  f"{a['p99_us']/1000:>11.2f}{b['p99_us']/1000:>15.2f}{b['p99_us']/max(a['p99_us'],1e-9):>7.2f}")
print("\n== CPU seconds per 1,000 writes, and resident memory after the run")
for mode in modes:
    for sys_ in ("zookeeper", "zkraft"):
        c = cpu(sys_, mode)
        parts = []
        for w in ("create", "set"):
            if w in c:
                ops = sum(r["ops"] for r in load(sys_, mode, w).values())
                parts.append(f"{w} {1000*c[w]/max(ops,1):.3f}s")
        print(f"{mode:<11}{sys_:<10} {'  '.join(parts)}  rss {c.get('rss_mib', 0):.0f} MiB")
fan = {}
for mode in modes:
    for sys_ in ("zookeeper", "zkraft"):
        r = load(sys_, mode, "fanout")
        if r:
            fan[(mode, sys_)] = next(iter(r.values()))
if fan:
    print("\n== one setData fanned out to every watcher: time until the last one has its event")
    for mode in modes:
        z, r = fan.get((mode, "zookeeper")), fan.get((mode, "zkraft"))
        if z and r:
            print(f"{mode:<11} {z['sessions']} watchers  ZooKeeper {z['max_us']/1000:8.1f} ms  zkraft {r['max_us']/1000:8.1f} ms  ratio {r['max_us']/z['max_us']:.2f}"
                  f"  (p50 {z['p50_us']/1000:.1f} / {r['p50_us']/1000:.1f} ms)")
mem = {}
for mode in modes:
    for sys_ in ("zookeeper", "zkraft"):
        p = cpu(sys_, mode).get("populate")
        if p:
            n, servers, before, after = p
            mem[(mode, sys_)] = (after - before) * 1024 / n / servers
if mem:
    print("\n== resident memory per znode (100 B of data each), per server, after populating")
    for mode in modes:
        z, r = mem.get((mode, "zookeeper")), mem.get((mode, "zkraft"))
        if z and r:
            print(f"{mode:<11} ZooKeeper {z:6.0f} B  zkraft {r:6.0f} B  ratio {r/z:.2f}")
PY
# A plot per mode: every workload of both systems, ZooKeeper dashed.
for mode in $MODES; do
  from=""
  for sys in zkraft zookeeper; do
    label=$([ "$sys" = zkraft ] && echo zkraft || echo "ZooKeeper")
    for w in ${WORKLOADS//,/ }; do
      [ -f "$results/$sys-$mode-$w.json" ] && from+="$label=$results/$sys-$mode-$w.json,"
    done
  done
  [ -n "$from" ] && "$work/zkbench" -plot "$results/$mode.svg" -plot-from "${from%,}" \
    -title "zkraft (solid) and ZooKeeper 3.8 (dashed), $mode, same client, fsync on"
done
echo "results in $results"
