package proc

import (
	"errors"
	"sync"
	"time"
)

// Stats is a snapshot of one process, for `tsm list` and `tsm info`.
type Stats struct {
	CPUPercent float64 // 100 = one core busy for the whole window; can exceed 100
	RSSBytes   uint64
	Threads    int32
}

// usage is what each platform reads for Sampler.
type usage struct {
	at      time.Time     // when cpu was read (monotonic)
	cpu     time.Duration // user+system time since the process started
	age     time.Duration // how long the process had existed at `at`
	rss     uint64
	threads int32
}

// minWindow is the shortest interval CPU% is measured over. Kernel CPU
// accounting is in 10 ms ticks, so two `tsm list` run back to back would
// otherwise show 0% or 200% for a process using 100%.
const minWindow = 200 * time.Millisecond

// statsTTL is how long a sample is served again instead of reading /proc
// anew: `tsm list` of 100 processes would otherwise spend most of its time
// in the kernel rendering /proc/<pid>/stat, for figures that a terminal
// refreshes once a second anyway. Forget (called when the process exits)
// drops the sample at once, so a dead process is not shown alive.
//
// A sample older than statsTTL but younger than staleTTL is served too,
// and read anew in the background for the next caller: a listing
// refreshed every second or two (watch tsm list, a dashboard) never waits
// for /proc, and shows figures at most staleTTL old. An older sample is
// read before it is served.
const (
	statsTTL = time.Second
	staleTTL = 3 * time.Second
)

// Sampler turns cumulative CPU time into a percentage over the time since
// the previous sample of the same process. It is safe for concurrent use.
type Sampler struct {
	mu   sync.Mutex
	last map[int]cpuMark // guarded by mu; keyed by PID
	// due: stale samples to read anew, by the one refresh goroutine that
	// runs while refreshing is set; guarded by mu.
	due        map[int]Identity
	refreshing bool
}

// cpuMark is the baseline for the next sample of one PID.
type cpuMark struct {
	id      Identity // a new incarnation must not inherit the baseline
	at      time.Time
	cpu     time.Duration
	percent float64
	last    Stats     // the latest sample, served again until read+statsTTL
	read    time.Time // when last was read
}

// NewSampler returns an empty sampler; the first sample of each process
// reports its average CPU% since it started.
func NewSampler() *Sampler {
	return &Sampler{last: make(map[int]cpuMark)}
}

// Sample reads the current stats of the process. It fails (wrapping
// ErrNoProcess) when the process is gone or its PID now belongs to another
// process; the PID's baseline is then dropped. A sample of the same process
// less than statsTTL old is returned again without reading anything.
func (s *Sampler) Sample(id Identity) (Stats, error) {
	s.mu.Lock()
	prev, ok := s.last[id.PID]
	if ok && prev.id == id {
		switch age := time.Since(prev.read); {
		case age < statsTTL:
			s.mu.Unlock()
			return prev.last, nil
		case age < staleTTL:
			s.refreshLocked(id)
			s.mu.Unlock()
			return prev.last, nil
		}
	}
	s.mu.Unlock()
	return s.read(id, false)
}

// refreshLocked has id's sample read anew in the background, after
// backgroundDelay.
func (s *Sampler) refreshLocked(id Identity) {
	if s.due == nil {
		s.due = make(map[int]Identity)
	}
	s.due[id.PID] = id
	if s.refreshing {
		return
	}
	s.refreshing = true
	time.AfterFunc(backgroundDelay, func() {
		for {
			s.mu.Lock()
			due := s.due
			s.due = nil
			if len(due) == 0 {
				s.refreshing = false
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
			for _, id := range due {
				s.read(id, true)
			}
		}
	})
}

// backgroundDelay is how long a refresh for the next call (of CPU samples,
// of listening ports) waits after the call that found it due: the caller, a
// CLI's list, has its answer and has exited by then instead of competing
// with it for the CPU (refreshing 100 processes takes 1-2 ms of CPU, beside
// a CLI that starts and exits in 3 on two cores).
const backgroundDelay = 50 * time.Millisecond

// read reads id's usage now and records it as its latest sample; known:
// only while it still has one (a background refresh must not bring back
// the baseline of a process forgotten meanwhile).
func (s *Sampler) read(id Identity, known bool) (Stats, error) {
	u, err := readUsage(id)
	if errors.Is(err, ErrNoProcess) {
		s.Forget(id.PID)
	}
	if err != nil {
		return Stats{}, err
	}
	st := Stats{RSSBytes: u.rss, Threads: u.threads}

	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.last[id.PID]
	if known && (!ok || prev.id != id) {
		return st, nil
	}
	if ok && prev.id == id {
		window := u.at.Sub(prev.at)
		// A short window is noise, and a negative one is a concurrent
		// caller that read earlier but locked later: keep the baseline.
		if window < minWindow {
			st.CPUPercent = prev.percent
			if u.at.After(prev.read) {
				prev.last, prev.read = st, u.at
				s.last[id.PID] = prev
			}
			return st, nil
		}
		st.CPUPercent = percent(u.cpu-prev.cpu, window)
	} else {
		st.CPUPercent = percent(u.cpu, u.age)
	}
	s.last[id.PID] = cpuMark{id: id, at: u.at, cpu: u.cpu, percent: st.CPUPercent, last: st, read: u.at}
	return st, nil
}

// Forget drops the baseline of pid, once its process is gone for good.
func (s *Sampler) Forget(pid int) {
	s.mu.Lock()
	delete(s.last, pid)
	delete(s.due, pid)
	s.mu.Unlock()
}

func percent(cpu, window time.Duration) float64 {
	if window <= 0 || cpu <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / window.Seconds()
}
