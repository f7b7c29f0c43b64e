package zk

import (
	"sync"

	"github.com/hashicorp/raft"
)

// pipelineTransport is raft's NetworkTransport with replication pipelines
// that cannot wedge.
//
// hashicorp/raft's pipeline decoder stops at the first AppendEntries a
// follower rejects — as a follower does when its disk fails a write — and
// then nothing reads the pipeline's replies. The transport's reply reader
// blocks handing over the next one, the next send blocks handing its
// request to that reader, and the leader's replication to the follower
// stops for good: heartbeats still flow, so no election repairs it, and
// raft's Shutdown waits on it for ever (TestLogWriteFails; the same
// deadlock as grafana/pyroscope#5518). Draining the replies ourselves
// keeps the reader moving, so the send returns and raft falls back to
// plain AppendEntries as it means to.
type pipelineTransport struct {
	*raft.NetworkTransport
}

// AppendEntriesPipeline returns raft's pipeline with its replies drained.
func (t pipelineTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return newDrainedPipeline(p), nil
}

// drainedReplies is how many replies a drained pipeline holds for raft's
// decoder. While the decoder runs it takes each at once; more waiting
// than this means it has stopped, and the rest are dropped.
const drainedReplies = 64

// drainedPipeline forwards a pipeline's replies to raft without ever
// blocking the pipeline's reply reader.
type drainedPipeline struct {
	raft.AppendPipeline
	replies   chan raft.AppendFuture
	stop      chan struct{}
	drained   chan struct{}
	closeOnce sync.Once
}

func newDrainedPipeline(p raft.AppendPipeline) *drainedPipeline {
	d := &drainedPipeline{
		AppendPipeline: p,
		replies:        make(chan raft.AppendFuture, drainedReplies),
		stop:           make(chan struct{}),
		drained:        make(chan struct{}),
	}
	go d.drain()
	return d
}

func (d *drainedPipeline) drain() {
	defer close(d.drained)
	in := d.AppendPipeline.Consumer()
	for {
		select {
		case f := <-in:
			select {
			case d.replies <- f:
			default:
				// Raft's decoder has stopped reading; a decoder that
				// still ran would learn the same from later replies.
			}
		case <-d.stop:
			return
		}
	}
}

// Consumer returns the drained replies.
func (d *drainedPipeline) Consumer() <-chan raft.AppendFuture { return d.replies }

// Close closes the pipeline and waits for its drain to end.
func (d *drainedPipeline) Close() error {
	err := d.AppendPipeline.Close()
	d.closeOnce.Do(func() { close(d.stop) })
	<-d.drained
	return err
}
