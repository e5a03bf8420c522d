package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/forteleasing/inspections/internal/apidocs"
)

// specPaths lists "METHOD /path" of every operation in the OpenAPI document.
func specOperations(t *testing.T) map[string]bool {
	t.Helper()
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(apidocs.Spec(), &d); err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for path, item := range d.Paths {
		for method := range item {
			if method != "parameters" {
				ops[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	return ops
}

var fiberParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// specPathOf turns a Fiber route into the document's spelling: ":ref_key" → "{ref_key}". A trailing
// "*" stands for the segments the document spells out, so it matches any path under its prefix.
func matchesRoute(route, specPath string) bool {
	r := fiberParam.ReplaceAllString(route, "{$1}")
	if prefix, ok := strings.CutSuffix(r, "*"); ok {
		return strings.HasPrefix(specPath, prefix) && len(specPath) > len(prefix)
	}
	return r == specPath
}

func TestOpenAPI_EveryRouteIsDocumentedAndEveryOperationExists(t *testing.T) {
	ta := newTestApp(t, "") // the disk store: /media/* is registered too
	spec := specOperations(t)
	covered := map[string]bool{}
	var undocumented []string
	seen := map[string]bool{}
	for _, r := range ta.app.http.GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == "USE" || seen[r.Method+" "+r.Path] {
			continue // Fiber adds HEAD for every GET
		}
		seen[r.Method+" "+r.Path] = true
		found := false
		for op := range spec {
			method, path, _ := strings.Cut(op, " ")
			if method == r.Method && matchesRoute(r.Path, path) {
				covered[op], found = true, true
			}
		}
		if !found {
			undocumented = append(undocumented, r.Method+" "+r.Path)
		}
	}
	var missing []string
	for op := range spec {
		if !covered[op] {
			missing = append(missing, op)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(missing)
	if len(undocumented) > 0 {
		t.Errorf("routes without an OpenAPI operation (add them to internal/apidocs/openapi.json):\n  %s", strings.Join(undocumented, "\n  "))
	}
	if len(missing) > 0 {
		t.Errorf("OpenAPI operations without a route:\n  %s", strings.Join(missing, "\n  "))
	}
}

// validator checks answers against the document's response schemas.
type validator struct {
	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // "METHOD path status" → schema
	doc     map[string]any
	c       *jsonschema.Compiler
}

func newValidator(t *testing.T) *validator {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(apidocs.Spec()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	return &validator{schemas: map[string]*jsonschema.Schema{}, doc: doc.(map[string]any), c: c}
}

// pointer escapes a JSON pointer token.
func pointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// schemaFor compiles the JSON schema of one documented answer, following a response $ref.
func (v *validator) schemaFor(method, path, status string) (*jsonschema.Schema, error) {
	key := method + " " + path + " " + status
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.schemas[key]; ok {
		return s, nil
	}
	op, _ := v.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return nil, fmt.Errorf("no operation %s %s", method, path)
	}
	resp, _ := op["responses"].(map[string]any)[status].(map[string]any)
	if resp == nil {
		return nil, fmt.Errorf("%s %s does not document status %s", method, path, status)
	}
	loc := "openapi.json#/paths/" + pointer(path) + "/" + strings.ToLower(method) + "/responses/" + status
	if ref, ok := resp["$ref"].(string); ok {
		loc = "openapi.json" + ref
		name := strings.TrimPrefix(ref, "#/components/responses/")
		resp = v.doc["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any)
	}
	content, _ := resp["content"].(map[string]any)["application/json"].(map[string]any)
	if content == nil || content["schema"] == nil {
		v.schemas[key] = nil
		return nil, nil // not JSON (a PNG, a video): nothing to validate
	}
	s, err := v.c.Compile(loc + "/content/application~1json/schema")
	if err != nil {
		return nil, err
	}
	v.schemas[key] = s
	return s, nil
}

// check validates one real answer against the operation the route serves.
func (v *validator) check(t *testing.T, method, specPath string, a answer) {
	t.Helper()
	if err := v.validate(method, specPath, a); err != nil {
		t.Error(err)
	}
}

func (v *validator) validate(method, specPath string, a answer) error {
	s, err := v.schemaFor(method, specPath, fmt.Sprint(a.code))
	if err != nil {
		return fmt.Errorf("%v (answer %.300s)", err, a.raw)
	}
	if s == nil {
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(a.raw))
	if err != nil {
		return fmt.Errorf("%s %s: answer is not JSON: %.300s", method, specPath, a.raw)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%s %s → %d does not match its schema: %v\nanswer: %.600s", method, specPath, a.code, err, a.raw)
	}
	return nil
}

func TestOpenAPI_ValidatorRefusesWrongAnswers(t *testing.T) {
	v := newValidator(t)
	for _, c := range []struct {
		method, path string
		a            answer
	}{
		{"POST", "/auth", answer{code: 200, raw: []byte(`{"status":"ok","data":{"message":"success","code":200}}`)}},
		{"GET", "/employee/list", answer{code: 200, raw: []byte(`{"status":"ok","data":{"message":"success","code":200,"employees":[{"id":"x"}]}}`)}},
		{"POST", "/reports/upload", answer{code: 418, raw: []byte(`{}`)}},
	} {
		if err := v.validate(c.method, c.path, c.a); err == nil {
			t.Errorf("%s %s %d %s passed", c.method, c.path, c.a.code, c.a.raw)
		}
	}
}

// TestOpenAPI_RealAnswersMatchTheirSchemas drives the wired service through every documented operation,
// with good and bad input, and validates each answer against the document.
func TestOpenAPI_RealAnswersMatchTheirSchemas(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		v := newValidator(t)
		check := func(method, specPath string, a answer) answer {
			t.Helper()
			v.check(t, method, specPath, a)
			return a
		}
		bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

		// Login.
		check("POST", "/biin/{biin}", ta.jsonDo(http.MethodPost, "/biin/"+demoBIN, director("oa-dir")))
		check("POST", "/biin/{biin}", ta.jsonDo(http.MethodPost, "/biin/123", director("oa-dir")))
		check("POST", "/auth", ta.do(http.MethodPost, "/auth", nil, "Authorization", "Basic Zm9vOmJhcg=="))
		dir := check("POST", "/auth", ta.login(demoBIN, director("oa-dir")))
		emp := check("POST", "/auth", ta.login(demoBIN, employee("oa-emp", "87770001122", "Аскар")))
		access, refresh := dir.str("access_token"), dir.str("refresh_token")
		refreshed := check("POST", "/refresh_token", ta.do(http.MethodPost, "/refresh_token", nil, bearer(refresh)...))
		access = refreshed.str("access_token")
		check("POST", "/refresh_token", ta.do(http.MethodPost, "/refresh_token", nil, bearer("nonsense")...))
		check("POST", "/device/fcm", ta.jsonDo(http.MethodPost, "/device/fcm", map[string]any{"FCM": "new-token"}, bearer(access)...))
		check("POST", "/device/fcm", ta.jsonDo(http.MethodPost, "/device/fcm", map[string]any{}, bearer(access)...))

		// Employees.
		list := check("GET", "/employee/list", ta.get("/employee/list", access))
		check("GET", "/employee/list", ta.get("/employee/list", emp.str("access_token")))
		check("GET", "/employee/list", ta.get("/employee/list", "expired.or.forged"))
		id := fmt.Sprint(list.data()["employees"].([]any)[0].(map[string]any)["id"])
		check("DELETE", "/employee/delete/{id}", ta.do(http.MethodDelete, "/employee/delete/999999", nil, bearer(access)...))
		check("DELETE", "/employee/delete/{id}", ta.do(http.MethodDelete, "/employee/delete/"+id, nil, bearer(access)...))

		// Reports.
		check("GET", "/reports/general/filter", ta.get("/reports/general/filter", access))
		check("GET", "/reports/general/filter/{status_code}/{date_range_code}/{vehicle_guid}", ta.get("/reports/general/filter/3/null/"+binVehicle, access))
		check("GET", "/reports/general/filter/{status_code}/{date_range_code}/{vehicle_guid}", ta.get("/reports/general/filter/9", access))
		check("GET", "/reports/vehicle/filter", ta.get("/reports/vehicle/filter?limit=2", access))
		check("GET", "/reports/vehicle/filter/{status_code}/{date_range_code}", ta.get("/reports/vehicle/filter/null/1y", access))
		check("GET", "/reports/vehicle/select/{vehicle_guid}", ta.get("/reports/vehicle/select/"+binVehicle, access))
		check("GET", "/reports/vehicle/select/{vehicle_guid}", ta.get("/reports/vehicle/select/"+iinVehicle, access))

		// Upload.
		check("POST", "/reports/upload", ta.upload(access, meta(taskRef), makeMP4(4096), false))
		check("POST", "/reports/upload", ta.upload(access, meta(taskRef), makeMP4(4096), false))
		check("POST", "/reports/upload", ta.upload(access, nil, makeMP4(4096), false))
		check("POST", "/reports/upload", ta.upload(access, meta(taskRef), []byte("not a video at all"), false))

		// Images and QR (PNG answers are not JSON; their 404s are).
		check("GET", "/images/{vehicle_type_code}/image.png", ta.do(http.MethodGet, "/images/no-such-type/image.png", nil))
		check("GET", "/vehicle/qr/{vehicle_guid}", ta.do(http.MethodGet, "/vehicle/qr/no-such-vehicle", nil, onecAuth()...))
		check("GET", "/vehicle/qr/{vehicle_guid}", ta.do(http.MethodGet, "/vehicle/qr/"+binVehicle, nil))

		// 1C.
		check("PUT", "/1c/companies", ta.jsonDo(http.MethodPut, "/1c/companies", []any{company("000000000000", "Новая")}, onecAuth()...))
		check("PUT", "/1c/companies", ta.jsonDo(http.MethodPut, "/1c/companies", []any{map[string]any{"biin": "1"}}, onecAuth()...))
		check("PUT", "/1c/companies", ta.jsonDo(http.MethodPut, "/1c/companies", []any{}))
		check("PUT", "/1c/vehicle-types", ta.jsonDo(http.MethodPut, "/1c/vehicle-types", []any{map[string]any{"ref_key": "oa-type", "title": "Спецтехника", "instructions": []string{"Снять номер"}}}, onecAuth()...))
		check("PUT", "/1c/vehicles", ta.jsonDo(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": "oa-v", "biin": "nope", "vehicle_type_code": carType}}, onecAuth()...))
		check("PUT", "/1c/vehicles", ta.jsonDo(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": "oa-v", "biin": demoBIN, "vehicle_type_code": "oa-type", "plate_number": "123ABC02"}}, onecAuth()...))
		check("PUT", "/1c/reports", ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "oa-r", "report_number": "1", "vehicle_guid": "oa-v",
			"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}}, onecAuth()...))
		check("GET", "/1c/reports", ta.do(http.MethodGet, "/1c/reports?status=2&limit=5", nil, onecAuth()...))
		check("GET", "/1c/reports", ta.do(http.MethodGet, "/1c/reports?limit=100000", nil, onecAuth()...))
		check("POST", "/1c/reports/{ref_key}/decision", ta.jsonDo(http.MethodPost, "/1c/reports/"+taskRef+"/decision", map[string]any{"status_code": 4, "reject_reason": "Темно"}, onecAuth()...))
		check("POST", "/1c/reports/{ref_key}/decision", ta.jsonDo(http.MethodPost, "/1c/reports/"+taskRef+"/decision", map[string]any{"status_code": 3}, onecAuth()...))
		check("POST", "/1c/reports/{ref_key}/decision", ta.jsonDo(http.MethodPost, "/1c/reports/none/decision", map[string]any{"status_code": 3}, onecAuth()...))

		// VIN checks (no registry configured here: not_configured) and the VAG callback (no secret: 404).
		check("POST", "/1c/vehicles/{vehicle_guid}/check", ta.do(http.MethodPost, "/1c/vehicles/"+binVehicle+"/check", nil, onecAuth()...))
		check("POST", "/1c/vehicles/{vehicle_guid}/check", ta.do(http.MethodPost, "/1c/vehicles/nope/check", nil, onecAuth()...))
		check("POST", "/1c/vehicles/{vehicle_guid}/check", ta.do(http.MethodPost, "/1c/vehicles/nope/check", nil))
		check("POST", "/providers/vagvin/callback", ta.jsonDo(http.MethodPost, "/providers/vagvin/callback", map[string]any{"id": "1"}))

		// Operations and the docs themselves.
		for _, path := range []string{"/healthz", "/readyz"} { // plain JSON, not the envelope
			resp, err := ta.app.http.Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			check("GET", path, answer{code: resp.StatusCode, raw: raw})
		}
		check("POST", "/logout", ta.do(http.MethodPost, "/logout", nil, bearer(access)...))
		check("POST", "/logout", ta.do(http.MethodPost, "/logout", nil, bearer(access)...))
	})
}
