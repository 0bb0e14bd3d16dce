package service

import (
	"strings"
	"testing"
)

func TestDepOrder(t *testing.T) {
	def := func(name string, deps ...string) *Definition {
		return &Definition{Name: name, Path: "/x/" + name + ".tsm", Deps: deps}
	}
	names := func(defs []*Definition) string {
		var s []string
		for _, d := range defs {
			s = append(s, d.Name)
		}
		return strings.Join(s, " ")
	}
	api, db, web := def("api", "db"), def("db"), def("web", "api", "missing")
	if got := names(DepOrder([]*Definition{api, db, web})); got != "db api web" {
		t.Errorf("DepOrder = %q, want db api web", got)
	}
	// A cycle does not hang and loses nothing.
	a, b := def("a", "b"), def("b", "a")
	if got := names(DepOrder([]*Definition{a, b})); got != "b a" {
		t.Errorf("DepOrder of a cycle = %q, want b a", got)
	}
}
