package zk

// LockWakeups returns how many watches fired while m's Locks waited, and
// how many of m's Locks (of every Mutex on the same queue: an RWMutex's
// reader and writer share one) wait on one now.
func LockWakeups(m *Mutex) (wakeups, waiting int64) {
	return m.q.wakeups.Load(), m.q.waiting.Load()
}

// SemaphoreWakeups returns LockWakeups for s's leases.
func SemaphoreWakeups(s *Semaphore) (wakeups, waiting int64) {
	return s.leases.wakeups.Load(), s.leases.waiting.Load()
}
