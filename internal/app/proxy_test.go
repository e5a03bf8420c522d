package app_test

import (
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func reportStatus(t *testing.T, ta *apptest.App, ref string) int {
	return apptest.Count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, ref)
}
