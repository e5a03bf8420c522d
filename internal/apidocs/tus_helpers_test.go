package apidocs_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// The tus requests the OpenAPI test drives; resumable/ holds the protocol's own tests.

func tusMeta(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(kv[k])))
	}
	return strings.Join(parts, ",")
}

func tusFields(ref string) map[string]string {
	return map[string]string{"ref_key": ref, "time_sent": "2026-03-03 10:15:00", "lat": "43.238949", "long": "76.889709"}
}

func tusCreate(ta *apptest.App, tok string, size int, fields map[string]string) apptest.Answer {
	return ta.Do(http.MethodPost, "/reports/uploads", nil, "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0",
		"Upload-Length", strconv.Itoa(size), "Upload-Metadata", tusMeta(fields))
}

func tusPath(t *testing.T, a apptest.Answer) string {
	t.Helper()
	loc, ok := strings.CutPrefix(a.Header.Get("Location"), "https://api.example.kz")
	if !ok {
		t.Fatalf("Location %q (%d %s)", a.Header.Get("Location"), a.Code, a.Raw)
	}
	return loc
}

func tusPatch(ta *apptest.App, tok, path string, offset int, chunk []byte) apptest.Answer {
	return ta.Do(http.MethodPatch, path, bytes.NewReader(chunk), "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0",
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(offset))
}

func tusHead(ta *apptest.App, tok, path string) apptest.Answer {
	return ta.Do(http.MethodHead, path, nil, "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0")
}
