package reports_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// TestGzip_RefreshAnswerComesCompressedWhenAccepted: the ~100 KB answers of /auth and
// /refresh_token (one code path, auth.Handler.answer) carry this feature's cached blocks; they are sent gzip-encoded (one member) to
// clients that accept it and decode to the same blocks as the plain answer.
func TestGzip_RefreshAnswerComesCompressedWhenAccepted(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		rt := a.Login(apptest.DemoBIN, apptest.Director("gzip-dir")).Str("refresh_token")

		z := a.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+rt, "Accept-Encoding", "gzip")
		if z.Code != 200 || z.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("refresh with Accept-Encoding gzip: %d, Content-Encoding %q", z.Code, z.Header.Get("Content-Encoding"))
		}
		next := z.Str("refresh_token")
		if next == "" || next == rt {
			t.Fatalf("refresh_token in the gzip answer: %q", next)
		}
		p := a.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+next)
		if p.Code != 200 || p.Header.Get("Content-Encoding") != "" {
			t.Fatalf("plain refresh: %d, Content-Encoding %q", p.Code, p.Header.Get("Content-Encoding"))
		}
		if len(z.Raw) >= len(p.Raw) {
			t.Fatalf("gzip answer %d bytes for a %d-byte plain one", len(z.Raw), len(p.Raw))
		}
		for _, k := range []string{"reports", "info", "filter", "employees", "biin", "company_name", "user_type"} {
			x, _ := json.Marshal(z.Data()[k])
			y, _ := json.Marshal(p.Data()[k])
			if !bytes.Equal(x, y) || string(x) == "null" {
				t.Fatalf("%s differs between the gzip and the plain answer:\n%s\n%s", k, x, y)
			}
		}
	})
}
