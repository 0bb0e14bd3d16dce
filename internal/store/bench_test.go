package store

import (
	"fmt"
	"testing"
)

// BenchmarkWriteMeta measures the atomic meta.json writes a stop makes
// (two intents and one durable save per process), with many processes'
// directories in one store as in a `stop all`.
func BenchmarkWriteMeta(b *testing.B) {
	s, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	const procs = 100
	metas := make([]Meta, procs)
	for i := range metas {
		metas[i] = Meta{TsmID: i, Name: fmt.Sprintf("svc-%d", i), PID: 1000 + i, Command: "sleep 100000",
			Cwd: "/srv", StartTime: 1729234567, Status: StatusOnline}
		if err := s.WriteMeta(metas[i]); err != nil {
			b.Fatal(err)
		}
	}
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) {
			i := 0
			for b.Loop() {
				m := metas[i%procs]
				i++
				m.StopSent = int64(i)
				if err := s.writeMeta(m, durable); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
