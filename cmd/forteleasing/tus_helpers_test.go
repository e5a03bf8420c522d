package main

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
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

func (ta *testApp) tusCreate(tok string, size int, fields map[string]string) answer {
	return ta.do(http.MethodPost, "/reports/uploads", nil, "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0",
		"Upload-Length", strconv.Itoa(size), "Upload-Metadata", tusMeta(fields))
}

func tusPath(t *testing.T, a answer) string {
	t.Helper()
	loc, ok := strings.CutPrefix(a.hdr.Get("Location"), "https://api.example.kz")
	if !ok {
		t.Fatalf("Location %q (%d %s)", a.hdr.Get("Location"), a.code, a.raw)
	}
	return loc
}

func (ta *testApp) tusPatch(tok, path string, offset int, chunk []byte) answer {
	return ta.do(http.MethodPatch, path, bytes.NewReader(chunk), "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0",
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(offset))
}

func (ta *testApp) tusHead(tok, path string) answer {
	return ta.do(http.MethodHead, path, nil, "Authorization", "Bearer "+tok, "Tus-Resumable", "1.0.0")
}
