// Package chaos runs ensembles of the real zkraft binary on loopback, with
// a fault-injecting TCP proxy on every peer link, drives ZooKeeper
// workloads at them over the wire, and checks what the clients saw.
//
// Node i listens at 127.0.0.(10+i): Linux routes all of 127/8 to the
// loopback device, so each node has an address of its own, and the proxy
// tells the directed link i→j of a peer connection by its source address.
// Peers reach node j at its advertised peer address, where the Proxy
// listens, and the Proxy forwards to the port where j really listens
// (zkraft's -peer-listen).
//
// # Faults
//
// The Proxy carries out, per directed link, blackhole partitions (bytes
// held, as TCP holds them while segments are lost), one-way partitions
// (one direction held, the other flowing), hard partitions (connections
// reset and refused), added latency, random drops of whole connections and
// bandwidth limits. Cluster carries out the process faults: SIGKILL and
// restart from the same data dir, SIGSTOP and SIGCONT. A Nemesis is a
// seeded random schedule of both kinds.
//
// # Checks
//
// The workloads record what their clients did and saw, and the checkers
// judge it: linearizability of writes and Sync+Get reads (porcupine), a
// mutual-exclusion and fencing check of the Mutex recipe, exactly-once
// delivery of the Queue recipe, and the order and completeness of watch
// events against the history of writes.
package chaos
