package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tetra/tsm/internal/api"
)

// A draining daemon lets requests in flight finish, answers pings, and
// turns new operations away with a message that says why.
func TestInFlightDrain(t *testing.T) {
	f := &inFlight{ops: map[*http.Request]string{}}
	release := make(chan struct{})
	entered := make(chan struct{})
	h := f.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.RouteStop {
			close(entered)
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", api.RouteStop, nil))
		done <- rec.Code
	}()
	<-entered
	if got := f.list(); len(got) != 1 || got[0] != "stop" {
		t.Fatalf("in flight: %v, want [stop]", got)
	}
	f.close()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", api.RouteStart, nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "daemon is stopping") {
		t.Errorf("a new operation while draining: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", api.RoutePing, nil))
	if rec.Code != http.StatusOK {
		t.Errorf("ping while draining: %d", rec.Code)
	}
	close(release)
	if code := <-done; code != http.StatusOK || f.count() != 0 {
		t.Errorf("the operation in flight: %d, %d left", code, f.count())
	}
}
