package onec_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func TestFeed_PagesThroughEveryReportOnce(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		all, cursor := apptest.ReadFeed(t, ta, "", "0", 3, nil)
		if len(all) != 8 {
			t.Fatalf("feed holds %d reports, the demo has 8", len(all))
		}
		seen := map[string]bool{}
		for _, it := range all {
			if seen[it.RefKey] {
				t.Fatalf("%s twice", it.RefKey)
			}
			seen[it.RefKey] = true
			if _, ok := it.Raw["vin_check"]; !ok {
				t.Fatal("no vin_check key")
			}
		}
		sent, _ := apptest.ReadFeed(t, ta, "&status=2", "0", 100, nil)
		for _, it := range sent {
			if it.Status != 2 {
				t.Fatalf("status filter let %d through", it.Status)
			}
		}
		if len(sent) != 5 {
			t.Fatalf("%d reports in status 2, want 5", len(sent))
		}
		more, _ := apptest.ReadFeed(t, ta, "", cursor, 3, nil)
		if len(more) != 0 {
			t.Fatalf("%d items after the end", len(more))
		}
		for _, q := range []string{"?limit=0", "?limit=1001", "?after=-1", "?after=x", "?status=7"} {
			apptest.WantStatus(t, ta.Do(http.MethodGet, "/1c/reports"+q, nil, apptest.OneCAuth()...), 400, "invalid")
		}
	})
}

func TestFeed_NoChangeSkippedOrRepeatedWhileWritesHappen(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		// A writer keeps changing reports while 1C pages through the feed.
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 200; i++ {
				ref := fmt.Sprintf("w-%d", i%7)
				a := ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": ref, "report_number": ref,
					"vehicle_guid": apptest.BINVehicle, "date_start": "2026-01-01T00:00:00", "date_finish": "2026-02-01T00:00:00",
					"status_code": 1 + i%2*2, "contract_number": strconv.Itoa(i)}}, apptest.OneCAuth()...)
				if a.Code != 200 {
					t.Errorf("writer: %d %s", a.Code, a.Raw)
					return
				}
			}
		}()
		var got []apptest.FeedItem
		cursor := "0"
		for round := 0; round < 20; round++ {
			items, c := apptest.ReadFeed(t, ta, "", cursor, 2, nil)
			got, cursor = append(got, items...), c
		}
		stop.Store(true)
		wg.Wait()
		items, _ := apptest.ReadFeed(t, ta, "", cursor, 2, nil)
		got = append(got, items...)

		// Every report's current version was delivered, and the stream is one increasing sequence.
		lastSeq := map[string]int64{}
		var prev int64
		for i, it := range got {
			if it.Seq != 0 {
				if it.Seq <= prev {
					t.Fatalf("item %d: cursor %d after %d", i, it.Seq, prev)
				}
				prev = it.Seq
			}
			lastSeq[it.RefKey] = it.Seq
		}
		var current []struct {
			RefKey string `db:"ref_key"`
			Seq    int64  `db:"change_seq"`
		}
		if err := ta.DB.Select(&current, `SELECT ref_key, change_seq FROM reports`); err != nil {
			t.Fatal(err)
		}
		for _, r := range current {
			if _, ok := lastSeq[r.RefKey]; !ok {
				t.Errorf("report %s (change %d) never appeared in the feed", r.RefKey, r.Seq)
			}
		}
		final, _ := apptest.ReadFeed(t, ta, "", "0", 1000, nil)
		for _, it := range final {
			if got := apptest.Count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, it.RefKey); got != it.Status {
				t.Errorf("%s: feed says %d, database %d", it.RefKey, it.Status, got)
			}
		}
	})
}

func TestDecision_EveryWrongStateAndTheRightOne(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		decide := func(ref string, body map[string]any) apptest.Answer {
			return ta.JSON(http.MethodPost, "/1c/reports/"+ref+"/decision", body, apptest.OneCAuth()...)
		}
		apptest.WantStatus(t, decide(apptest.TaskRef, map[string]any{"status_code": 3}), 409, "report_not_submitted")                                              // status 1
		apptest.WantStatus(t, decide("81578c98-d282-11ec-9405-005056aaa4ae", map[string]any{"status_code": 4, "reject_reason": "x"}), 409, "report_not_submitted") // status 3
		apptest.WantStatus(t, decide("no-such-report", map[string]any{"status_code": 3}), 404, "report_not_found")
		apptest.WantStatus(t, decide(apptest.TaskRef, map[string]any{"status_code": 2}), 400, "invalid")
		apptest.WantStatus(t, decide(apptest.TaskRef, map[string]any{}), 400, "invalid")
		apptest.WantStatus(t, ta.JSON(http.MethodPost, "/1c/reports/"+apptest.TaskRef+"/decision", map[string]any{"status_code": 3}), 401, "invalid_credentials")

		tok := ta.Login(apptest.DemoBIN, apptest.Director("decide")).Str("access_token")
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), false), 201, "")
		apptest.WantStatus(t, decide(apptest.TaskRef, map[string]any{"status_code": 4}), 400, "invalid") // reason required
		if reportStatus(t, ta, apptest.TaskRef) != 2 {
			t.Fatal("a refused decision changed the report")
		}
		a := decide(apptest.TaskRef, map[string]any{"status_code": 4, "reject_reason": "Номер не виден"})
		apptest.WantStatus(t, a, 200, "")
		if reportStatus(t, ta, apptest.TaskRef) != 4 {
			t.Fatal("rejection not stored")
		}
		apptest.WantStatus(t, decide(apptest.TaskRef, map[string]any{"status_code": 3}), 409, "report_not_submitted")

		// Rejected reports take a new video; then 1C approves.
		apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), false), 201, "")
		apptest.WantStatus(t, decide(apptest.TaskRef, map[string]any{"status_code": 3, "reject_reason": "ignored"}), 200, "")
		items, _ := apptest.ReadFeed(t, ta, "&status=3", "0", 100, nil)
		var item map[string]any
		for _, it := range items {
			if it.RefKey == apptest.TaskRef {
				item = it.Raw
			}
		}
		if item == nil || item["reject_reason"] != "" {
			t.Fatalf("approved report in the feed: %v", item)
		}
		var statuses []float64
		var actors []string
		for _, h := range item["history"].([]any) {
			statuses = append(statuses, h.(map[string]any)["status_code"].(float64))
			actors = append(actors, h.(map[string]any)["actor"].(string))
		}
		if fmt.Sprint(statuses) != "[1 2 4 2 3]" || actors[2] != "1c" || actors[1][:5] != "user:" {
			t.Fatalf("history %v by %v", statuses, actors)
		}
		up := item["upload"].(map[string]any)
		if up["size"] != 4096.0 || up["uploader"].(map[string]any)["first_name"] != "Нурмуханов" || up["lat"] != 43.238949 {
			t.Fatalf("upload block: %v", up)
		}
		// The video link of the disk store downloads the video (S3 links are checked in the media tests).
		u, err := url.Parse(up["video_url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		dl := ta.Do(http.MethodGet, u.RequestURI(), nil)
		if dl.Code != 200 || len(dl.Raw) != 4096 {
			t.Fatalf("download: %d, %d bytes", dl.Code, len(dl.Raw))
		}
		q := u.Query()
		q.Set("signature", "00"+q.Get("signature")[2:])
		u.RawQuery = q.Encode()
		apptest.WantStatus(t, ta.Do(http.MethodGet, u.RequestURI(), nil), 403, "forbidden")
	})
}
