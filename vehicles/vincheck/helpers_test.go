package vincheck_test

import (
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func count(t *testing.T, ta *apptest.App, q string, args ...any) int {
	t.Helper()
	var n int
	if err := ta.DB.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func reportStatus(t *testing.T, ta *apptest.App, ref string) int {
	t.Helper()
	return count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, ref)
}
