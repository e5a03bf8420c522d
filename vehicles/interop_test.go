package vehicles_test

import (
	"bytes"
	"image/png"
	"net/http"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// A type 1C sends without image_png_base64 used to answer 404 at its image_path: a broken image in the app.
func TestInterop_ATypeWithoutAnImageServesThePlaceholder(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		body := []byte(`[{"ref_key":"NO-IMAGE-TYPE","title":"Спецтехника","instructions":["Шаг"]}]`)
		put := a.Do(http.MethodPut, "/1c/vehicle-types", bytes.NewReader(body), append(apptest.OneCAuth(), "Content-Type", "application/json")...)
		apptest.WantStatus(t, put, 200, "")
		own := a.Do(http.MethodGet, "/images/"+apptest.CarType+"/image.png", nil)
		for _, path := range []string{"/images/no-image-type/image.png", "/images/NO-IMAGE-TYPE/image.png"} {
			img := a.Do(http.MethodGet, path, nil)
			if img.Code != 200 || img.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("%s: %d %s", path, img.Code, img.Raw)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(img.Raw))
			if err != nil || cfg.Width == 0 {
				t.Fatalf("%s: not a PNG: %v", path, err)
			}
			for _, h := range []string{"Cache-Control", "Last-Modified"} {
				if img.Header.Get(h) == "" {
					t.Fatalf("%s: no %s (a type's own image has %q)", path, h, own.Header.Get(h))
				}
			}
			if img.Header.Get("Cache-Control") != own.Header.Get("Cache-Control") {
				t.Fatalf("Cache-Control %q, a type's own image has %q", img.Header.Get("Cache-Control"), own.Header.Get("Cache-Control"))
			}
			etag := img.Header.Get("ETag")
			if etag == "" || etag == own.Header.Get("ETag") {
				t.Fatalf("ETag %q", etag)
			}
			if again := a.Do(http.MethodGet, path, nil, "If-None-Match", etag); again.Code != 304 {
				t.Fatalf("If-None-Match: %d", again.Code)
			}
		}
		apptest.WantStatus(t, a.Do(http.MethodGet, "/images/unknown-type/image.png", nil), 404, "image_not_found")
	})
}
