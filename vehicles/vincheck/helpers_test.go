package vincheck_test

import (
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func reportStatus(t *testing.T, ta *apptest.App, ref string) int {
	t.Helper()
	return apptest.Count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, ref)
}
