package supervisor

import "sync"

// mailbox is a process's inbox: an unbounded FIFO, so that a sender (the
// reaper above all) never waits for the process's owner, and a closed flag,
// so that nothing is posted to a process that is gone.
//
// The owner is a goroutine that exists only while there are messages: a
// post to an idle mailbox starts one (serve), which handles messages until
// the queue is empty and then returns. At most one runs at a time (busy),
// so messages are still handled one at a time, in order, by one owner; an
// idle process costs no goroutine, whose stack (8 KiB and more once a
// spawn has run on it) was most of a managed process's memory.
type mailbox struct {
	mu     sync.Mutex // guards q, closed and busy
	q      []any
	closed bool
	busy   bool   // a serve goroutine owns the process
	serve  func() // the owner's loop, started by the post that finds the mailbox idle
}

// post queues m, starting the owner if none is running; false when the
// mailbox was closed (the process is deleted).
func (b *mailbox) post(m any) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.q = append(b.q, m)
	start := !b.busy
	b.busy = true
	b.mu.Unlock()
	if start {
		go b.serve()
	}
	return true
}

// next returns the oldest queued message; with none queued it marks the
// mailbox idle and returns false, and the caller (the owner) must return:
// the next post starts a new one. The lock orders what an owner did before
// it went idle before everything its successor does.
func (b *mailbox) next() (any, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.q) == 0 {
		b.busy = false
		b.q = nil // an idle process holds no queue
		return nil, false
	}
	m := b.q[0]
	b.q[0] = nil
	b.q = b.q[1:]
	return m, true
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
