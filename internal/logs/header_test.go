package logs

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeaderWriter(t *testing.T) {
	labels := map[string]string{"out": "api stdout (p/current.out)", "err": "api stderr (p/current.err)"}
	tests := []struct {
		name  string
		lines []Line
		want  string
	}{
		{"nothing", nil, ""},
		{"one stream", []Line{{Stream: "out", Text: "a"}, {Stream: "out", Text: "b"}},
			"==> api stdout (p/current.out) <==\na\nb\n"},
		{"alternating", []Line{{Stream: "out", Text: "a"}, {Stream: "err", Text: "b"}, {Stream: "err", Text: "c"}, {Stream: "out", Text: "d"}},
			"==> api stdout (p/current.out) <==\na\n" +
				"\n==> api stderr (p/current.err) <==\nb\nc\n" +
				"\n==> api stdout (p/current.out) <==\nd\n"},
		{"empty lines kept", []Line{{Stream: "err", Text: ""}, {Stream: "err", Text: ""}},
			"==> api stderr (p/current.err) <==\n\n\n"},
		{"unlabelled stream shown by name", []Line{{Stream: "out", Text: "a"}, {Stream: "other", Text: "b"}},
			"==> api stdout (p/current.out) <==\na\n\n==> other <==\nb\n"},
		{"empty stream name", []Line{{Stream: "", Text: "a"}, {Stream: "", Text: "b"}},
			"==>  <==\na\nb\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			h := &HeaderWriter{W: &b, Labels: labels}
			for _, l := range tt.lines {
				if err := h.Write(l); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestHeaderWriterError(t *testing.T) {
	errPipe := errors.New("broken pipe")
	h := &HeaderWriter{W: failingWriter{errPipe}}
	if err := h.Write(Line{Stream: "out", Text: "a"}); !errors.Is(err, errPipe) {
		t.Errorf("Write = %v, want %v", err, errPipe)
	}
}
