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
#   ROUNDS=3 bench/compare.sh              # three runs of each, alternating; medians, and each round's ratio
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
ROUNDS="${ROUNDS:-1}"  # runs of each system, alternating which goes first; the table takes the median
SETSID="${SETSID:-0}"  # 1: each server in a session of its own (see start)
own_session=""; [ "$SETSID" = 1 ] && own_session=setsid

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
# They stay in this shell's session, with the client: with the kernel's
# autogroup scheduling (on by default), a process in a session of its own
# (setsid) gets a whole share of the CPU to itself, so three servers in
# three sessions starved the client in a fourth, and a read-heavy run
# measured the starved client (zkraft's 3-node gets: 14,000/s with setsid,
# 35,000/s without), not the servers.
start() {
  local sys=$1 mode=$2 n=1
  [ "$mode" = ensemble ] && n=3
  sys_pids=()
  for i in $(seq 1 "$n"); do
    local d="$work/$mode/$sys/$i"
    if [ "$sys" = zookeeper ]; then
      ZOO_LOG_DIR="$d" SERVER_JVMFLAGS="-Xmx1g" $own_session "$ZKSERVER" start-foreground "$d/zoo.cfg" >"$d/server.log" 2>&1 &
    else
      ZKRAFT_LOG_LEVEL=warn $own_session "$work/zkraft" start-foreground "$d/zoo.cfg" >"$d/server.log" 2>&1 &
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
  for round in $(seq 1 "$ROUNDS"); do
    # Alternate which system goes first: the machine drifts during a run.
    order="zookeeper zkraft"; [ $((round % 2)) = 0 ] && order="zkraft zookeeper"
    for sys in $order; do
      echo "== $sys, $mode, round $round of $ROUNDS"
      rm -rf "$work/$mode/$sys"/*/data/version-2 "$work/$mode/$sys"/*/data/zkraft
      start "$sys" "$mode"
      "$work/zkbench" -servers "$addrs" -workloads create,get -sessions 32 -duration 3s >/dev/null   # warm-up
      cpuf="$results/$sys-$mode.r$round.cpu"
      : > "$cpuf"
      for w in ${WORKLOADS//,/ }; do
        before=$(cpu_seconds)
        "$work/zkbench" -servers "$addrs" -workloads "$w" -sessions "$SESSIONS" -duration "$DURATION" \
          -json "$results/$sys-$mode-$w.r$round.json" | grep -v '…'
        echo "$w $(python3 -c "print($(cpu_seconds) - $before)")" >> "$cpuf"
      done
      echo "rss_mib $(rss_mib)" >> "$cpuf"
      if [ "$round" = 1 ] && [ "$FANOUT" -gt 0 ]; then
        "$work/zkbench" -servers "$addrs" -workloads fanout -sessions "$FANOUT" \
          -json "$results/$sys-$mode-fanout.r1.json" | grep -v '…'
      fi
      if [ "$round" = 1 ] && [ "$POPULATE" -gt 0 ]; then
        # Memory per znode: resident memory before and after POPULATE znodes
        # of 100 bytes, per server.
        before=$(rss_kib)
        "$work/zkbench" -servers "$addrs" -workloads populate -sessions "$POPULATE" \
          -json "$results/$sys-$mode-populate.r1.json" | grep -v '…'
        echo "populate $POPULATE ${#sys_pids[@]} $before $(rss_kib)" >> "$cpuf"
      fi
      stop
    done
  done
done

python3 - "$results" "$MODES" "$WORKLOADS" "$ROUNDS" <<'PY'
import json, os, statistics, sys
d, modes, workloads, rounds = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(","), int(sys.argv[4])
def load_round(sys_, mode, w, r):
    p = os.path.join(d, f"{sys_}-{mode}-{w}.r{r}.json")
    return {x["sessions"]: x for x in json.load(open(p))} if os.path.exists(p) else {}
def cpu_round(sys_, mode, r):
    out, p = {}, os.path.join(d, f"{sys_}-{mode}.r{r}.cpu")
    if not os.path.exists(p):
        return out
    for line in open(p):
        k, *v = line.split()
        out[k] = [float(x) for x in v] if len(v) > 1 else float(v[0])
    return out
def median_run(runs):
    # The run with the median ops/s (of an even count, the lower middle
    # one), whole, so that its figures agree.
    runs = sorted(runs, key=lambda x: x["ops_per_s"])
    return runs[(len(runs) - 1) // 2]
# Each system's runs, merged into one file per workload of the median
# runs (the plots draw those).
merged = {}
for mode in modes:
    for sys_ in ("zookeeper", "zkraft"):
        for w in workloads + ["fanout", "populate"]:
            per = [load_round(sys_, mode, w, r) for r in range(1, rounds + 1)]
            per = [p for p in per if p]
            if not per:
                continue
            m = {n: median_run([p[n] for p in per if n in p]) for n in sorted(per[0])}
            merged[(sys_, mode, w)] = (m, per)
            json.dump(list(m.values()), open(os.path.join(d, f"{sys_}-{mode}-{w}.json"), "w"), indent=2)
def load(sys_, mode, w):
    return merged.get((sys_, mode, w), ({}, []))[0]
print(f"\n== zkraft / ZooKeeper 3.8 (ratios: ops/s higher is better, p99 lower is better; median of {rounds} round(s)", end="")
print(", with the lowest and highest round's ratio)" if rounds > 1 else ")")
print(f"{'mode':<11}{'workload':<9}{'sessions':>9}{'ZK ops/s':>11}{'zkraft ops/s':>14}{'ratio':>7}{'ZK p99 ms':>11}{'zkraft p99 ms':>15}{'ratio':>7}")
for mode in modes:
    for w in workloads:
        zk, zr = load("zookeeper", mode, w), load("zkraft", mode, w)
        for n in sorted(zk):
            if n not in zr: continue
            a, b = zk[n], zr[n]
            line = (f"{mode:<11}{w:<9}{n:>9}{a['ops_per_s']:>11.0f}{b['ops_per_s']:>14.0f}{b['ops_per_s']/max(a['ops_per_s'],1e-9):>7.2f}"
                    f"{a['p99_us']/1000:>11.2f}{b['p99_us']/1000:>15.2f}{b['p99_us']/max(a['p99_us'],1e-9):>7.2f}")
            if rounds > 1:
                pz, pr = merged[("zookeeper", mode, w)][1], merged[("zkraft", mode, w)][1]
                rs = [y[n]["ops_per_s"] / max(x[n]["ops_per_s"], 1e-9) for x, y in zip(pz, pr) if n in x and n in y]
                line += f"   ops ratio per round {min(rs):.2f}–{max(rs):.2f}"
            print(line)
print("\n== CPU seconds per 1,000 writes (median of the rounds), and resident memory after the run")
for mode in modes:
    for sys_ in ("zookeeper", "zkraft"):
        cpus = {r: cpu_round(sys_, mode, r) for r in range(1, rounds + 1)}
        parts = []
        for w in ("create", "set"):
            per = []
            for r, c in cpus.items():
                runs = load_round(sys_, mode, w, r)
                if w in c and runs:
                    per.append(1000 * c[w] / max(sum(x["ops"] for x in runs.values()), 1))
            if per:
                parts.append(f"{w} {statistics.median(per):.3f}s")
        rss = [c["rss_mib"] for c in cpus.values() if "rss_mib" in c]
        print(f"{mode:<11}{sys_:<10} {'  '.join(parts)}  rss {statistics.median(rss) if rss else 0:.0f} MiB")
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
        p = cpu_round(sys_, mode, 1).get("populate")
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
