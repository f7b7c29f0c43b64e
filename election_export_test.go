package zk

// ElectionWakeups returns how many predecessor watches of e's Campaigns
// have fired, and how many Campaigns of e wait on one now.
func ElectionWakeups(e *Election) (wakeups, waiting int64) {
	return e.wakeups.Load(), e.waiting.Load()
}
