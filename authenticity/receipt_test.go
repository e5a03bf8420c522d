package authenticity_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

// TestClockSkew_ComparedWithTheUploadsStart: clock_skew weighs time_sent against when the server began
// to receive the upload. A resumable (tus) upload created 40 minutes before its last PATCH, with the
// phone's time_sent of its start, is not skewed; a plain upload whose time_sent is 40 minutes old is.
func TestClockSkew_ComparedWithTheUploadsStart(t *testing.T) {
	mp4test.RequireFFmpeg(t)
	video := mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Seconds: 6, Recorded: time.Now().Add(-2 * time.Hour), Location: &point, Clean: true})
	other := mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Seconds: 6, Recorded: time.Now().Add(-2 * time.Hour), Location: &point, Clean: true, Seed: 3})
	apptest.EachDatabase(t, func(t *testing.T, dbURL string) {
		ta := apptest.New(t, dbURL, "FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION", "0.5")
		authTask(t, ta, "777GGG02", "XTA21099000000007", "auth-tus")
		authTask(t, ta, "888HHH02", "XTA21099000000008", "auth-late")
		tok := ta.Token(apptest.DemoBIN, apptest.Director("receipt"))
		started := time.Now().Add(-40 * time.Minute)
		fields := sendFields("auth-tus", started, "")

		var meta []string
		for _, k := range []string{"ref_key", "time_sent", "lat", "long"} {
			meta = append(meta, k+" "+base64.StdEncoding.EncodeToString([]byte(fields[k])))
		}
		tus := []string{"Authorization", "Bearer " + tok, "Tus-Resumable", "1.0.0"}
		created := ta.Do(http.MethodPost, "/reports/uploads", nil, append(tus, "Upload-Length", strconv.Itoa(len(video)), "Upload-Metadata", strings.Join(meta, ","))...)
		apptest.WantStatus(t, created, 201, "")
		path := strings.TrimPrefix(created.Header.Get("Location"), "https://api.example.kz")
		half := len(video) / 2
		patch := func(off int, chunk []byte) {
			t.Helper()
			apptest.WantStatus(t, ta.Do(http.MethodPatch, path, bytes.NewReader(chunk), append(tus, "Content-Type", "application/offset+octet-stream",
				"Upload-Offset", strconv.Itoa(off))...), 204, "")
		}
		patch(0, video[:half])
		// The upload began 40 minutes ago (the phone on a slow network): its creation is dated so.
		if _, err := ta.DB.Exec(`UPDATE resumable_uploads SET created_at = $1`, started.UTC()); err != nil {
			t.Fatal(err)
		}
		patch(half, video[half:])
		upload(t, ta, tok, sendFields("auth-late", started, ""), other)

		if got := reasonCodes(analysed(t, ta, "auth-tus")); len(got) != 0 {
			t.Errorf("a tus upload that took 40 minutes, time_sent at its start: reasons %v", got)
		}
		late := analysed(t, ta, "auth-late")
		if got := reasonCodes(late); !slices.Equal(got, []string{"clock_skew"}) {
			t.Errorf("a plain upload with a time_sent 40 minutes old: reasons %v", got)
		}
		for _, r := range late["authenticity"].(map[string]any)["reasons"].([]any) {
			if r := r.(map[string]any); r["code"] == "clock_skew" {
				if skew := r["facts"].(map[string]any)["skew_min"].(float64); skew > -39 || skew < -41 {
					t.Errorf("skew %v min, want about -40", skew)
				}
			}
		}
	})
}
