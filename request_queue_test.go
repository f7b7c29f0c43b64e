package zk

import (
	"testing"
	"time"
)

// TestRequestQueue: requests come out in order; a full queue holds the
// pusher until one is taken, or until it gives up; after close, what
// waits is still taken, then the queue says it is closed; a burst's
// array is let go once the queue is empty.
func TestRequestQueue(t *testing.T) {
	q := newRequestQueue(3)
	done := make(chan struct{})
	req := func(i int) wireRequest { return wireRequest{frame: []byte{byte(i)}} }
	for i := range 3 {
		if !q.push(req(i), done) {
			t.Fatal("push refused with room")
		}
	}
	pushed := make(chan bool)
	go func() { pushed <- q.push(req(3), done) }()
	select {
	case <-pushed:
		t.Fatal("a push into a full queue did not wait")
	case <-time.After(20 * time.Millisecond): // it waits: nothing to poll for
	}
	for i := range 4 {
		if i == 1 {
			if !<-pushed {
				t.Fatal("the waiting push was refused once there was room")
			}
		}
		select {
		case <-q.ready:
		default:
			t.Fatalf("request %d waits and ready is not set", i)
		}
		r, ok, closed := q.pop()
		if !ok || closed || r.frame[0] != byte(i) {
			t.Fatalf("pop %d: %v %v %v", i, r.frame, ok, closed)
		}
	}
	if _, ok, closed := q.pop(); ok || closed {
		t.Fatalf("pop of an empty open queue: %v %v", ok, closed)
	}

	// A full queue's pusher gives up when done closes.
	for i := range 3 {
		q.push(req(i), done)
	}
	go func() { pushed <- q.push(req(9), done) }()
	close(done)
	if <-pushed {
		t.Fatal("a push went in after done")
	}

	q.close()
	for i := range 3 {
		if r, ok, closed := q.pop(); !ok || closed || r.frame[0] != byte(i) {
			t.Fatalf("pop %d after close: %v %v %v", i, r.frame, ok, closed)
		}
	}
	if _, ok, closed := q.pop(); ok || !closed {
		t.Fatalf("pop of an empty closed queue: %v %v", ok, closed)
	}

	big := newRequestQueue(1000)
	for i := range 500 {
		big.push(req(i), nil)
	}
	for range 500 {
		big.pop()
	}
	if big.items != nil {
		t.Fatalf("an empty queue keeps an array of %d", cap(big.items))
	}
}
