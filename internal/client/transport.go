package client

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// transport sends each request on a connection of its own, dialled with
// dial, and reads the answer in the calling goroutine. net/http.Transport
// would start a reader and a writer goroutine per connection (and its pool
// is of no use to a CLI that sends one or two requests): that costs every
// `tsm` command a few hundred microseconds.
type transport struct {
	dial func(ctx context.Context) (net.Conn, error)
	// sent returns a connection on which a GET of uri (path and query)
	// was already sent, or nil.
	sent func(uri string) net.Conn
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close() // a RoundTripper must close it, even on error
	}
	var conn net.Conn
	if req.Method == http.MethodGet && t.sent != nil {
		conn = t.sent(req.URL.RequestURI())
	}
	written := conn != nil
	if conn == nil {
		var err error
		if conn, err = t.dial(req.Context()); err != nil {
			return nil, err
		}
	}
	// Cancelling the request unblocks the reads and writes below.
	stop := context.AfterFunc(req.Context(), func() { conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	// One request per connection: the daemon closes it after answering.
	r := *req
	r.Close = true
	if !written {
		if err := r.Write(conn); err != nil {
			return fail(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fail(err)
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn, stop: stop}
	return resp, nil
}

// connBody closes the connection with the body.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

func (b *connBody) Close() error {
	b.stop()
	b.ReadCloser.Close()
	return b.conn.Close()
}
