package reports_test

import (
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// Past FL_SPOOL_MAX_BYTES of upload temp files on the instance an upload answers 503, and the budget
// is whole again afterwards.
func TestUpload_SpoolBudgetAnswers503PastIt(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		token := ta.Login(apptest.DemoBIN, apptest.Director("spool")).Str("access_token")
		apptest.WantStatus(t, ta.Upload(token, apptest.Meta(apptest.TaskRef), apptest.MP4(1<<20), false), 503, "unavailable")
		if used := ta.Spool.Used(); used != 0 {
			t.Fatalf("%d spool bytes still reserved after the refused upload", used)
		}
		if reportStatus(t, ta, apptest.TaskRef) != 1 || len(videos(t, ta)) != 0 {
			t.Fatal("a refused upload changed the report or left a video")
		}
		apptest.WantStatus(t, ta.Upload(token, apptest.Meta(apptest.TaskRef), apptest.MP4(128<<10), false), 201, "")
		if used := ta.Spool.Used(); used != 0 {
			t.Fatalf("%d spool bytes still reserved after the upload", used)
		}
	}, "FL_SPOOL_MAX_BYTES", "524288")
}
