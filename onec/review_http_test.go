package onec_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

// task adds a vehicle of the demo company and a task on it that started a day ago.
func task(t *testing.T, ta *apptest.App, plate, ref string) {
	t.Helper()
	guid := "veh-" + plate
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": guid, "biin": apptest.DemoBIN,
		"vehicle_type_code": apptest.CarType, "vin_code": "XTA2109900000000" + plate[:1], "plate_number": plate}}, apptest.OneCAuth()...), 200, "")
	now := time.Now().In(kz)
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": ref,
		"vehicle_guid": guid, "date_start": now.Add(-24 * time.Hour).Format("2006-01-02T15:04:05"),
		"date_finish": now.Add(72 * time.Hour).Format("2006-01-02T15:04:05"), "status_code": 1}}, apptest.OneCAuth()...), 200, "")
}

// TestReview_SignedLinkAndRangedVideo opens the review page and its video as 1C's HTML field would,
// on the disk store and on MinIO: a tampered, foreign or expired link is 403, ranges are served as
// HTTP says (206 with Content-Range, a suffix range, 416 past the end).
func TestReview_SignedLinkAndRangedVideo(t *testing.T) {
	mp4test.RequireFFmpeg(t)
	file := mp4test.Make(t, mp4test.Spec{Style: mp4test.IPhone, Seconds: 5, Faststart: true, Recorded: time.Now().Add(-time.Hour), Location: &mp4test.Point{Lat: 43.238949, Long: 76.889709},
		Make: "Apple", Model: "iPhone 14", Software: "17.4.1", Clean: true})
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		task(t, ta, "444DDD02", "rev-1")
		task(t, ta, "555EEE02", "rev-2")
		tok := ta.Token(apptest.DemoBIN, apptest.Director("review"))
		upload(t, ta, tok, "rev-1", time.Now(), file)
		links := reviewLinks(t, ta)
		page := strings.TrimPrefix(links["rev-1"], "https://api.example.kz")
		code, hdr, body := get(t, ta, page)
		if code != 200 || !strings.Contains(string(body), `data-verdict="`) || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") ||
			!strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors *") || hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("page: %d %v\n%s", code, hdr, body)
		}
		u, _ := url.Parse(page)
		q := u.Query()
		sig := q.Get("signature")
		flipped := sig[:63] + map[bool]string{true: "0", false: "f"}[sig[63] == 'f']
		tampered := []string{
			"/review/rev-2?" + u.RawQuery, // another report with this report's signature
			"/review/rev-2/video?" + u.RawQuery,
			u.Path + "?expires=" + q.Get("expires") + "1&signature=" + sig,
			u.Path + "/video?expires=" + q.Get("expires") + "1&signature=" + sig,
			u.Path + "?expires=" + q.Get("expires") + "&signature=" + strings.Repeat("0", 64),
			u.Path + "?expires=" + q.Get("expires"),
			u.Path + "/video?expires=" + q.Get("expires"),
			u.Path + "/video?expires=" + q.Get("expires") + "&signature=" + flipped,
		}
		for _, p := range tampered {
			if code, _, body := get(t, ta, p, "Range", "bytes=0-99"); code != 403 || !strings.Contains(string(body), "bad_review_link") {
				t.Errorf("%s: %d %.200s, want 403 bad_review_link", p, code, body)
			}
		}
		video := u.Path + "/video?" + u.RawQuery
		code, hdr, body = get(t, ta, video)
		if code != 200 || !bytes.Equal(body, file) || hdr.Get("Accept-Ranges") != "bytes" || hdr.Get("Content-Type") != "video/mp4" {
			t.Fatalf("whole video: %d %v, %d bytes of %d", code, hdr, len(body), len(file))
		}
		size := strconv.Itoa(len(file))
		code, hdr, body = get(t, ta, video, "Range", "bytes=100-199")
		if code != 206 || !bytes.Equal(body, file[100:200]) || hdr.Get("Content-Range") != "bytes 100-199/"+size {
			t.Fatalf("range 100-199: %d %v %d bytes", code, hdr, len(body))
		}
		code, hdr, body = get(t, ta, video, "Range", "bytes=-16")
		if code != 206 || !bytes.Equal(body, file[len(file)-16:]) || hdr.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%s", len(file)-16, len(file)-1, size) {
			t.Fatalf("suffix range: %d %v, %d bytes", code, hdr, len(body))
		}
		code, hdr, body = get(t, ta, video, "Range", "bytes=1000-")
		if code != 206 || !bytes.Equal(body, file[1000:]) || hdr.Get("Content-Range") != fmt.Sprintf("bytes 1000-%d/%s", len(file)-1, size) {
			t.Fatalf("open range: %d %v, %d bytes", code, hdr, len(body))
		}
		if code, hdr, _ := get(t, ta, video, "Range", "bytes="+strconv.Itoa(len(file)+10)+"-"); code != 416 || hdr.Get("Content-Range") != "bytes */"+size {
			t.Fatalf("range past the end: %d %v", code, hdr)
		}
		// rev-2 has no video: its own link opens the page, its video is 404.
		p2 := strings.TrimPrefix(links["rev-2"], "https://api.example.kz")
		if code, _, body := get(t, ta, p2); code != 200 || !strings.Contains(string(body), "Видео ещё не загружено") {
			t.Fatalf("page without video: %d", code)
		}
		u2, _ := url.Parse(p2)
		if code, _, _ := get(t, ta, u2.Path+"/video?"+u2.RawQuery); code != 404 {
			t.Fatalf("video of a report without one: %d", code)
		}
	})
}

// TestReview_ExpiredLinkIs403: a link past its FL_REVIEW_LINK_TTL is refused, page and video, with the
// code that tells 1C to fetch the feed again.
func TestReview_ExpiredLinkIs403(t *testing.T) {
	mp4test.RequireFFmpeg(t)
	ta := apptest.New(t, "", "FL_REVIEW_LINK_TTL", "1s")
	task(t, ta, "444DDD02", "rev-exp")
	upload(t, ta, ta.Token(apptest.DemoBIN, apptest.Director("review-exp")), "rev-exp", time.Now(),
		mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Seconds: 2, Recorded: time.Now(), Clean: true}))
	page := strings.TrimPrefix(reviewLinks(t, ta)["rev-exp"], "https://api.example.kz")
	u, _ := url.Parse(page)
	apptest.Eventually(t, func() bool {
		code, _, body := get(t, ta, page)
		return code == 403 && strings.Contains(string(body), "review_link_expired")
	}, "the page's link expires after its TTL")
	if code, _, body := get(t, ta, u.Path+"/video?"+u.RawQuery, "Range", "bytes=0-99"); code != 403 || !strings.Contains(string(body), "review_link_expired") {
		t.Fatalf("video of an expired link: %d %.200s", code, body)
	}
}

// reviewLinks reads each report's review_url from the feed.
func reviewLinks(t *testing.T, ta *apptest.App) map[string]string {
	t.Helper()
	links := map[string]string{}
	feed := ta.Do(http.MethodGet, "/1c/reports?limit=1000", nil, apptest.OneCAuth()...)
	for _, it := range feed.Data()["reports"].([]any) {
		item := it.(map[string]any)
		links[item["ref_key"].(string)], _ = item["review_url"].(string)
	}
	return links
}

func get(t *testing.T, ta *apptest.App, path string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ta.HTTP.Test(r, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}
