// Package stamp is how the bench programs pass a moment between processes:
// a file holding a wall-clock time in nanoseconds since the epoch.
package stamp

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Write records now in path ("" : nothing); errors are ignored, a missing
// stamp reads as the zero time.
func Write(path string) {
	if path != "" {
		os.WriteFile(path, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o600)
	}
}

// Read returns the time in path, or the zero time when there is none.
func Read(path string) time.Time {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Await reads path until it holds a time or limit has passed (then the
// zero time): a writer notes its end after its last write returns, so a
// fast reader may be done first.
func Await(path string, limit time.Duration) time.Time {
	t := Read(path)
	for start := time.Now(); t.IsZero() && time.Since(start) < limit; t = Read(path) {
		time.Sleep(time.Millisecond)
	}
	return t
}
