package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestEnvelope_UnknownRouteWrongMethodAndTooLargeBody(t *testing.T) {
	ta := newTestApp(t, "")
	wantStatus(t, ta.do(http.MethodGet, "/nope", nil), 404, "not_found")
	wantStatus(t, ta.do(http.MethodGet, "/auth", nil), 405, "method_not_allowed")
	// Over a real connection: the server answers 413 without reading the body.
	base := ta.listen()
	body := `{"uuid":"` + strings.Repeat("x", 70<<10) + `"}`
	for name, length := range map[string]int64{"declared length": int64(len(body)), "chunked": -1} {
		req, _ := http.NewRequest(http.MethodPost, base+"/biin/"+demoBIN, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = length
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
	}
	wantStatus(t, ta.get("/employee/list", "not-a-token"), 401, "invalid_token")
	wantStatus(t, ta.do(http.MethodGet, "/employee/list", nil), 401, "missing_token")
}
