package daemon

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tetra/tsm/internal/api"
)

func FuzzAppendIndented(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `[{}]`, `{"a":[]}`, `{"a\"b:,{":"x\\\\","c":[1,2,{"d":null}]}`, `"s"`, `12`, `[[],{},""]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		compact, err := json.Marshal(v)
		if err != nil {
			return
		}
		var want bytes.Buffer
		json.Indent(&want, compact, "", "  ")
		want.WriteByte('\n')
		if got := appendIndented(nil, compact); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendIndented(%s) =\n%s\nwant\n%s", compact, got, want.Bytes())
		}
	})
}

func listOf(n int) []api.Process {
	ps := make([]api.Process, n)
	for i := range ps {
		code := 1
		ps[i] = api.Process{TsmID: i, Name: "p<&>\"x", Command: `python3 -c "print('\\')"`, Port: 8000, ExitCode: &code, ListeningPorts: []int{8000, 8001}, Cwd: "/home/u/app"}
	}
	return ps
}

func TestAppendIndentedList(t *testing.T) {
	ps := listOf(3)
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	enc.Encode(ps)
	compact, _ := json.Marshal(ps)
	if got := appendIndented(nil, compact); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("got\n%s\nwant\n%s", got, want.Bytes())
	}
}

func BenchmarkIndentList100(b *testing.B) {
	compact, _ := json.Marshal(listOf(100))
	b.Run("json.Indent", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			json.Indent(&buf, compact, "", "  ")
		}
	})
	b.Run("appendIndented", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = appendIndented(buf[:0], compact)
		}
	})
}
