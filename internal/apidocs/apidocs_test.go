package apidocs

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestRender_ListsEveryOperationOfTheDocument(t *testing.T) {
	page, err := Render(spec)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(spec, &d); err != nil {
		t.Fatal(err)
	}
	html := string(page)
	n := 0
	for path, item := range d.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			n++
			want := `<span class="m ` + method + `">` + strings.ToUpper(method) + `</span><span class="path">` + path + `</span>`
			if !strings.Contains(html, want) {
				t.Errorf("the page does not list %s %s", strings.ToUpper(method), path)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d operations in the document", n)
	}
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "<script") {
		t.Error("the page refers to something outside the binary")
	}
}

func TestRender_RefusesBrokenDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":        `{`,
		"openapi 3.0":     `{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{}}`,
		"dangling ref":    `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"$ref":"#/components/responses/Nope"}}}}}}`,
		"dangling schema": `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Nope"}}}}}}}}}`,
		"no responses":    `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{}}}}`,
		"duplicate path":  `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"x"}}}},"/a":{}}}`,
	} {
		if _, err := Render([]byte(doc)); err == nil {
			t.Errorf("%s: rendered without an error", name)
		}
	}
}

func TestRoutes_ServeTheDocumentAndThePageOffline(t *testing.T) {
	app := fiber.New()
	Routes(app)
	for path, ct := range map[string]string{"/openapi.json": "application/json", "/docs": "text/html"} {
		resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || len(body) < 1000 {
			t.Fatalf("%s: %d %s, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if path == "/docs" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Error("the page is served without its content security policy")
		}
	}
}
