package apidocs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
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
		"not json":                  `{`,
		"openapi 3.0":               `{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{}}`,
		"dangling ref":              `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"$ref":"#/components/responses/Nope"}}}}}}`,
		"dangling schema":           `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Nope"}}}}}}}}}`,
		"no responses":              `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{}}}}`,
		"duplicate path":            `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"x"}}}},"/a":{}}}`,
		"undeclared path parameter": `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a/{id}":{"get":{"responses":{"200":{"description":"x"}}}}}}`,
		"parameter not in the path": `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"parameters":[{"name":"id","in":"path","required":true}],"responses":{"200":{"description":"x"}}}}}}`,
		"duplicate operationId":     `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"operationId":"x","responses":{"200":{"description":"x"}}}},"/b":{"get":{"operationId":"x","responses":{"200":{"description":"x"}}}}}}`,
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

func TestRender_ShowsProseAsCodeAndLinksSchemas(t *testing.T) {
	page, err := Render([]byte(`{"openapi":"3.1.0","info":{"title":"x","version":"1","description":"send ` + "`<b>`" + ` here"},
		"paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"type":"array","items":{"$ref":"#/components/schemas/Thing"}}}}}}}}},
		"components":{"schemas":{"Thing":{"type":"object","properties":{"data":{"type":"object","properties":{"id":{"type":"integer"}}}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{
		`send <code>&lt;b&gt;</code> here`,           // backticks are code, and escaped
		`array of <a href="#schema-Thing">Thing</a>`, // a component name links to its entry
		`<code>data.id</code>`,                       // inline objects list their fields
		`<section class="op" id="schema-Thing">`,     // the entry exists
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// TestDocument_ExamplesMatchTheirSchemas validates every example the document gives (of a body, an
// answer, a schema or a parameter) against the schema it illustrates, so the page never shows a shape
// or an error code the schemas would refuse.
func TestDocument_ExamplesMatchTheirSchemas(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	validate := func(schemaPtr string, example any, where string) {
		t.Helper()
		s, err := c.Compile("openapi.json#" + schemaPtr)
		if err != nil {
			t.Errorf("%s: compile %s: %v", where, schemaPtr, err)
			return
		}
		if err := s.Validate(example); err != nil {
			t.Errorf("%s: the example does not match its schema: %v", where, err)
		}
	}
	n := 0
	var walk func(v any, ptr string, inSchema bool)
	walk = func(v any, ptr string, inSchema bool) {
		switch v := v.(type) {
		case map[string]any:
			if ex, ok := v["example"]; ok && v["schema"] != nil { // a media type or a parameter
				validate(ptr+"/schema", ex, ptr)
				n++
			}
			if exs, ok := v["examples"].([]any); ok && inSchema { // a schema's own examples
				for i, ex := range exs {
					validate(ptr, ex, fmt.Sprintf("%s/examples/%d", ptr, i))
					n++
				}
			}
			for k, child := range v {
				tok := strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
				walk(child, ptr+"/"+tok, inSchema || k == "schema" || ptr == "/components/schemas")
			}
		case []any:
			for i, child := range v {
				walk(child, fmt.Sprintf("%s/%d", ptr, i), inSchema)
			}
		}
	}
	walk(doc, "", false)
	if n < 50 {
		t.Fatalf("only %d examples found: is the walk broken?", n)
	}
	t.Logf("%d examples validated", n)
}
