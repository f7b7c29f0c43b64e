package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zkraft/zk"
)

// The queue workload: producers Put unique items into one zk.Queue, and
// consumers Take them, on sessions of their own. At the end one client
// drains what is left. Every item must be taken at most once; every item
// whose Put returned nil must be taken; an item whose Put had an unknown
// outcome may be missing. A Take whose outcome the recipe says is
// unknown may have lost one item.

// QueuePath is the queue workload's Queue.
const QueuePath = "/queue"

// QueueWorkload is the queue workload's clients and records.
type QueueWorkload struct {
	env                  *Env
	producers, consumers int

	mu          sync.Mutex
	put         map[string]bool // guarded by mu; item → its Put returned nil (false: unknown)
	taken       map[string]int  // guarded by mu; item → times taken
	takenBy     map[string][]string
	unknownPuts int // guarded by mu
	unknownTake int // guarded by mu
	failedPuts  int // guarded by mu
	fails       Failures
}

// NewQueueWorkload returns the workload with its producers and consumers.
func NewQueueWorkload(env *Env, producers, consumers int) *QueueWorkload {
	return &QueueWorkload{env: env, producers: producers, consumers: consumers,
		put: map[string]bool{}, taken: map[string]int{}, takenBy: map[string][]string{}}
}

// outcomeUnknown reports whether a recipe's error says that the outcome
// of its write is unknown.
func outcomeUnknown(err error) bool {
	return err != nil && strings.Contains(err.Error(), "outcome unknown")
}

// Run runs the producers and consumers until ctx ends.
func (w *QueueWorkload) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.producers {
		wg.Go(func() { w.producer(ctx, i) })
	}
	for i := range w.consumers {
		wg.Go(func() { w.consumer(ctx, fmt.Sprintf("consumer %d", i)) })
	}
	wg.Wait()
}

func (w *QueueWorkload) producer(ctx context.Context, i int) {
	s := &session{env: w.env}
	defer s.close()
	for n := 0; ctx.Err() == nil; n++ {
		conn, err := s.get(ctx)
		if err != nil {
			return
		}
		item := fmt.Sprintf("p%d-%d", i, n)
		putCtx, cancel := context.WithTimeout(ctx, 2*w.env.OpTimeout)
		err = zk.NewQueue(conn, QueuePath).Put(putCtx, []byte(item))
		cancel()
		w.mu.Lock()
		switch {
		case err == nil:
			w.put[item] = true
		case outcomeUnknown(err):
			w.put[item] = false
			w.unknownPuts++
		default:
			w.failedPuts++
		}
		w.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *QueueWorkload) consumer(ctx context.Context, who string) {
	s := &session{env: w.env}
	defer s.close()
	for ctx.Err() == nil {
		conn, err := s.get(ctx)
		if err != nil {
			return
		}
		takeCtx, cancel := context.WithTimeout(ctx, 2*w.env.OpTimeout)
		data, err := zk.NewQueue(conn, QueuePath).Take(takeCtx)
		cancel()
		w.took(who, data, err)
	}
}

func (w *QueueWorkload) took(who string, data []byte, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		item := string(data)
		w.taken[item]++
		w.takenBy[item] = append(w.takenBy[item], fmt.Sprintf("%s at %v", who, time.Duration(w.env.Now())))
	case outcomeUnknown(err):
		w.unknownTake++
	}
}

// Drain takes every item left, from a session on each node in turn (an
// item may be visible on one node a moment before another).
func (w *QueueWorkload) Drain(ctx context.Context) error {
	return retry(ctx, func(ctx context.Context) error {
		conn, err := w.env.Dial(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := conn.Sync(ctx, QueuePath); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		q := zk.NewQueue(conn, QueuePath)
		for {
			opCtx, cancel := context.WithTimeout(ctx, 2*w.env.OpTimeout)
			data, err := q.TryTake(opCtx)
			cancel()
			if errors.Is(err, zk.ErrQueueEmpty) {
				return nil
			}
			w.took("drain", data, err)
			if err != nil {
				return err
			}
		}
	})
}

// QueueResult sums up a check of the queue workload.
type QueueResult struct {
	Put, UnknownPuts, FailedPuts, Taken, UnknownTakes int
}

// Check checks that no item was taken twice, none that was never put was
// taken, and every item put was taken, but for those whose Put or a Take
// had an unknown outcome.
func (w *QueueWorkload) Check() (QueueResult, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	res := QueueResult{UnknownPuts: w.unknownPuts, FailedPuts: w.failedPuts, UnknownTakes: w.unknownTake}
	fails := w.fails.List()
	var missing []string
	for item, ok := range w.put {
		if ok {
			res.Put++
			if w.taken[item] == 0 {
				missing = append(missing, item)
			}
		}
	}
	for item, n := range w.taken {
		res.Taken += n
		if n > 1 {
			fails = append(fails, fmt.Sprintf("queue: item %s taken %d times: %s", item, n, strings.Join(w.takenBy[item], ", ")))
		}
		if _, ok := w.put[item]; !ok {
			fails = append(fails, fmt.Sprintf("queue: item %s taken (%s) but its Put failed or was never made", item, strings.Join(w.takenBy[item], ", ")))
		}
	}
	if len(missing) > w.unknownTake {
		sort.Strings(missing)
		fails = append(fails, fmt.Sprintf("queue: %d items put but never taken (and %d Takes had an unknown outcome): %v", len(missing), w.unknownTake, missing))
	}
	return res, fails
}
