package reports_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
	"github.com/forteleasing/inspections/onec"
	"github.com/forteleasing/inspections/reports"
)

func uploadForm(t *testing.T, fields [][2]string, video []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", "inspection.mp4")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(video)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, w.FormDataContentType()
}

// An Android phone with a Russian locale formats numbers with a decimal comma: lat=43,2389.
func TestInterop_DecimalCommaInLatLongAndOdometer(t *testing.T) {
	video := mp4test.Make(t, mp4test.Spec{Seconds: 1, Width: 160, Height: 120})
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		tok := a.Token(apptest.DemoBIN, apptest.Director("comma-dev"))
		up := func(lat, long, odometer string) apptest.Answer {
			body, ct := uploadForm(t, [][2]string{{"ref_key", strings.ToUpper(onec.DemoTaskRefKey)}, {"time_sent", "2026-03-03 10:15:00"},
				{"lat", lat}, {"long", long}, {"odometer", odometer}}, video)
			return a.Do(http.MethodPost, "/reports/upload", body, "Authorization", "Bearer "+tok, "Content-Type", ct)
		}
		for _, bad := range [][3]string{{"43,23,89", "76,8897", "1"}, {"1e3", "76", "1"}, {"43,2389", "76,8897", "12,5,1"}, {"91,0", "0", ""}} {
			ans := up(bad[0], bad[1], bad[2])
			apptest.WantStatus(t, ans, 400, "")
		}
		var n int
		if err := a.DB.Get(&n, `SELECT count(*) FROM uploads`); err != nil || n != 0 {
			t.Fatalf("refused uploads stored %d rows (%v)", n, err)
		}
		apptest.WantStatus(t, up("\xef\xbb\xbf43,2389", "76,8897", "120345,6"), 201, "") // a BOM in a part is dropped too
		var row struct {
			Lat      float64 `db:"lat"`
			Lng      float64 `db:"lng"`
			Odometer int64   `db:"odometer"`
		}
		if err := a.DB.Get(&row, `SELECT lat, lng, odometer FROM uploads`); err != nil {
			t.Fatal(err)
		}
		if row.Lat != 43.2389 || row.Lng != 76.8897 || row.Odometer != 120346 {
			t.Fatalf("stored %+v", row)
		}
	})
}

func TestParseDecimal(t *testing.T) {
	for in, want := range map[string]float64{"43,2389": 43.2389, "43.2389": 43.2389, "-0,5": -0.5, " 76,88 ": 76.88, "120345": 120345, "+1,0": 1} {
		if got, err := reports.ParseDecimal(in); err != nil || got != want {
			t.Errorf("%q → %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", ",", "1,2,3", "1.2,3", "1e5", "0x10", "NaN", "Inf", "1 000", "--1"} {
		if got, err := reports.ParseDecimal(bad); err == nil {
			t.Errorf("%q accepted as %v", bad, got)
		}
	}
}

// orderedKeys reads a JSON document and returns, for every object, its keys in the order they appear,
// by path (array items as []); objects met twice on one path (array items) must agree.
func orderedKeys(t *testing.T, raw []byte) map[string][]string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	out := map[string][]string{}
	type frame struct {
		path  string
		array bool
		key   string
		keys  []string
		want  bool // next token is a key
	}
	var stack []*frame
	child := func() string {
		if len(stack) == 0 {
			return ""
		}
		f := stack[len(stack)-1]
		if f.array {
			return f.path + "[]"
		}
		return f.path + "." + f.key
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, &frame{path: child(), array: d == '[', want: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if !top.array {
					if prev, seen := out[top.path]; !seen || len(top.keys) > len(prev) {
						out[top.path] = top.keys
					}
				}
				if len(stack) > 0 && !stack[len(stack)-1].array {
					stack[len(stack)-1].want = true
				}
			}
			continue
		}
		if top != nil && !top.array && top.want {
			top.key, top.want = tok.(string), false
			top.keys = append(top.keys, top.key)
			continue
		}
		if top != nil && !top.array {
			top.want = true
		}
	}
	return out
}

// The seed's examples (copied byte for byte into testdata/seed) fix the order of the
// objects apps show as they arrive: filter.status, filter.date_range and each type's instructions.
func TestGolden_KeyOrderOfTheSeedsExamples(t *testing.T) {
	apptest.EachDialect(t, goldenKeyOrder)
}

func goldenKeyOrder(t *testing.T, a *apptest.App) {
	dir := filepath.Join("testdata", "seed")
	director := a.Login(apptest.DemoBIN, apptest.Director("golden-dir"))
	employee := a.Login(apptest.DemoBIN, apptest.Employee("golden-emp", "+77005554433", "Айдар"))
	tok := director.Str("access_token")
	for _, c := range []struct {
		seed string
		raw  []byte
	}{
		{"auth_admin.json", director.Raw},
		{"auth_employee.json", employee.Raw},
		{"general_filter.json", a.Get("/reports/general/filter", tok).Raw},
		{"vehicle_filter.json", a.Get("/reports/vehicle/filter", tok).Raw},
		{"vehicle_select.json", a.Get("/reports/vehicle/select/"+apptest.BINVehicle, tok).Raw},
	} {
		t.Run(c.seed, func(t *testing.T) {
			seed, err := os.ReadFile(filepath.Join(dir, c.seed))
			if err != nil {
				t.Fatal(err)
			}
			want, got := orderedKeys(t, seed), orderedKeys(t, c.raw)
			checked := 0
			for path, keys := range want {
				if !strings.HasSuffix(path, ".filter.status") && !strings.HasSuffix(path, ".filter.date_range") && !strings.HasSuffix(path, ".instructions") {
					continue
				}
				checked++
				mine := got[path]
				if strings.HasSuffix(path, ".instructions") && len(mine) > 0 {
					// The demo's types have their own number of steps: the order is what must agree.
					n := min(len(mine), len(keys))
					mine, keys = mine[:n], keys[:n]
				}
				if strings.Join(mine, ",") != strings.Join(keys, ",") {
					t.Errorf("%s: keys %v, the seed has %v", path, mine, keys)
				}
			}
			if checked == 0 {
				t.Fatalf("the seed %s has none of the ordered objects", c.seed)
			}
		})
	}
}
