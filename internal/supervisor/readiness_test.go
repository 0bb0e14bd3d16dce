package supervisor

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestPollInterval(t *testing.T) {
	for _, c := range []struct{ elapsed, want time.Duration }{
		{0, time.Millisecond},
		{10 * time.Millisecond, time.Millisecond},
		{100 * time.Millisecond, 2 * time.Millisecond},
		{time.Second, 20 * time.Millisecond},
		{time.Hour, 20 * time.Millisecond},
	} {
		if got := pollInterval(c.elapsed); got != c.want {
			t.Errorf("pollInterval(%v) = %v, want %v", c.elapsed, got, c.want)
		}
	}
}

// BenchmarkReadinessAfterOpen reports how long after a port opens (50 ms
// after the wait began, like a small server) readiness notices it.
func BenchmarkReadinessAfterOpen(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		opened := make(chan time.Time, 1)
		go func() {
			time.Sleep(50 * time.Millisecond)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				opened <- time.Time{}
				return
			}
			opened <- time.Now()
			time.AfterFunc(time.Second, func() { l.Close() })
		}()
		if how := readiness(nil, nil, port, 5*time.Second, nil); how != "port" {
			b.Fatalf("readiness = %q", how)
		}
		at := <-opened
		if at.IsZero() {
			b.Skip("port taken meanwhile")
		}
		total += time.Since(at)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-after-open")
}
