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
// judge it: linearizability of writes and Sync+Get reads (porcupine), and
// for plain Gets that a session never goes back; a mutual-exclusion and
// fencing check of the Mutex recipe; exactly-once delivery of the Queue
// recipe; and the order and completeness of persistent watch events
// against the acknowledged writes, against each other, and as a sequence
// of states, allowing one run of missed events per reconnection (a
// persistent watch set again after a reconnection does not get what
// happened meanwhile, in ZooKeeper as in zkraft).
//
// # Running
//
//	go test ./internal/chaos -run TestChaos -v                 # one 3-node schedule, about a minute
//	go test ./internal/chaos -run TestChaos -v -chaos.long -timeout 2h   # 5 nodes, 10 schedules of 3 minutes
//	go test ./internal/chaos -run TestChaos -v -chaos.seed=N   # replay the schedule of seed N
//
// A failure prints the seed, the schedule, what the nemesis did when, the
// command that replays it, the tail of every node's log (the logs and data
// dirs are kept), and porcupine's visualization for a history that is not
// linearizable.
package chaos
