package logs

import "io"

// HeaderWriter writes lines the way `tail -f file1 file2` does: a
// "==> label <==" header whenever the stream differs from the previous line's,
// with a blank line before every header but the first, so interleaved streams
// stay readable without prefixing every line.
type HeaderWriter struct {
	W io.Writer
	// Labels maps a stream to its header label, e.g. "out" to
	// "my-api stdout (…/current.out)". A stream without a label is shown by
	// its name.
	Labels map[string]string

	last    string
	started bool   // last is meaningful; a stream may be named ""
	buf     []byte // reused for each line: no allocation per line
}

// Write writes l, preceded by a header if its stream differs from the
// previous line's. The header and the line go out in one Write, so an error
// (EPIPE) is seen at the line that caused it.
func (h *HeaderWriter) Write(l Line) error {
	b := h.buf[:0]
	if !h.started || l.Stream != h.last {
		if h.started {
			b = append(b, '\n')
		}
		label, ok := h.Labels[l.Stream]
		if !ok {
			label = l.Stream
		}
		b = append(b, "==> "...)
		b = append(b, label...)
		b = append(b, " <==\n"...)
	}
	b = append(b, l.Text...)
	b = append(b, '\n')
	h.buf = b
	if _, err := h.W.Write(b); err != nil {
		return err
	}
	h.last, h.started = l.Stream, true
	return nil
}
