package apidocs_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/forteleasing/inspections/internal/apidocs"
	"github.com/forteleasing/inspections/internal/apptest"
)

// specOperations lists "METHOD /path" of every operation in the OpenAPI document.
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

// matchesRoute compares a Fiber route with a document path: ":ref_key" is "{ref_key}". A trailing
// "*" stands for the segments the document spells out, so it matches any path under its prefix.
func matchesRoute(route, specPath string) bool {
	r := fiberParam.ReplaceAllString(route, "{$1}")
	if prefix, ok := strings.CutSuffix(r, "*"); ok {
		return strings.HasPrefix(specPath, prefix) && len(specPath) > len(prefix)
	}
	return r == specPath
}

func TestOpenAPI_EveryRouteIsDocumentedAndEveryOperationExists(t *testing.T) {
	ta := apptest.New(t, "") // the disk store: /media/* is registered too
	spec := specOperations(t)
	covered := map[string]bool{}
	var undocumented []string
	seen := map[string]bool{}
	routes := ta.HTTP.GetRoutes(true)
	hasGet := map[string]bool{}
	for _, r := range routes {
		if r.Method == http.MethodGet {
			hasGet[r.Path] = true
		}
	}
	for _, r := range routes {
		if (r.Method == http.MethodHead && hasGet[r.Path]) || r.Method == "USE" || seen[r.Method+" "+r.Path] {
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

// validator checks answers against the document's responses: the media type, the JSON schema and, for
// errors, that the answer's error code is one the response names. It remembers which operations it saw.
type validator struct {
	mu        sync.Mutex
	responses map[string]*documented // "METHOD path status" → what the document says
	seen      map[string]bool        // "METHOD path" of every answer checked
	doc       map[string]any
	c         *jsonschema.Compiler
}

// documented is what the document says of one answer.
type documented struct {
	media  []string           // media types of the body; none: no body
	schema *jsonschema.Schema // nil: not JSON (a PNG, a video, the page)
	codes  map[string]bool    // error codes named in the description and the example
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
	return &validator{responses: map[string]*documented{}, seen: map[string]bool{}, doc: doc.(map[string]any), c: c}
}

// pointer escapes a JSON pointer token.
func pointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// errorCodeList finds the codes a response description lists: backquoted snake_case words in
// parentheses, as in "(`token_expired`, `invalid_token`)".
var (
	errorCodeList = regexp.MustCompile(`\(([^()]*)\)`)
	errorCode     = regexp.MustCompile("`([a-z][a-z0-9_]*)`")
)

func documentedCodes(description string, example any) map[string]bool {
	codes := map[string]bool{}
	for _, list := range errorCodeList.FindAllStringSubmatch(description, -1) {
		for _, c := range errorCode.FindAllStringSubmatch(list[1], -1) {
			codes[c[1]] = true
		}
	}
	if ex, ok := example.(map[string]any); ok {
		if data, ok := ex["data"].(map[string]any); ok {
			if code, ok := data["error"].(string); ok {
				codes[code] = true
			}
		}
	}
	return codes
}

// response returns the document's response of an operation for a status, following a $ref, and where
// it lives (for compiling its schema).
func (v *validator) response(method, path, status string) (map[string]any, string, error) {
	op, _ := v.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return nil, "", fmt.Errorf("no operation %s %s", method, path)
	}
	resp, _ := op["responses"].(map[string]any)[status].(map[string]any)
	if resp == nil {
		return nil, "", fmt.Errorf("%s %s does not document status %s", method, path, status)
	}
	loc := "openapi.json#/paths/" + pointer(path) + "/" + strings.ToLower(method) + "/responses/" + status
	if ref, ok := resp["$ref"].(string); ok {
		loc = "openapi.json" + ref
		name := strings.TrimPrefix(ref, "#/components/responses/")
		resp, _ = v.doc["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any)
		if resp == nil {
			return nil, "", fmt.Errorf("%s %s %s: dangling %s", method, path, status, ref)
		}
	}
	return resp, loc, nil
}

// documentedFor compiles what the document says of one answer.
func (v *validator) documentedFor(method, path, status string) (*documented, error) {
	key := method + " " + path + " " + status
	v.mu.Lock()
	defer v.mu.Unlock()
	if d, ok := v.responses[key]; ok {
		return d, nil
	}
	resp, loc, err := v.response(method, path, status)
	if err != nil {
		return nil, err
	}
	d := &documented{}
	content, _ := resp["content"].(map[string]any)
	for mt := range content {
		d.media = append(d.media, mt)
	}
	if js, _ := content["application/json"].(map[string]any); js != nil {
		description, _ := resp["description"].(string)
		d.codes = documentedCodes(description, js["example"])
		if js["schema"] != nil {
			if d.schema, err = v.c.Compile(loc + "/content/application~1json/schema"); err != nil {
				return nil, err
			}
		}
	}
	v.responses[key] = d
	return d, nil
}

// check validates one real answer against the operation the route serves.
func (v *validator) check(t *testing.T, method, specPath string, a apptest.Answer) {
	t.Helper()
	if err := v.validate(method, specPath, a); err != nil {
		t.Error(err)
	}
}

func (v *validator) validate(method, specPath string, a apptest.Answer) error {
	v.mu.Lock()
	v.seen[method+" "+specPath] = true
	v.mu.Unlock()
	d, err := v.documentedFor(method, specPath, fmt.Sprint(a.Code))
	if err != nil {
		return fmt.Errorf("%v (answer %.300s)", err, a.Raw)
	}
	mt, _, _ := mime.ParseMediaType(a.Header.Get("Content-Type"))
	switch {
	case len(d.media) == 0 && len(a.Raw) > 0:
		return fmt.Errorf("%s %s → %d: the document says no body, the answer has %d bytes of %q", method, specPath, a.Code, len(a.Raw), mt)
	case len(d.media) > 0 && !slices.Contains(d.media, mt):
		return fmt.Errorf("%s %s → %d: answered %q, the document says %v", method, specPath, a.Code, mt, d.media)
	}
	if d.schema == nil {
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(a.Raw))
	if err != nil {
		return fmt.Errorf("%s %s: answer is not JSON: %.300s", method, specPath, a.Raw)
	}
	if err := d.schema.Validate(inst); err != nil {
		return fmt.Errorf("%s %s → %d does not match its schema: %v\nanswer: %.600s", method, specPath, a.Code, err, a.Raw)
	}
	if a.Code >= 400 {
		data, _ := inst.(map[string]any)["data"].(map[string]any)
		if code, _ := data["error"].(string); !d.codes[code] {
			return fmt.Errorf("%s %s → %d: error code %q is not among those the document names for it (%v)", method, specPath, a.Code, code, keys(d.codes))
		}
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// unseen lists the document's operations no answer was checked for.
func (v *validator) unseen(t *testing.T) []string {
	var out []string
	for op := range specOperations(t) {
		if !v.seen[op] {
			out = append(out, op)
		}
	}
	sort.Strings(out)
	return out
}

func TestOpenAPI_ValidatorRefusesWrongAnswers(t *testing.T) {
	v := newValidator(t)
	js := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for _, c := range []struct {
		method, path string
		a            apptest.Answer
	}{
		{"POST", "/auth", apptest.Answer{Code: 200, Header: js, Raw: []byte(`{"status":"ok","data":{"message":"success","code":200}}`)}},
		{"GET", "/employee/list", apptest.Answer{Code: 200, Header: js, Raw: []byte(`{"status":"ok","data":{"message":"success","code":200,"employees":[{"id":"x"}]}}`)}},
		{"POST", "/reports/upload", apptest.Answer{Code: 418, Header: js, Raw: []byte(`{}`)}},
		// an error code the document does not name for the status
		{"POST", "/auth", apptest.Answer{Code: 401, Header: js, Raw: []byte(`{"status":"error","data":{"message":"x","code":401,"error":"made_up"}}`)}},
		// JSON where the document promises a PNG, and a body where it promises none
		{"GET", "/vehicle/qr/{vehicle_guid}", apptest.Answer{Code: 200, Header: js, Raw: []byte(`{"status":"ok","data":{"message":"success","code":200}}`)}},
		{"GET", "/images/{vehicle_type_code}/image.png", apptest.Answer{Code: 304, Header: http.Header{"Content-Type": {"image/png"}}, Raw: []byte("png")}},
	} {
		if err := v.validate(c.method, c.path, c.a); err == nil {
			t.Errorf("%s %s %d %s passed", c.method, c.path, c.a.Code, c.a.Raw)
		}
	}
}

// TestOpenAPI_DocumentedErrorCodesAreReal fails when the document names an error code (in an error
// answer's description or example) that no source file of the service spells: a renamed or
// invented code.
func TestOpenAPI_DocumentedErrorCodesAreReal(t *testing.T) {
	v := newValidator(t)
	named := map[string][]string{} // code → where the document names it
	for path, item := range v.doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			responses, _ := op.(map[string]any)["responses"].(map[string]any)
			for status := range responses {
				if status < "400" {
					continue
				}
				resp, _, err := v.response(strings.ToUpper(method), path, status)
				if err != nil {
					t.Fatal(err)
				}
				description, _ := resp["description"].(string)
				content, _ := resp["content"].(map[string]any) // none for HEAD
				js, _ := content["application/json"].(map[string]any)
				for code := range documentedCodes(description, js["example"]) {
					named[code] = append(named[code], strings.ToUpper(method)+" "+path+" "+status)
				}
			}
		}
	}
	if len(named) < 20 {
		t.Fatalf("only %d error codes named in the document", len(named))
	}
	var source bytes.Buffer
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == "testdata" || e.Name() == "bench" || strings.HasPrefix(e.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			source.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for code, where := range named {
		if !bytes.Contains(source.Bytes(), []byte(`"`+code+`"`)) {
			t.Errorf("error code %q (named at %v) appears in no source file", code, where)
		}
	}
}

// TestOpenAPI_RealAnswersMatchTheirSchemas drives the wired service through every documented operation,
// with good and bad input, and validates each answer against the document.
func TestOpenAPI_RealAnswersMatchTheirSchemas(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		v := newValidator(t)
		check := func(method, specPath string, a apptest.Answer) apptest.Answer {
			t.Helper()
			v.check(t, method, specPath, a)
			return a
		}
		bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

		// Login.
		check("POST", "/biin/{biin}", ta.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("oa-dir")))
		check("POST", "/biin/{biin}", ta.JSON(http.MethodPost, "/biin/123", apptest.Director("oa-dir")))
		check("POST", "/auth", ta.Do(http.MethodPost, "/auth", nil, "Authorization", "Basic Zm9vOmJhcg=="))
		// Five wrong codes burn the code: 401 each, then 429.
		check("POST", "/biin/{biin}", ta.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("oa-burn")))
		wrong := "0000"
		if ta.LastOTP() == wrong {
			wrong = "1111"
		}
		burn := "Basic " + base64.StdEncoding.EncodeToString([]byte(apptest.DemoBIN+"-oa-burn:"+wrong))
		for i := 0; i < 5; i++ {
			check("POST", "/auth", ta.Do(http.MethodPost, "/auth", nil, "Authorization", burn))
		}
		if a := check("POST", "/auth", ta.Do(http.MethodPost, "/auth", nil, "Authorization", burn)); a.Code != http.StatusTooManyRequests {
			t.Errorf("the sixth wrong code answered %d, want 429", a.Code)
		}
		dir := check("POST", "/auth", ta.Login(apptest.DemoBIN, apptest.Director("oa-dir")))
		emp := check("POST", "/auth", ta.Login(apptest.DemoBIN, apptest.Employee("oa-emp", "87770001122", "Аскар")))
		refresh := dir.Str("refresh_token")
		refreshed := check("POST", "/refresh_token", ta.Do(http.MethodPost, "/refresh_token", nil, bearer(refresh)...))
		access := refreshed.Str("access_token")
		check("POST", "/refresh_token", ta.Do(http.MethodPost, "/refresh_token", nil, bearer("nonsense")...))
		check("POST", "/device/fcm", ta.JSON(http.MethodPost, "/device/fcm", map[string]any{"FCM": "new-token"}, bearer(access)...))
		check("POST", "/device/fcm", ta.JSON(http.MethodPost, "/device/fcm", map[string]any{}, bearer(access)...))
		check("POST", "/device/fcm", ta.JSON(http.MethodPost, "/device/fcm", map[string]any{"FCM": strings.Repeat("x", 100<<10)}, bearer(access)...))

		// Employees.
		list := check("GET", "/employee/list", ta.Get("/employee/list", access))
		check("GET", "/employee/list", ta.Get("/employee/list", emp.Str("access_token")))
		check("GET", "/employee/list", ta.Get("/employee/list", "expired.or.forged"))
		id := fmt.Sprint(list.Data()["employees"].([]any)[0].(map[string]any)["id"])
		check("DELETE", "/employee/delete/{id}", ta.Do(http.MethodDelete, "/employee/delete/999999", nil, bearer(access)...))
		check("DELETE", "/employee/delete/{id}", ta.Do(http.MethodDelete, "/employee/delete/"+id, nil, bearer(access)...))

		// Reports.
		check("GET", "/reports/general/filter", ta.Get("/reports/general/filter", access))
		check("GET", "/reports/general/filter/{status_code}/{date_range_code}/{vehicle_guid}", ta.Get("/reports/general/filter/3/null/"+apptest.BINVehicle, access))
		check("GET", "/reports/general/filter/{status_code}/{date_range_code}/{vehicle_guid}", ta.Get("/reports/general/filter/9", access))
		check("GET", "/reports/vehicle/filter", ta.Get("/reports/vehicle/filter?limit=2", access))
		check("GET", "/reports/vehicle/filter/{status_code}/{date_range_code}", ta.Get("/reports/vehicle/filter/null/1y", access))
		check("GET", "/reports/vehicle/select/{vehicle_guid}", ta.Get("/reports/vehicle/select/"+apptest.BINVehicle, access))
		check("GET", "/reports/vehicle/select/{vehicle_guid}", ta.Get("/reports/vehicle/select/"+apptest.IINVehicle, access))

		// Upload.
		check("POST", "/reports/upload", ta.Upload(access, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), false))
		check("POST", "/reports/upload", ta.Upload(access, apptest.Meta(apptest.TaskRef), apptest.MP4(4096), false))
		check("POST", "/reports/upload", ta.Upload(access, nil, apptest.MP4(4096), false))
		check("POST", "/reports/upload", ta.Upload(access, apptest.Meta(apptest.TaskRef), []byte("not a video at all"), false))
		checkTus(t, ta, check, access)

		// Images and QR (PNG answers are not JSON; their errors are).
		img := check("GET", "/images/{vehicle_type_code}/image.png", ta.Do(http.MethodGet, "/images/"+apptest.CarType+"/image.png", nil))
		check("GET", "/images/{vehicle_type_code}/image.png", ta.Do(http.MethodGet, "/images/"+apptest.CarType+"/image.png", nil, "If-None-Match", img.Header.Get("ETag")))
		check("GET", "/images/{vehicle_type_code}/image.png", ta.Do(http.MethodGet, "/images/no-such-type/image.png", nil))
		check("GET", "/vehicle/qr/{vehicle_guid}", ta.Do(http.MethodGet, "/vehicle/qr/"+apptest.BINVehicle+"?size=128", nil, apptest.OneCAuth()...))
		check("GET", "/vehicle/qr/{vehicle_guid}", ta.Do(http.MethodGet, "/vehicle/qr/"+apptest.BINVehicle+"?size=5", nil, apptest.OneCAuth()...))
		check("GET", "/vehicle/qr/{vehicle_guid}", ta.Do(http.MethodGet, "/vehicle/qr/no-such-vehicle", nil, apptest.OneCAuth()...))
		check("GET", "/vehicle/qr/{vehicle_guid}", ta.Do(http.MethodGet, "/vehicle/qr/"+apptest.BINVehicle, nil))

		// 1C.
		check("PUT", "/1c/companies", ta.JSON(http.MethodPut, "/1c/companies", []any{company("000000000000", "Новая")}, apptest.OneCAuth()...))
		check("PUT", "/1c/companies", ta.JSON(http.MethodPut, "/1c/companies", []any{map[string]any{"biin": "1"}}, apptest.OneCAuth()...))
		check("PUT", "/1c/companies", ta.JSON(http.MethodPut, "/1c/companies", []any{}))
		check("PUT", "/1c/vehicle-types", ta.JSON(http.MethodPut, "/1c/vehicle-types", []any{map[string]any{"ref_key": "oa-type", "title": "Спецтехника", "instructions": []string{"Снять номер"}}}, apptest.OneCAuth()...))
		check("PUT", "/1c/vehicles", ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": "oa-v", "biin": "nope", "vehicle_type_code": apptest.CarType}}, apptest.OneCAuth()...))
		check("PUT", "/1c/vehicles", ta.JSON(http.MethodPut, "/1c/vehicles", []any{map[string]any{"vehicle_guid": "oa-v", "biin": apptest.DemoBIN, "vehicle_type_code": "oa-type", "plate_number": "123ABC02"}}, apptest.OneCAuth()...))
		check("PUT", "/1c/reports", ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "oa-r", "report_number": "1", "vehicle_guid": "oa-v",
			"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}}, apptest.OneCAuth()...))
		feed := check("GET", "/1c/reports", ta.Do(http.MethodGet, "/1c/reports?status=2", nil, apptest.OneCAuth()...))
		check("GET", "/1c/reports", ta.Do(http.MethodGet, "/1c/reports?status=2&limit=5", nil))
		// The feed's signed link to the video, as it is and tampered with.
		video := videoPath(t, feed, apptest.TaskRef)
		check("GET", "/media/{key}", ta.Do(http.MethodGet, video, nil))
		check("GET", "/media/{key}", ta.Do(http.MethodGet, video+"0", nil))
		check("GET", "/1c/reports", ta.Do(http.MethodGet, "/1c/reports?limit=100000", nil, apptest.OneCAuth()...))
		// The review page and its video through the feed's signed link, as it is and tampered with.
		review := reviewPath(t, feed, apptest.TaskRef)
		check("GET", "/review/{ref_key}", ta.Do(http.MethodGet, review, nil))
		check("GET", "/review/{ref_key}", ta.Do(http.MethodGet, review+"0", nil))
		check("GET", "/review/{ref_key}", ta.Do(http.MethodGet, strings.Replace(review, apptest.TaskRef, "no-such-report", 1), nil))
		reviewVideo := strings.Replace(review, "?", "/video?", 1)
		check("GET", "/review/{ref_key}/video", ta.Do(http.MethodGet, reviewVideo, nil))
		check("GET", "/review/{ref_key}/video", ta.Do(http.MethodGet, reviewVideo, nil, "Range", "bytes=0-99"))
		check("GET", "/review/{ref_key}/video", ta.Do(http.MethodGet, reviewVideo, nil, "Range", "bytes=99999999-"))
		check("GET", "/review/{ref_key}/video", ta.Do(http.MethodGet, reviewVideo+"0", nil))
		check("POST", "/1c/reports/{ref_key}/decision", ta.JSON(http.MethodPost, "/1c/reports/"+apptest.TaskRef+"/decision", map[string]any{"status_code": 4, "reject_reason": "Темно"}, apptest.OneCAuth()...))
		check("POST", "/1c/reports/{ref_key}/decision", ta.JSON(http.MethodPost, "/1c/reports/"+apptest.TaskRef+"/decision", map[string]any{"status_code": 3}, apptest.OneCAuth()...))
		check("POST", "/1c/reports/{ref_key}/decision", ta.JSON(http.MethodPost, "/1c/reports/none/decision", map[string]any{"status_code": 3}, apptest.OneCAuth()...))

		// VIN checks (no registry configured here: not_configured) and the VAG callback (no secret: 404).
		check("POST", "/1c/vehicles/{vehicle_guid}/check", ta.Do(http.MethodPost, "/1c/vehicles/"+apptest.BINVehicle+"/check", nil, apptest.OneCAuth()...))
		check("POST", "/1c/vehicles/{vehicle_guid}/check", ta.Do(http.MethodPost, "/1c/vehicles/nope/check", nil, apptest.OneCAuth()...))
		check("POST", "/1c/vehicles/{vehicle_guid}/check", ta.Do(http.MethodPost, "/1c/vehicles/nope/check", nil))
		check("POST", "/providers/vagvin/callback", ta.JSON(http.MethodPost, "/providers/vagvin/callback", map[string]any{"id": "1"}))

		// Operations and the docs themselves.
		for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} { // plain JSON, not the envelope
			resp, err := ta.HTTP.Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			check("GET", path, apptest.Answer{Code: resp.StatusCode, Raw: raw, Header: resp.Header})
		}
		check("GET", "/docs", ta.Do(http.MethodGet, "/docs", nil))
		check("POST", "/logout", ta.Do(http.MethodPost, "/logout", nil, bearer(access)...))
		check("POST", "/logout", ta.Do(http.MethodPost, "/logout", nil, bearer(access)...))

		if unseen := v.unseen(t); len(unseen) > 0 {
			t.Errorf("operations without a real answer checked here (add one above):\n  %s", strings.Join(unseen, "\n  "))
		}
	})
}

// checkTus drives the resumable upload operations through their answers. It runs after the plain
// upload above, and ends with the task report in status 2 again.
func checkTus(t *testing.T, ta *apptest.App, check func(method, specPath string, a apptest.Answer) apptest.Answer, access string) {
	t.Helper()
	const one, item = "/reports/uploads", "/reports/uploads/{id}"
	check("OPTIONS", one, ta.Do(http.MethodOptions, one, nil))
	check("POST", one, tusCreate(ta, access, 1000, tusFields(apptest.TaskRef)))
	check("POST", one, tusCreate(ta, access, 1000, tusFields("no-such-report")))
	check("POST", one, tusCreate(ta, access, 1000, map[string]string{}))
	check("POST", one, tusCreate(ta, access, 1<<40, tusFields(apptest.TaskRef)))
	check("POST", one, tusCreate(ta, "nonsense", 1000, tusFields(apptest.TaskRef)))
	check("POST", one, ta.Do(http.MethodPost, one, nil, "Authorization", "Bearer "+access))
	ref := apptest.TaskRef
	if _, err := ta.DB.Exec(`UPDATE reports SET status_code = 1 WHERE ref_key = $1`, ref); err != nil {
		t.Fatal(err)
	}
	video := apptest.MP4(4096)
	created := check("POST", one, tusCreate(ta, access, len(video), tusFields(ref)))
	path := tusPath(t, created)
	check("OPTIONS", item, ta.Do(http.MethodOptions, path, nil))
	check("HEAD", item, tusHead(ta, access, path))
	check("HEAD", item, tusHead(ta, access, one+"/00000000000000000000000000000000"))
	check("PATCH", item, tusPatch(ta, access, path, 7, video[7:]))
	check("PATCH", item, tusPatch(ta, access, one+"/00000000000000000000000000000000", 0, video))
	check("PATCH", item, ta.Do(http.MethodPatch, path, bytes.NewReader(video), "Authorization", "Bearer "+access, "Tus-Resumable", "1.0.0", "Upload-Offset", "0"))
	check("PATCH", item, ta.Do(http.MethodPatch, path, bytes.NewReader(video), "Authorization", "Bearer "+access, "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"))
	check("PATCH", item, tusPatch(ta, access, path, 0, video[:100]))
	check("DELETE", item, ta.Do(http.MethodDelete, path, nil, "Authorization", "Bearer "+access, "Tus-Resumable", "1.0.0"))
	check("DELETE", item, ta.Do(http.MethodDelete, path, nil, "Authorization", "Bearer "+access, "Tus-Resumable", "1.0.0"))
	notVideo := tusCreate(ta, access, 1000, tusFields(ref))
	check("PATCH", item, tusPatch(ta, access, tusPath(t, notVideo), 0, make([]byte, 1000)))
	bad := tusFields(ref)
	bad["sha256"] = strings.Repeat("0", 64)
	mismatch := tusCreate(ta, access, len(video), bad)
	check("PATCH", item, tusPatch(ta, access, tusPath(t, mismatch), 0, video))
	done := tusCreate(ta, access, len(video), tusFields(ref))
	check("PATCH", item, tusPatch(ta, access, tusPath(t, done), 0, video))
	check("DELETE", item, ta.Do(http.MethodDelete, tusPath(t, done), nil, "Authorization", "Bearer "+access, "Tus-Resumable", "1.0.0"))
	check("DELETE", item, ta.Do(http.MethodDelete, tusPath(t, done), nil, "Authorization", "Bearer "+ta.Login(apptest.DemoBIN, apptest.Employee("oa-tus", "87770001133", "Ерлан")).Str("access_token"), "Tus-Resumable", "1.0.0"))
}

// reviewPath returns the path and query of the review_url of report ref in a feed answer.
func reviewPath(t *testing.T, feed apptest.Answer, ref string) string {
	t.Helper()
	items, _ := feed.Data()["reports"].([]any)
	for _, it := range items {
		item, _ := it.(map[string]any)
		if item["ref_key"] == ref {
			u, err := url.Parse(item["review_url"].(string))
			if err != nil {
				t.Fatal(err)
			}
			return u.RequestURI()
		}
	}
	t.Fatalf("no %s in the feed", ref)
	return ""
}

// videoPath returns the path and query of the signed video link of report ref in a feed answer.
func videoPath(t *testing.T, feed apptest.Answer, ref string) string {
	t.Helper()
	items, _ := feed.Data()["reports"].([]any)
	for _, it := range items {
		item, _ := it.(map[string]any)
		upload, _ := item["upload"].(map[string]any)
		if item["ref_key"] != ref || upload == nil {
			continue
		}
		u, err := url.Parse(fmt.Sprint(upload["video_url"]))
		if err != nil {
			t.Fatal(err)
		}
		return u.RequestURI()
	}
	t.Fatalf("no upload of %s in the feed: %.500s", ref, feed.Raw)
	return ""
}

// TestOpenAPI_VINCheckAnswersMatchTheirSchemas validates the VIN-check answers with a registry that
// answers (a local Okpock playing the document's payloads) and the VAG callback with its secret set:
// the on-demand check, the feed's vin_check once the upload's check has run, and the callback's
// JSON, form, bad-body and wrong-secret answers.
func TestOpenAPI_VINCheckAnswersMatchTheirSchemas(t *testing.T) {
	const plate, vin = "777OAA02", "JTHBG262282011458" // Okpock's /info example
	okpock := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q struct{ Plate string }
		_ = json.NewDecoder(r.Body).Decode(&q)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case q.Plate != plate:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"system":"OKPOCK","status":404,"message":"not_found","devMessage":"Given plate or VIN not found"}`)
		case r.URL.Path == "/info":
			fmt.Fprintf(w, `{"VIN":%q,"plate":%q}`, vin, plate)
		case r.URL.Path == "/preview":
			io.WriteString(w, `{"mark":"LEXUS","model":"IS300","vehicle_year":2007,"registration_actions_found":true,"road_accidents_found":false}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(okpock.Close)
	ta := apptest.New(t, "", "FL_OKPOCK_URL", okpock.URL, "FL_OKPOCK_USER", "fl", "FL_OKPOCK_PASSWORD", "okpock-pass",
		"FL_OKPOCK_USER_AGENT", "ForteLeasing/1.0", "FL_VAGVIN_CALLBACK_SECRET", "oa-callback-secret")
	v := newValidator(t)

	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/vehicles", []any{
		map[string]any{"vehicle_guid": "oa-vin-known", "biin": apptest.DemoBIN, "vehicle_type_code": apptest.CarType, "vin_code": vin, "plate_number": plate},
		map[string]any{"vehicle_guid": "oa-vin-unknown", "biin": apptest.DemoBIN, "vehicle_type_code": apptest.CarType, "vin_code": vin, "plate_number": "000ZZZ01"},
	}, apptest.OneCAuth()...), 200, "")
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "oa-vin-r", "report_number": "77",
		"vehicle_guid": "oa-vin-known", "date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}}, apptest.OneCAuth()...), 200, "")

	for guid, status := range map[string]string{"oa-vin-known": "match", "oa-vin-unknown": "not_found"} {
		a := ta.Do(http.MethodPost, "/1c/vehicles/"+guid+"/check", nil, apptest.OneCAuth()...)
		v.check(t, "POST", "/1c/vehicles/{vehicle_guid}/check", a)
		if got, _ := a.Data()["vin_check"].(map[string]any)["status"].(string); got != status {
			t.Errorf("check of %s: %q, want %q", guid, got, status)
		}
	}

	access := ta.Login(apptest.DemoBIN, apptest.Director("oa-vin-dir")).Str("access_token")
	v.check(t, "POST", "/reports/upload", ta.Upload(access, apptest.Meta("oa-vin-r"), apptest.MP4(4096), false))
	var checked map[string]any
	apptest.Eventually(t, func() bool {
		feed := ta.Do(http.MethodGet, "/1c/reports?status=2", nil, apptest.OneCAuth()...)
		v.check(t, "GET", "/1c/reports", feed) // pending first, then the result
		items, _ := feed.Data()["reports"].([]any)
		for _, it := range items {
			item, _ := it.(map[string]any)
			if c, _ := item["vin_check"].(map[string]any); item["ref_key"] == "oa-vin-r" && c != nil && c["status"] != "pending" {
				checked = c
			}
		}
		return checked != nil
	}, "the upload's VIN check did not finish")
	if checked["status"] != "match" {
		t.Errorf("the feed's vin_check: %v", checked)
	}

	post := func(secret, ct, body string) apptest.Answer {
		return ta.Do(http.MethodPost, "/providers/vagvin/callback", strings.NewReader(body), "Content-Type", ct, "X-Callback-Secret", secret)
	}
	for _, a := range []apptest.Answer{
		post("oa-callback-secret", "application/json", `{"id":"oa-1","vin":"WVWZZZ31ZLE147331","status":"done","report_url":"/r/1.html"}`),
		post("oa-callback-secret", "application/x-www-form-urlencoded", "id=oa-2&vin=WVWZZZ31ZLE147331&status=done"),
		post("oa-callback-secret", "application/json", "not json, not a form"),
		post("wrong", "application/json", `{"id":"oa-3"}`),
	} {
		v.check(t, "POST", "/providers/vagvin/callback", a)
	}
}

func company(biin, name string) map[string]any {
	return map[string]any{"biin": biin, "name": name, "email": "boss@" + biin + ".kz",
		"director": map[string]any{"first_name": "Дир", "last_name": "Ектор", "mobile": "+77000000000"}, "active": true}
}
