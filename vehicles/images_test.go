package vehicles_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func TestImages_ServedWithCachingAnd404Envelope(t *testing.T) {
	ta := apptest.New(t, "")
	a := ta.Do(http.MethodGet, "/images/"+apptest.CarType+"/image.png", nil)
	if a.Code != 200 || a.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(a.Raw), "\x89PNG") || a.Header.Get("ETag") == "" {
		t.Fatalf("image: %d %q", a.Code, a.Header)
	}
	if c := ta.Do(http.MethodGet, "/images/"+apptest.CarType+"/image.png", nil, "If-None-Match", a.Header.Get("ETag")); c.Code != 304 {
		t.Fatalf("conditional get: %d", c.Code)
	}
	apptest.WantStatus(t, ta.Do(http.MethodGet, "/images/unknown/image.png", nil), 404, "image_not_found")
}
