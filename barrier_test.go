package zk_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

// btRecv fails the test unless ch delivers nil in time.
func btRecv(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(zktest.WaitTimeout):
		t.Fatalf("%s did not return", what)
	}
}

// btBlocked fails the test if ch delivers anything soon.
func btBlocked(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned while it should block: %v", what, err)
	case <-time.After(150 * time.Millisecond):
	}
}

// TestBarrier: Wait blocks while the barrier is up — also on a node other
// than the one that set it, right after Set returned — returns once it is
// removed, returns at once while it is down, and gives up when its ctx
// ends. Set and Remove are idempotent.
func TestBarrier(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := qtCtx(t)
	owner := zk.NewBarrier(c.Connect(t, 0), "/app/barrier")
	if err := owner.Wait(ctx); err != nil {
		t.Fatalf("Wait on a barrier never set: %v", err)
	}
	for range 2 {
		if err := owner.Set(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var waiters []chan error
	for i := range 3 {
		b := zk.NewBarrier(c.Connect(t, i), "/app/barrier")
		ch := make(chan error, 1)
		go func() { ch <- b.Wait(ctx) }()
		waiters = append(waiters, ch)
	}
	for i, ch := range waiters {
		btBlocked(t, ch, "Wait "+string(rune('0'+i)))
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := zk.NewBarrier(c.Connect(t, 1), "/app/barrier").Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a short ctx: %v, want DeadlineExceeded", err)
	}

	if err := zk.NewBarrier(c.Connect(t, 2), "/app/barrier").Remove(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range waiters {
		btRecv(t, ch, "Wait after Remove")
	}
	if err := owner.Remove(ctx); err != nil {
		t.Fatalf("Remove of a removed barrier: %v", err)
	}
	if err := owner.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBarrierWaitConnEnds: a Wait whose Conn ends returns an error.
func TestBarrierWaitConnEnds(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := qtCtx(t)
	if err := zk.NewBarrier(c.Connect(t, 0), "/b").Set(ctx); err != nil {
		t.Fatal(err)
	}
	conn := c.Connect(t, 0)
	ch := make(chan error, 1)
	go func() { ch <- zk.NewBarrier(conn, "/b").Wait(ctx) }()
	btBlocked(t, ch, "Wait")
	conn.Close()
	select {
	case err := <-ch:
		if err == nil {
			t.Fatal("Wait returned nil after its Conn closed")
		}
	case <-time.After(zktest.WaitTimeout):
		t.Fatal("Wait did not return after its Conn closed")
	}
}

// TestDoubleBarrier: 5 participants on 3 nodes. None passes Enter while
// only 4 have entered; all pass once the 5th enters, and at that moment
// all 5 had called Enter. None passes Leave while one has not left; all
// pass once it leaves. The path then serves a second, concurrent round.
func TestDoubleBarrier(t *testing.T) {
	const n = 5
	c := zktest.NewCluster(t, 3)
	ctx := qtCtx(t)
	check := c.Connect(t, 0)
	var entering, leaving atomic.Int32
	var violations atomic.Int32
	parts := make([]*zk.DoubleBarrier, n)
	for i := range n {
		parts[i] = zk.NewDoubleBarrier(c.Connect(t, i%3), "/app/dbl", n)
	}
	btParticipants := func() int {
		names, _, err := check.Children(ctx, "/app/dbl")
		if err != nil {
			return -1
		}
		k := 0
		for _, name := range names {
			if strings.HasPrefix(name, "p-") {
				k++
			}
		}
		return k
	}
	enter := func(i int) chan error {
		ch := make(chan error, 1)
		go func() {
			entering.Add(1)
			err := parts[i].Enter(ctx)
			if err == nil && entering.Load() != n {
				violations.Add(1)
			}
			ch <- err
		}()
		return ch
	}
	leave := func(i int) chan error {
		ch := make(chan error, 1)
		go func() {
			leaving.Add(1)
			err := parts[i].Leave(ctx)
			if err == nil && leaving.Load() != n {
				violations.Add(1)
			}
			ch <- err
		}()
		return ch
	}

	var enters []chan error
	for i := range n - 1 {
		enters = append(enters, enter(i))
	}
	qtWait(t, "4 participant nodes", func() bool { return btParticipants() == n-1 })
	for _, ch := range enters {
		btBlocked(t, ch, "Enter with 4 of 5")
	}
	enters = append(enters, enter(n-1))
	for _, ch := range enters {
		btRecv(t, ch, "Enter")
	}

	var leaves []chan error
	for i := range n - 1 {
		leaves = append(leaves, leave(i))
	}
	// They delete their nodes but the lowest's, which waits for the
	// highest: at most two nodes remain, the lowest's and the last one's.
	qtWait(t, "the leavers' nodes gone", func() bool { k := btParticipants(); return k >= 1 && k <= 2 })
	for _, ch := range leaves {
		btBlocked(t, ch, "Leave with 4 of 5")
	}
	leaves = append(leaves, leave(n-1))
	for _, ch := range leaves {
		btRecv(t, ch, "Leave")
	}
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d participants passed before all arrived", v)
	}
	if ok, _, err := check.Exists(ctx, "/app/dbl/ready"); err != nil || ok {
		t.Fatalf("ready left behind: %v, %v", ok, err)
	}
	if k := btParticipants(); k != 0 {
		t.Fatalf("%d participant nodes left", k)
	}

	// Round two, all at once, on the same path and the same participants.
	for round := range 2 {
		var passed atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Go(func() {
				if err := parts[i].Enter(ctx); err != nil {
					errs <- err
					return
				}
				passed.Add(1)
				if err := parts[i].Leave(ctx); err != nil {
					errs <- err
					return
				}
				if passed.Load() != n {
					errs <- errors.New("left before everyone entered")
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round+2, err)
		}
	}
}

// TestDoubleBarrierEnterCtx: an Enter that gives up removes its node, so
// it does not count towards a later round; Enter with n < 1 is refused.
func TestDoubleBarrierEnterCtx(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := qtCtx(t)
	conn := c.Connect(t, 0)
	b := zk.NewDoubleBarrier(conn, "/dbl", 2)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := b.Enter(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enter alone: %v, want DeadlineExceeded", err)
	}
	names, _, err := conn.Children(ctx, "/dbl")
	if err != nil || len(names) != 0 {
		t.Fatalf("after a failed Enter: %v, %v", names, err)
	}
	if err := zk.NewDoubleBarrier(conn, "/dbl", 0).Enter(ctx); !errors.Is(err, zk.ErrBadArguments) {
		t.Fatalf("n = 0: %v", err)
	}
	// A participant whose session ends leaves with it.
	other := c.Connect(t, 0)
	ch := make(chan error, 1)
	go func() { ch <- zk.NewDoubleBarrier(other, "/dbl", 3).Enter(ctx) }()
	qtWait(t, "a participant", func() bool { names, _, _ := conn.Children(ctx, "/dbl"); return len(names) == 1 })
	other.Close()
	if err := <-ch; err == nil {
		t.Fatal("Enter returned nil after its Conn closed")
	}
	names, _, err = conn.Children(ctx, "/dbl")
	if err != nil || len(names) != 0 {
		t.Fatalf("after a closed participant: %v, %v", names, err)
	}
}
