package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func TestEnvelope_UnknownRouteWrongMethodAndTooLargeBody(t *testing.T) {
	ta := apptest.New(t, "")
	apptest.WantStatus(t, ta.Do(http.MethodGet, "/nope", nil), 404, "not_found")
	apptest.WantStatus(t, ta.Do(http.MethodGet, "/auth", nil), 405, "method_not_allowed")
	// Over a real connection: the server answers 413 without reading the body.
	base := ta.Listen()
	body := `{"uuid":"` + strings.Repeat("x", 70<<10) + `"}`
	for name, length := range map[string]int64{"declared length": int64(len(body)), "chunked": -1} {
		req, _ := http.NewRequest(http.MethodPost, base+"/biin/"+apptest.DemoBIN, strings.NewReader(body))
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
	apptest.WantStatus(t, ta.Get("/employee/list", "not-a-token"), 401, "invalid_token")
	apptest.WantStatus(t, ta.Do(http.MethodGet, "/employee/list", nil), 401, "missing_token")
}
