package zk

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// stuckPipeline is raft's netPipeline in miniature: its reply reader hands
// each reply over on an unbuffered channel and blocks until someone takes
// it, and each send waits for the reader to take the request.
type stuckPipeline struct {
	inprogress chan raft.AppendFuture
	done       chan raft.AppendFuture
	shutdown   chan struct{}
}

func newStuckPipeline() *stuckPipeline {
	p := &stuckPipeline{
		inprogress: make(chan raft.AppendFuture),
		done:       make(chan raft.AppendFuture),
		shutdown:   make(chan struct{}),
	}
	go func() {
		for {
			select {
			case f := <-p.inprogress:
				select {
				case p.done <- f:
				case <-p.shutdown:
					return
				}
			case <-p.shutdown:
				return
			}
		}
	}()
	return p
}

func (p *stuckPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	select {
	case p.inprogress <- nil:
		return nil, nil
	case <-p.shutdown:
		return nil, raft.ErrPipelineShutdown
	}
}

func (p *stuckPipeline) Consumer() <-chan raft.AppendFuture { return p.done }

func (p *stuckPipeline) Close() error {
	close(p.shutdown)
	return nil
}

// TestDrainedPipelineNeverBlocksSends: with nobody reading the replies —
// raft's decoder gone after a rejection — sends still return, where the
// bare pipeline blocks on its second.
func TestDrainedPipelineNeverBlocksSends(t *testing.T) {
	bare := newStuckPipeline()
	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		for range 3 {
			if _, err := bare.AppendEntries(nil, nil); err != nil {
				return
			}
		}
	}()
	select {
	case <-blocked:
		t.Fatal("the bare pipeline did not block: the test shows nothing")
	case <-time.After(50 * time.Millisecond): // proving a block needs a wait
	}
	bare.Close()
	<-blocked

	d := newDrainedPipeline(newStuckPipeline())
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for range 10 * drainedReplies {
			if _, err := d.AppendEntries(nil, nil); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("sends on the drained pipeline blocked")
	}
	if n := len(d.Consumer()); n != drainedReplies {
		t.Errorf("%d replies held, want %d", n, drainedReplies)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
