package supervisor

import "sync"

// mailbox is a process's inbox: an unbounded FIFO, so that a sender (the
// reaper above all) never waits for the process's goroutine, and a closed
// flag, so that nothing is posted to a process that is gone.
type mailbox struct {
	mu     sync.Mutex // guards q and closed
	q      []any
	closed bool
	wake   chan struct{} // holds one token while q may be non-empty
}

func newMailbox() mailbox { return mailbox{wake: make(chan struct{}, 1)} }

// post queues m; false when the mailbox was closed (the process is deleted).
func (b *mailbox) post(m any) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.q = append(b.q, m)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return true
}

// next blocks until a message is queued and returns the oldest.
func (b *mailbox) next() any {
	for {
		b.mu.Lock()
		if len(b.q) > 0 {
			m := b.q[0]
			b.q[0] = nil
			b.q = b.q[1:]
			b.mu.Unlock()
			return m
		}
		b.mu.Unlock()
		<-b.wake
	}
}

// close refuses further posts and returns what was queued and not taken.
func (b *mailbox) close() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	q := b.q
	b.q = nil
	return q
}
