package proc

import "testing"

func TestFindMarkedFindsNothing(t *testing.T) {
	got, err := FindMarked([]string{testMarker(t)})
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("FindMarked = %v, %v; want an empty map", got, err)
	}
}
