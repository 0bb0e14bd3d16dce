package target

import (
	"fmt"
	"testing"
)

// BenchmarkResolve resolves an ID, an exact name and a unique part of a
// name among 1000 processes, as every targeted command does.
func BenchmarkResolve(b *testing.B) {
	cands := make([]Candidate, 1000)
	for i := range cands {
		cands[i] = Candidate{ID: i, Name: fmt.Sprintf("svc-%04d", i)}
	}
	for _, t := range []string{"517", "svc-0517", "0517"} {
		b.Run(t, func(b *testing.B) {
			for b.Loop() {
				if _, err := Resolve(cands, t); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
