package reports_test

import (
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// count runs a counting query on the app's database.
func count(t *testing.T, ta *apptest.App, q string, args ...any) int {
	t.Helper()
	var n int
	if err := ta.DB.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}
