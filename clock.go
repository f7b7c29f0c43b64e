package zk

import "time"

// Clock is the source of time for a node: the ctime and mtime it writes,
// session expiry and TTLs. Tests substitute a clock they advance by hand,
// so that sessions and TTL nodes expire on demand instead of by sleeping.
// Raft's own timers always use real time.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTicker returns a channel that receives a time every d until stop
	// is called.
	NewTicker(d time.Duration) (c <-chan time.Time, stop func())
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
