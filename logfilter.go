package zk

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// repeatFilter is a logger that lets a message through once per window
// and counts the repeats it holds back. Raft logs an error for every
// failed heartbeat to a peer that is down, ten times a second; the
// default logger shows the first, and then how many more there were.
type repeatFilter struct {
	hclog.Logger
	state *filterState
}

type filterState struct {
	mu     sync.Mutex
	window time.Duration
	last   map[string]*seenMsg
}

type seenMsg struct {
	at      time.Time
	repeats int
}

func newRepeatFilter(l hclog.Logger, window time.Duration) hclog.Logger {
	return &repeatFilter{Logger: l, state: &filterState{window: window, last: make(map[string]*seenMsg)}}
}

// pass reports whether msg may be logged now, and how many repeats it
// stands for.
func (f *repeatFilter) pass(name, msg string) (bool, int) {
	s := f.state
	key := name + "\x00" + msg
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.last[key]
	if m != nil && now.Sub(m.at) < s.window {
		m.repeats++
		return false, 0
	}
	repeats := 0
	if m != nil {
		repeats = m.repeats
	}
	if len(s.last) > 1024 {
		clear(s.last) // bounded: forget, rather than grow
	}
	s.last[key] = &seenMsg{at: now}
	return true, repeats
}

func (f *repeatFilter) Log(level hclog.Level, msg string, args ...any) {
	if ok, n := f.pass(f.Name(), msg); ok {
		if n > 0 {
			args = append(args, "repeated", n)
		}
		f.Logger.Log(level, msg, args...)
	}
}

func (f *repeatFilter) Trace(msg string, args ...any) { f.Log(hclog.Trace, msg, args...) }
func (f *repeatFilter) Debug(msg string, args ...any) { f.Log(hclog.Debug, msg, args...) }
func (f *repeatFilter) Info(msg string, args ...any)  { f.Log(hclog.Info, msg, args...) }
func (f *repeatFilter) Warn(msg string, args ...any)  { f.Log(hclog.Warn, msg, args...) }
func (f *repeatFilter) Error(msg string, args ...any) { f.Log(hclog.Error, msg, args...) }

func (f *repeatFilter) Named(name string) hclog.Logger {
	return &repeatFilter{Logger: f.Logger.Named(name), state: f.state}
}

func (f *repeatFilter) ResetNamed(name string) hclog.Logger {
	return &repeatFilter{Logger: f.Logger.ResetNamed(name), state: f.state}
}

func (f *repeatFilter) With(args ...any) hclog.Logger {
	return &repeatFilter{Logger: f.Logger.With(args...), state: f.state}
}
