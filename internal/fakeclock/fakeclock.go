// Package fakeclock is a clock for tests that moves only when told to. It
// satisfies zk.Clock.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a manually advanced clock. Its tickers fire when Advance moves
// the time past their next tick. The zero value is not usable; use New.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	tickers map[*ticker]struct{}
}

type ticker struct {
	c      chan time.Time
	period time.Duration
	next   time.Time
}

// New returns a clock that starts at start.
func New(start time.Time) *Clock {
	return &Clock{now: start, tickers: make(map[*ticker]struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker returns a channel that receives the clock's time whenever
// Advance passes a multiple of d since the ticker was made. Like a
// time.Ticker, it drops ticks its reader is not ready for.
func (c *Clock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &ticker{c: make(chan time.Time, 1), period: d, next: c.now.Add(d)}
	c.tickers[t] = struct{}{}
	return t.c, func() {
		c.mu.Lock()
		delete(c.tickers, t)
		c.mu.Unlock()
	}
}

// Advance moves the clock forward by d and fires the tickers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.tickers {
		if c.now.Before(t.next) {
			continue
		}
		for !c.now.Before(t.next) {
			t.next = t.next.Add(t.period)
		}
		select {
		case t.c <- c.now:
		default:
		}
	}
}
