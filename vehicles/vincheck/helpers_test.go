package vincheck_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

type feedItem struct {
	RefKey string
	Status int
	Seq    int64
	Raw    map[string]any
}

// readFeed pages from cursor to the end with limit, returning the items and the final cursor.
func readFeed(t *testing.T, ta *apptest.App, query string, after string, limit int, between func()) ([]feedItem, string) {
	t.Helper()
	var items []feedItem
	for pages := 0; pages < 10000; pages++ {
		a := ta.Do(http.MethodGet, fmt.Sprintf("/1c/reports?after=%s&limit=%d%s", after, limit, query), nil, apptest.OneCAuth()...)
		if a.Code != 200 {
			t.Fatalf("feed: %d %s", a.Code, a.Raw)
		}
		for _, r := range a.Data()["reports"].([]any) {
			m := r.(map[string]any)
			items = append(items, feedItem{RefKey: m["ref_key"].(string), Status: int(m["status_code"].(float64)), Raw: m})
		}
		cursor := a.Str("cursor")
		if n, _ := strconv.ParseInt(cursor, 10, 64); len(items) > 0 {
			items[len(items)-1].Seq = n
		}
		if a.Str("next_cursor") == "" {
			return items, cursor
		}
		after = a.Str("next_cursor")
		if between != nil {
			between()
		}
	}
	t.Fatal("the feed never ended")
	return nil, ""
}

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
