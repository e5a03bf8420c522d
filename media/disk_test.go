package media

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testSigningKey = []byte("0123456789abcdef0123456789abcdef")

func openTestDisk(t testing.TB, dir string, now func() time.Time) *Disk {
	t.Helper()
	d, err := OpenDisk(dir, Options{PublicURL: "http://localhost:8080", SigningKey: testSigningKey, Now: now})
	if err != nil {
		t.Fatalf("OpenDisk: %v", err)
	}
	return d
}

// tempFiles lists the store's temp files anywhere under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".tmp-") {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return found
}

func TestDisk_Conformance(t *testing.T) {
	testStore(t, func(t *testing.T) harness {
		dir := filepath.Join(t.TempDir(), "media")
		return harness{
			store:     openTestDisk(t, dir, nil),
			leftovers: func(t *testing.T, _ string) []string { return tempFiles(t, dir) },
		}
	})
}

func TestDisk_InvalidKeysNeverEscapeDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "store", "media")
	d := openTestDisk(t, dir, nil)
	ctx := testContext(t)
	for _, key := range invalidKeys {
		if _, err := d.Put(ctx, key, strings.NewReader("pwned"), -1, "text/plain"); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := d.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	// Keys that look odd but are valid stay inside dir.
	for _, key := range []string{"a..b", "store..", "x/y..z/w", "-/_"} {
		if _, err := d.Put(ctx, key, strings.NewReader("ok"), 2, "text/plain"); err != nil {
			t.Errorf("Put(%q) = %v", key, err)
		}
	}
	err := filepath.WalkDir(parent, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			t.Errorf("file written outside the store directory: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, d, ""); strings.Join(keys, ",") != "-/_,a..b,store..,x/y..z/w" {
		t.Errorf("List = %v", keys)
	}
}

func TestDisk_CreatesDirAndKeepsContentTypeAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	d := openTestDisk(t, dir, nil)
	mustPut(t, d, "r/v.mp4", 1, 100, "video/mp4")
	again := openTestDisk(t, dir, nil)
	stat, err := again.Stat(testContext(t), "r/v.mp4")
	if err != nil || stat.ContentType != "video/mp4" || stat.Size != 100 {
		t.Errorf("Stat after reopen = %+v, %v", stat, err)
	}
}

func TestDisk_ListSkipsInternalFiles(t *testing.T) {
	dir := t.TempDir()
	d := openTestDisk(t, dir, nil)
	mustPut(t, d, "r/v.mp4", 1, 100, "video/mp4")
	// A temp file left by a crash must not look like an object.
	if err := os.WriteFile(filepath.Join(dir, "r", ".tmp-999"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, d, ""); strings.Join(keys, ",") != "r/v.mp4" {
		t.Errorf("List = %v, want only r/v.mp4", keys)
	}
}

func TestDisk_OpenReaderIsSeekable(t *testing.T) {
	d := openTestDisk(t, t.TempDir(), nil)
	mustPut(t, d, "v.mp4", 1, 100, "video/mp4")
	rc, _, err := d.Open(testContext(t), "v.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(io.ReadSeeker); !ok {
		t.Errorf("Disk.Open returned %T, want an io.ReadSeeker for range requests", rc)
	}
}

func TestDisk_URLSignVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	d, err := OpenDisk(t.TempDir(), Options{PublicURL: "https://api.example.kz/v1/", SigningKey: testSigningKey, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	const key = "reports/c1/v.mp4"
	raw, err := d.URL(testContext(t), key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" || u.Host != "api.example.kz" || u.Path != "/v1/media/"+key {
		t.Errorf("URL = %s, want https://api.example.kz/v1/media/%s?...", raw, key)
	}
	exp, sig := u.Query().Get("expires"), u.Query().Get("signature")
	if exp != strconv.FormatInt(now.Add(time.Hour).Unix(), 10) {
		t.Errorf("expires = %s, want now+1h", exp)
	}
	if len(sig) != 64 {
		t.Errorf("signature = %q, want 64 hex digits", sig)
	}
	if err := d.VerifyURL(key, exp, sig); err != nil {
		t.Errorf("VerifyURL(fresh) = %v", err)
	}

	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'a' {
			b[0] = 'b'
		} else {
			b[0] = 'a'
		}
		return string(b)
	}
	for name, tc := range map[string]struct {
		key, exp, sig string
		want          error
	}{
		"other key":          {"reports/c1/w.mp4", exp, sig, ErrBadSignature},
		"later expiry":       {key, strconv.FormatInt(now.Add(24*time.Hour).Unix(), 10), sig, ErrBadSignature},
		"padded expiry":      {key, "0" + exp, sig, ErrBadSignature},
		"flipped signature":  {key, exp, flip(sig), ErrBadSignature},
		"short signature":    {key, exp, sig[:62], ErrBadSignature},
		"empty signature":    {key, exp, "", ErrBadSignature},
		"non-hex signature":  {key, exp, strings.Repeat("z", 64), ErrBadSignature},
		"empty expiry":       {key, "", sig, ErrBadSignature},
		"traversal key":      {"../" + key, exp, sig, ErrInvalidKey},
		"key and expiry mix": {key + "1", exp[1:], sig, ErrBadSignature},
	} {
		if err := d.VerifyURL(tc.key, tc.exp, tc.sig); !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifyURL = %v, want %v", name, err, tc.want)
		}
	}

	other, err := OpenDisk(t.TempDir(), Options{PublicURL: "https://api.example.kz/v1", SigningKey: []byte("another-key-another-key"), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.VerifyURL(key, exp, sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyURL with another signing key = %v, want ErrBadSignature", err)
	}

	now = now.Add(59 * time.Minute)
	if err := d.VerifyURL(key, exp, sig); err != nil {
		t.Errorf("VerifyURL after 59m = %v, want nil", err)
	}
	now = now.Add(time.Minute)
	if err := d.VerifyURL(key, exp, sig); !errors.Is(err, ErrURLExpired) {
		t.Errorf("VerifyURL at expiry = %v, want ErrURLExpired", err)
	}
}

// TestDisk_URLServedByVerifyAndOpen plays the download route someone else wires: the URL that
// URL makes, checked by VerifyURL and served from Open, gives back the bytes that were put.
func TestDisk_URLServedByVerifyAndOpen(t *testing.T) {
	var d *Disk
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/media/")
		q := r.URL.Query()
		if err := d.VerifyURL(key, q.Get("expires"), q.Get("signature")); err != nil {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		rc, obj, err := d.Open(r.Context(), key)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", obj.ContentType)
		http.ServeContent(w, r, "", obj.ModTime, rc.(io.ReadSeeker))
	}))
	defer srv.Close()
	var err error
	d, err = OpenDisk(t.TempDir(), Options{PublicURL: srv.URL, SigningKey: testSigningKey})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "r/v-1.mp4", 9, 3*mib, "video/mp4")
	link, err := d.URL(testContext(t), "r/v-1.mp4", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("GET = %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if sumOf(t, resp.Body) != sumOf(t, randomBody(9, 3*mib)) {
		t.Error("downloaded bytes differ")
	}
	tampered := strings.Replace(link, "v-1.mp4", "v-2.mp4", 1)
	resp2, err := client.Get(tampered)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusForbidden {
		t.Errorf("GET tampered URL = %s, want 403", resp2.Status)
	}
}

func TestDisk_PingFailsWhenDirGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	d := openTestDisk(t, dir, nil)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(testContext(t)); !IsUnavailable(err) {
		t.Errorf("Ping with the directory gone = %v, want unavailable", err)
	}
}

func TestOpen_Disk(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	good := Options{PublicURL: "http://localhost:8080", SigningKey: testSigningKey}
	s, err := Open(ctx, "file://"+dir, good)
	if err != nil {
		t.Fatalf("Open(file://): %v", err)
	}
	d, ok := s.(*Disk)
	if !ok {
		t.Fatalf("Open(file://) = %T, want *Disk", s)
	}
	if got := fmt.Sprintf("%v %+v %#v", d, d, d); strings.Contains(got, string(testSigningKey)) || !strings.Contains(got, dir) {
		t.Errorf("formatted Disk = %s: want the directory and never the signing key", got)
	}
	for name, tc := range map[string]struct {
		url  string
		opts Options
	}{
		"no scheme":        {dir, good},
		"unknown scheme":   {"ftp://" + dir, good},
		"no dir":           {"file://", good},
		"no signing key":   {"file://" + dir, Options{PublicURL: "http://localhost:8080"}},
		"short key":        {"file://" + dir, Options{PublicURL: "http://localhost:8080", SigningKey: []byte("short")}},
		"no public URL":    {"file://" + dir, Options{SigningKey: testSigningKey}},
		"relative public":  {"file://" + dir, Options{PublicURL: "localhost:8080", SigningKey: testSigningKey}},
		"public has query": {"file://" + dir, Options{PublicURL: "http://h/?a=b", SigningKey: testSigningKey}},
	} {
		s, err := Open(ctx, tc.url, tc.opts)
		if err == nil || s != nil {
			t.Errorf("%s: Open(%q) = %v, %v; want an error and a nil Store", name, tc.url, s, err)
		}
	}
}
