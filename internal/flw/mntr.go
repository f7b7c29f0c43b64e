package flw

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// writeMntr renders mntr as ZooKeeper 3.8 does: the version and state
// lines, then its metrics provider's dump — gauges, counters, summaries
// (avg/min/max/cnt/sum), summaries with percentiles, then the summary
// sets. Every key ZooKeeper prints is printed, those zkraft has no value
// for as a fresh ZooKeeper prints them, so that dashboards find the keys
// they expect.
func writeMntr(b *strings.Builder, s *Stats) {
	m := s.mode()
	printed := map[string]bool{}
	put := func(key string, v any) {
		if o, ok := s.Metrics[key]; ok {
			v = o
		}
		printed[key] = true
		b.WriteString("zk_")
		b.WriteString(key)
		b.WriteByte('\t')
		b.WriteString(metricString(v))
		b.WriteByte('\n')
	}
	put("version", s.FullVersion())
	put("server_state", string(m))
	if m.quorum() {
		put("peer_state", s.peerState())
	}
	if m == ModeObserver {
		put("observer_master_id", s.ObserverMasterID)
	}

	gauges := standaloneGauges
	switch {
	case m == ModeLeader:
		gauges = leaderGauges
	case m.quorum():
		gauges = append(append([]string(nil), standaloneGauges...), "quorum_size")
	}
	for _, k := range gauges {
		put(k, s.gauge(k))
	}
	for _, k := range mntrCounters {
		put(k, int64(0))
	}
	summary := func(name string, v Summary, pct bool) {
		put("avg_"+name, v.Avg())
		put("min_"+name, v.Min)
		put("max_"+name, v.Max)
		put("cnt_"+name, v.Count)
		put("sum_"+name, v.Sum)
		if pct {
			put("p50_"+name, v.P50)
			put("p95_"+name, v.P95)
			put("p99_"+name, v.P99)
			put("p999_"+name, v.P999)
		}
	}
	for _, k := range mntrBasicSummaries {
		summary(k, Summary{}, false)
	}
	for _, k := range mntrSummaries {
		var v Summary
		switch k {
		case "readlatency":
			v = s.ReadLatency
		case "updatelatency":
			v = s.UpdateLatency
		}
		summary(k, v, true)
	}
	if m == ModeLeader {
		for _, id := range sortedIDs(s.LearnerQueueSize) {
			summary(fmt.Sprintf("%d_learner_handler_qp_size", id), s.LearnerQueueSize[id], false)
		}
	}
	for _, ns := range sortedKeys(s.ReadPerNamespace) {
		summary(ns+"_read_per_namespace", s.ReadPerNamespace[ns], false)
	}
	for _, ns := range sortedKeys(s.WritePerNamespace) {
		summary(ns+"_write_per_namespace", s.WritePerNamespace[ns], false)
	}
	if m == ModeLeader {
		for _, id := range sortedIDs(s.LearnerQueueTime) {
			summary(fmt.Sprintf("%d_learner_handler_qp_time_ms", id), s.LearnerQueueTime[id], true)
		}
	}
	for _, k := range sortedKeys(s.Metrics) {
		if !printed[k] {
			put(k, s.Metrics[k])
		}
	}
}

func (s *Stats) peerState() string {
	if s.PeerState != "" {
		return s.PeerState
	}
	switch s.mode() {
	case ModeLeader:
		return "leading - broadcast"
	case ModeFollower:
		return "following - broadcast"
	case ModeObserver:
		return "observing - broadcast"
	}
	return ""
}

// gauge is the value of one of ZooKeeper's gauges.
func (s *Stats) gauge(k string) any {
	switch k {
	case "ephemerals_count":
		return s.Ephemerals
	case "num_alive_connections":
		return len(s.Connections)
	case "avg_latency":
		return s.Latency.Avg()
	case "min_latency":
		return s.Latency.Min
	case "max_latency":
		return s.Latency.Max
	case "outstanding_requests":
		return s.Outstanding
	case "znode_count":
		return s.NodeCount
	case "global_sessions":
		return s.GlobalSessions
	case "local_sessions":
		return s.LocalSessions
	case "packets_sent":
		return s.PacketsSent
	case "packets_received":
		return s.PacketsReceived
	case "watch_count":
		return s.WatchCount
	case "approximate_data_size":
		return s.DataSize
	case "open_file_descriptor_count":
		return s.OpenFDs
	case "max_file_descriptor_count":
		return s.MaxFDs
	case "uptime":
		return s.Uptime.Milliseconds()
	case "quorum_size":
		return s.QuorumSize
	case "learners":
		return s.Learners
	case "synced_followers":
		return s.SyncedFollowers
	case "synced_non_voting_followers":
		return s.SyncedNonVotingFollowers
	case "synced_observers":
		return s.SyncedObservers
	case "pending_syncs":
		return s.PendingSyncs
	case "leader_uptime":
		return s.LeaderUptime.Milliseconds()
	case "last_proposal_size":
		return s.ProposalSizes.Last
	case "min_proposal_size":
		return s.ProposalSizes.Min
	case "max_proposal_size":
		return s.ProposalSizes.Max
	case "connection_drop_probability":
		return 0.0
	case "last_client_response_size", "min_client_response_size", "max_client_response_size":
		// ZooKeeper's "no response yet".
		return int64(-1)
	}
	return int64(0)
}

// metricString prints a value as ZooKeeper's PrintWriter prints the Long,
// Integer, Double or String it holds.
func metricString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return javaDouble(x)
	case float32:
		return javaDouble(float64(x))
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func sortedIDs(m map[uint64]Summary) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
