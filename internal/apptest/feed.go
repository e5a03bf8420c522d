package apptest

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// FeedItem is one report of the 1C feed as a test reads it; Seq is set on a page's last item (the
// page's cursor).
type FeedItem struct {
	RefKey string
	Status int
	Seq    int64
	Raw    map[string]any
}

// ReadFeed pages the 1C feed from after to its end, limit per page (query is appended as is, e.g.
// "&status=2"), calling between after each page but the last; it returns the items and the final cursor.
func ReadFeed(t testing.TB, a *App, query, after string, limit int, between func()) ([]FeedItem, string) {
	t.Helper()
	var items []FeedItem
	for pages := 0; pages < 10000; pages++ {
		ans := a.Do(http.MethodGet, fmt.Sprintf("/1c/reports?after=%s&limit=%d%s", after, limit, query), nil, OneCAuth()...)
		if ans.Code != 200 {
			t.Fatalf("feed: %d %s", ans.Code, ans.Raw)
		}
		for _, r := range ans.Data()["reports"].([]any) {
			m := r.(map[string]any)
			items = append(items, FeedItem{RefKey: m["ref_key"].(string), Status: int(m["status_code"].(float64)), Raw: m})
		}
		cursor := ans.Str("cursor")
		if n, _ := strconv.ParseInt(cursor, 10, 64); len(items) > 0 {
			items[len(items)-1].Seq = n
		}
		if ans.Str("next_cursor") == "" {
			return items, cursor
		}
		after = ans.Str("next_cursor")
		if between != nil {
			between()
		}
	}
	t.Fatal("the feed never ended")
	return nil, ""
}
