package zk

import "sync"

// requestQueue carries a connection's requests from its reader to its
// processor, at most max of them: the reader waits beyond it, and so
// stops reading from a client that sends faster than its requests run.
// A buffered channel of that capacity did the same, but cost every
// connection its whole capacity up front (48 KB at the default 1,000),
// busy or idle; the queue holds only what is waiting.
type requestQueue struct {
	room  *byteGate     // counts the requests waiting, in ones
	ready chan struct{} // a request waits, or the queue closed

	mu     sync.Mutex
	items  []wireRequest
	head   int // items[head:] are waiting
	closed bool
}

func newRequestQueue(max int) *requestQueue {
	return &requestQueue{room: newByteGate(max), ready: make(chan struct{}, 1)}
}

// push queues r, waiting while the queue is full; it returns false,
// queueing nothing, once done is closed.
func (q *requestQueue) push(r wireRequest, done <-chan struct{}) bool {
	if !q.room.acquire(1, done) {
		return false
	}
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	poke(q.ready)
	return true
}

// pop takes the oldest request; ok is false when none waits, and closed
// then tells whether none ever will.
func (q *requestQueue) pop() (r wireRequest, ok, closed bool) {
	q.mu.Lock()
	if q.head == len(q.items) {
		closed = q.closed
		q.mu.Unlock()
		return wireRequest{}, false, closed
	}
	r = q.items[q.head]
	q.items[q.head] = wireRequest{}
	q.head++
	more := q.head < len(q.items)
	if !more {
		// Empty: reuse the array, unless a burst made it large.
		if cap(q.items) > 64 {
			q.items = nil
		} else {
			q.items = q.items[:0]
		}
		q.head = 0
	}
	q.mu.Unlock()
	q.room.release(1)
	if more {
		poke(q.ready) // for the next one
	}
	return r, true, false
}

// close tells the processor that no more requests will come.
func (q *requestQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	poke(q.ready)
}

// len returns how many requests wait.
func (q *requestQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}
