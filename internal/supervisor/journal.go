package supervisor

import (
	"sync"
	"time"

	"github.com/tetra/tsm/internal/store"
)

// The stop journal: a stop (or kill) command's runs are written to
// runtime/stops.jsonl, synced, before any of them is signalled; the record
// that each ended is then written without fsync. After a power loss, a run
// the journal names whose meta.json does not say it ended is stopped at
// recovery (repairStops), so an answered stop still never comes undone,
// at one fsync per command instead of two per process. Once the records of
// every answered batch are durable (synced in the background, retireAfter
// after the first batch the journal holds unretired ended), the journal is
// emptied.

// retireAfter is how long after a batch ended its records are synced and
// the journal emptied: long enough for a script's next stops to share the
// work, and off every command's path. A later batch does not push it back
// (stops a second apart would keep the journal growing for good).
const retireAfter = 2 * time.Second

// journal is the supervisor's side of the stop journal.
type journal struct {
	j *store.Journal

	mu       sync.Mutex      // guards the fields below
	inflight int             // batches journaled and not yet answered
	unsynced map[string]bool // processes whose settled records may not be durable yet
	timer    *time.Timer     // the retirement due; nil: none armed (a later batch leaves one as it is)
	// pinned: a stop found in the journal at start-up could not be
	// written back, so the journal must stay.
	pinned bool
	closed bool // the supervisor is closed: no more retirement
}

// journaledStop is a run a journal record stops, with its record.
type journaledStop struct {
	b   *store.StopBatch
	run store.StopRun
}

// StopBatch journals the stop (with kill, the kill) of the named processes
// as one batch, and returns stop, which stops (kills) one of them as part
// of it, and end, to call once every stop has been answered. grace is as
// for Stop. Where the journal cannot be written, the stops go ahead with
// a synced record each, as without one.
func (s *Supervisor) StopBatch(names []string, grace time.Duration, kill bool) (stop func(name string) (Outcome, error), end func()) {
	kind, b := opStop, store.StopBatch{At: time.Now().UnixMilli(), Pending: "stop", GraceMS: -1}
	switch {
	case kill:
		kind, b.Pending, b.GraceMS = opKill, "kill", 0
	case grace != 0:
		b.GraceMS = max(grace, 0).Milliseconds()
	}
	s.mu.Lock()
	for _, name := range names {
		// Only a run that is going (or about to) has a record to settle.
		if p, ok := s.procs[name]; ok && p.pub.Run > 0 && (p.pubSt == Starting || p.pubSt == Stopping || p.pubSt.up()) {
			b.Runs = append(b.Runs, store.StopRun{Name: name, RunBase: p.pub.RunBase, Run: p.pub.Run})
		}
	}
	s.mu.Unlock()
	runs := map[string]*store.StopRun{}
	jr := &s.stops
	if len(b.Runs) > 0 {
		jr.mu.Lock()
		jr.inflight++
		jr.mu.Unlock()
		if err := jr.j.Append(b); err != nil {
			s.log.Warn("cannot write the stop journal; each stop syncs its own record", "err", err)
		} else {
			for i := range b.Runs {
				runs[b.Runs[i].Name] = &b.Runs[i]
			}
		}
	}
	stop = func(name string) (Outcome, error) {
		return s.send(name, &request{kind: kind, grace: grace, journaled: runs[name]})
	}
	end = func() {
		if len(b.Runs) == 0 {
			return
		}
		jr.mu.Lock()
		defer jr.mu.Unlock()
		jr.inflight--
		for name := range runs {
			jr.unsynced[name] = true
		}
		s.scheduleRetireLocked()
	}
	return stop, end
}

// scheduleRetireLocked arms the retirement of the journal for retireAfter
// from now, once no batch is in flight, unless it is armed already.
// Called with s.stops.mu held.
func (s *Supervisor) scheduleRetireLocked() {
	jr := &s.stops
	if jr.inflight > 0 || len(jr.unsynced) == 0 || jr.closed || jr.timer != nil {
		return
	}
	jr.timer = time.AfterFunc(retireAfter, s.retireStops)
}

// retireStops makes the records of every answered batch durable and
// empties the journal, unless a batch began meanwhile (its end schedules
// the next try).
func (s *Supervisor) retireStops() {
	jr := &s.stops
	jr.mu.Lock()
	jr.timer = nil
	if jr.inflight > 0 || jr.closed {
		jr.mu.Unlock()
		return
	}
	// The count is taken here, with no batch in flight: a batch that
	// appends after it makes Clear leave the journal (its end schedules
	// the next try); one that appends after the Clear is counted anew.
	names, n, pinned := jr.unsynced, jr.j.Records(), jr.pinned
	jr.unsynced = map[string]bool{}
	jr.mu.Unlock()
	failed := false
	for name := range names {
		if err := s.store.SyncMeta(name); err != nil {
			s.log.Warn("cannot sync a stopped process's record; the stop journal keeps it", "name", name, "err", err)
			failed = true
		}
	}
	cleared := false
	if !failed && !pinned {
		var err error
		if cleared, err = jr.j.Clear(n); err != nil {
			s.log.Warn("cannot empty the stop journal", "err", err)
		}
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if cleared {
		return
	}
	// Synced or not, they stay named until the journal is emptied. After
	// a failure the next batch's end tries again (not a timer: a record
	// that cannot be synced now will not be in 2 s either).
	for name := range names {
		jr.unsynced[name] = true
	}
	if !failed {
		s.scheduleRetireLocked()
	}
}

// close stops the retirement: a daemon that goes away leaves the journal
// to the next one, which syncs what it names before emptying it.
func (jr *journal) close() {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.timer != nil {
		jr.timer.Stop()
	}
	jr.closed = true
}

// settledByJournal reports whether the record that r's run ended may be
// written without fsync: r is a journaled stop of exactly the run m
// records.
func settledByJournal(r *request, m *store.Meta) bool {
	return r != nil && r.journaled != nil && r.journaled.RunBase == m.RunBase && r.journaled.Run == m.Run
}

// repairStops applies the stop journal to the records loaded at start-up:
// a record of a run the journal stopped that does not say the run ended
// (its settled record was lost with the machine, or the daemon died first)
// becomes the stop's intent, which recovery finishes like any other. Each
// repaired record is written back at once, durably, and every other name
// the journal holds is synced, before the journal may be emptied.
func (s *Supervisor) repairStops(metas []store.Meta) {
	batches, err := s.stops.j.Read()
	if err != nil {
		s.log.Warn("cannot read the stop journal", "err", err)
		return
	}
	if len(batches) == 0 {
		return
	}
	// The newest batch that names a run wins.
	latest := map[string]journaledStop{}
	for i := range batches {
		for _, r := range batches[i].Runs {
			latest[r.Name] = journaledStop{&batches[i], r}
		}
	}
	jr := &s.stops
	jr.mu.Lock()
	defer jr.mu.Unlock()
	for name := range latest {
		jr.unsynced[name] = true // (one deleted since syncs as nothing)
	}
	for i := range metas {
		m := &metas[i]
		e, ok := latest[m.Name]
		if !ok {
			continue
		}
		st := stateOf(*m)
		if e.run.RunBase != m.RunBase || e.run.Run < m.Run || !(st == Starting || st == BackingOff || st.up()) {
			continue // another entry or a later run, or its end is on record
		}
		grace := time.Duration(e.b.GraceMS) * time.Millisecond
		if e.b.GraceMS < 0 {
			grace = killTimeout(*m)
		}
		m.State, m.Pending, m.StopSent, m.NextRestart = Stopping.String(), e.b.Pending, 0, 0
		m.StopDeadline = time.UnixMilli(e.b.At).Add(grace).UnixMilli()
		if err := s.store.WriteMeta(*m); err != nil {
			// Recovery saves it again; until a daemon has, the journal
			// is the only durable word of the stop, and stays.
			s.log.Warn("cannot write a stop found in the stop journal; keeping the journal", "name", m.Name, "err", err)
			jr.pinned = true
		}
		s.log.Info("finishing a stop found in the stop journal", "name", m.Name, "run", m.Run)
	}
	s.scheduleRetireLocked()
}
