package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

// harness is one store under test plus a way to see what a failed Put may have left behind:
// temp files for the disk store, incomplete multipart uploads for S3.
type harness struct {
	store     Store
	leftovers func(t *testing.T, key string) []string
}

// randomBody is n deterministic random bytes, read as a stream (not an io.ReaderAt).
func randomBody(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func sumOf(t testing.TB, r io.Reader) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatalf("hashing: %v", err)
	}
	return [32]byte(h.Sum(nil))
}

// failingReader passes through after bytes of r, then fails, as a client that disconnects.
type failingReader struct {
	r     io.Reader
	after int64
	err   error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.after {
		p = p[:f.after]
	}
	n, err := f.r.Read(p)
	f.after -= int64(n)
	return n, err
}

// cancellingReader cancels the Put's own context after some bytes.
type cancellingReader struct {
	r      io.Reader
	after  int64
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.after <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.after -= int64(n)
	return n, err
}

var errClientGone = errors.New("client disconnected")

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, s Store, key string, seed uint64, n int64, contentType string) Object {
	t.Helper()
	obj, err := s.Put(testContext(t), key, randomBody(seed, n), n, contentType)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return obj
}

func assertContent(t *testing.T, s Store, key string, seed uint64, n int64) {
	t.Helper()
	rc, obj, err := s.Open(testContext(t), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	if obj.Size != n {
		t.Errorf("Open(%q).Size = %d, want %d", key, obj.Size, n)
	}
	if got, want := sumOf(t, rc), sumOf(t, randomBody(seed, n)); got != want {
		t.Errorf("Open(%q): content differs from what was put (sha256 %x, want %x)", key, got, want)
	}
}

func assertAbsent(t *testing.T, h harness, key string) {
	t.Helper()
	if _, err := h.store.Stat(testContext(t), key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
	}
	if left := h.leftovers(t, key); len(left) > 0 {
		t.Errorf("left behind after a failed Put: %v", left)
	}
}

// testStore is the conformance suite every Store must pass. newHarness gives each subtest
// an empty store of its own.
func testStore(t *testing.T, newHarness func(t *testing.T) harness) {
	t.Run("RoundTripMultiMB", func(t *testing.T) {
		h := newHarness(t)
		const key, n = "reports/c1/r1/video.mp4", 20*mib + 123
		put := mustPut(t, h.store, key, 1, n, "video/mp4")
		if put.Key != key || put.Size != n || put.ContentType != "video/mp4" {
			t.Errorf("Put = %+v, want key %q size %d video/mp4", put, key, n)
		}
		stat, err := h.store.Stat(testContext(t), key)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if stat.Key != key || stat.Size != n || stat.ContentType != "video/mp4" {
			t.Errorf("Stat = %+v, want key %q size %d video/mp4", stat, key, n)
		}
		if d := time.Since(stat.ModTime); d < -time.Minute || d > time.Minute {
			t.Errorf("Stat.ModTime = %v, want about now", stat.ModTime)
		}
		assertContent(t, h.store, key, 1, n)
	})

	t.Run("PutUnknownSize", func(t *testing.T) {
		h := newHarness(t)
		for _, n := range []int64{0, 1000, 8 * mib, 10*mib + 7, 16 * mib, 33*mib + 1} {
			key := "unknown/" + strings.Repeat("x", int(n%7)+1) + ".mp4"
			if _, err := h.store.Put(testContext(t), key, randomBody(2, n), -1, "video/mp4"); err != nil {
				t.Fatalf("Put(size -1, %d bytes): %v", n, err)
			}
			stat, err := h.store.Stat(testContext(t), key)
			if err != nil || stat.Size != n {
				t.Fatalf("Stat after Put(size -1, %d bytes) = %+v, %v", n, stat, err)
			}
			assertContent(t, h.store, key, 2, n)
		}
	})

	t.Run("PutEmpty", func(t *testing.T) {
		h := newHarness(t)
		obj := mustPut(t, h.store, "empty.mp4", 3, 0, "video/mp4")
		if obj.Size != 0 {
			t.Errorf("Put(empty).Size = %d", obj.Size)
		}
		assertContent(t, h.store, "empty.mp4", 3, 0)
	})

	t.Run("EmptyContentTypeIsOctetStream", func(t *testing.T) {
		h := newHarness(t)
		mustPut(t, h.store, "a.bin", 4, 10, "")
		stat, err := h.store.Stat(testContext(t), "a.bin")
		if err != nil || stat.ContentType != "application/octet-stream" {
			t.Errorf("Stat = %+v, %v; want application/octet-stream", stat, err)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		h := newHarness(t)
		mustPut(t, h.store, "v.mp4", 5, 3*mib, "video/mp4")
		mustPut(t, h.store, "v.mp4", 6, mib+1, "video/quicktime")
		stat, err := h.store.Stat(testContext(t), "v.mp4")
		if err != nil || stat.Size != mib+1 || stat.ContentType != "video/quicktime" {
			t.Errorf("Stat after overwrite = %+v, %v", stat, err)
		}
		assertContent(t, h.store, "v.mp4", 6, mib+1)
	})

	t.Run("AbsentKeys", func(t *testing.T) {
		h := newHarness(t)
		ctx := testContext(t)
		if _, err := h.store.Stat(ctx, "no/such.mp4"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(absent) = %v, want ErrNotFound", err)
		}
		if rc, _, err := h.store.Open(ctx, "no/such.mp4"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(absent) = %v, want ErrNotFound", err)
			if rc != nil {
				rc.Close()
			}
		}
		if err := h.store.Delete(ctx, "no/such.mp4"); err != nil {
			t.Errorf("Delete(absent) = %v, want nil", err)
		}
		if IsUnavailable(ErrNotFound) {
			t.Error("IsUnavailable(ErrNotFound) = true")
		}
		_, err := h.store.Stat(ctx, "no/such.mp4")
		if IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = true for a missing key", err)
		}
	})

	t.Run("PrefixIsNotAnObject", func(t *testing.T) {
		h := newHarness(t)
		mustPut(t, h.store, "dir/file.mp4", 7, 10, "video/mp4")
		if _, err := h.store.Stat(testContext(t), "dir"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(prefix) = %v, want ErrNotFound", err)
		}
		if err := h.store.Delete(testContext(t), "dir"); err != nil {
			t.Errorf("Delete(prefix) = %v, want nil", err)
		}
		assertContent(t, h.store, "dir/file.mp4", 7, 10)
	})

	t.Run("Delete", func(t *testing.T) {
		h := newHarness(t)
		ctx := testContext(t)
		mustPut(t, h.store, "d/x.mp4", 8, 1000, "video/mp4")
		if err := h.store.Delete(ctx, "d/x.mp4"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := h.store.Stat(ctx, "d/x.mp4"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
		}
		if err := h.store.Delete(ctx, "d/x.mp4"); err != nil {
			t.Errorf("second Delete = %v, want nil", err)
		}
		if keys := listKeys(t, h.store, "d/"); len(keys) != 0 {
			t.Errorf("List after Delete = %v", keys)
		}
	})

	t.Run("ListByPrefix", func(t *testing.T) {
		h := newHarness(t)
		for i, k := range []string{"r/a/1.mp4", "r/a/2.mp4", "r/ab/3.mp4", "r/b/4.mp4", "s/5.mp4"} {
			mustPut(t, h.store, k, uint64(10+i), int64(100+i), "video/mp4")
		}
		for prefix, want := range map[string][]string{
			"":          {"r/a/1.mp4", "r/a/2.mp4", "r/ab/3.mp4", "r/b/4.mp4", "s/5.mp4"},
			"r/":        {"r/a/1.mp4", "r/a/2.mp4", "r/ab/3.mp4", "r/b/4.mp4"},
			"r/a/":      {"r/a/1.mp4", "r/a/2.mp4"},
			"r/a":       {"r/a/1.mp4", "r/a/2.mp4", "r/ab/3.mp4"},
			"r/a/1":     {"r/a/1.mp4"},
			"r/a/1.mp4": {"r/a/1.mp4"},
			"zzz/":      nil,
			"r/c":       nil,
		} {
			if got := listKeys(t, h.store, prefix); !slices.Equal(got, want) {
				t.Errorf("List(%q) = %v, want %v", prefix, got, want)
			}
		}
		var objs []Object
		if err := h.store.List(testContext(t), "s/", func(o Object) error { objs = append(objs, o); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(objs) != 1 || objs[0].Size != 104 || time.Since(objs[0].ModTime) > time.Minute {
			t.Errorf("List(s/) = %+v, want one object of 104 bytes modified just now", objs)
		}

		errStop := errors.New("stop")
		calls := 0
		err := h.store.List(testContext(t), "r/", func(Object) error { calls++; return errStop })
		if !errors.Is(err, errStop) || calls != 1 {
			t.Errorf("List with failing fn = %v after %d calls, want errStop after 1", err, calls)
		}
	})

	t.Run("FailingReaderLeavesNothing", func(t *testing.T) {
		h := newHarness(t)
		for _, tc := range []struct {
			name        string
			size, after int64
		}{
			{"small known size", mib, mib / 2},
			{"known size, fails in first part", 20 * mib, 3 * mib},
			{"known size, fails after parts were uploaded", 20 * mib, 17 * mib},
			{"unknown size, fails in first part", -1, 3 * mib},
			{"unknown size, fails after a part was uploaded", -1, 10 * mib},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := "fail/" + strings.ReplaceAll(tc.name, " ", "-") + ".mp4"
				key = strings.ReplaceAll(key, ",", "")
				r := &failingReader{r: randomBody(20, 64*mib), after: tc.after, err: errClientGone}
				_, err := h.store.Put(testContext(t), key, r, tc.size, "video/mp4")
				if !errors.Is(err, errClientGone) {
					t.Fatalf("Put = %v, want the reader's error", err)
				}
				if IsUnavailable(err) {
					t.Errorf("IsUnavailable(%v) = true for a client that went away", err)
				}
				assertAbsent(t, h, key)
			})
		}
	})

	t.Run("FailedOverwriteKeepsPrevious", func(t *testing.T) {
		h := newHarness(t)
		mustPut(t, h.store, "keep.mp4", 21, 2*mib, "video/mp4")
		r := &failingReader{r: randomBody(22, 20*mib), after: 12 * mib, err: errClientGone}
		if _, err := h.store.Put(testContext(t), "keep.mp4", r, 20*mib, "video/quicktime"); !errors.Is(err, errClientGone) {
			t.Fatalf("Put = %v, want the reader's error", err)
		}
		stat, err := h.store.Stat(testContext(t), "keep.mp4")
		if err != nil || stat.ContentType != "video/mp4" {
			t.Errorf("Stat = %+v, %v; want the previous object", stat, err)
		}
		assertContent(t, h.store, "keep.mp4", 21, 2*mib)
		if left := h.leftovers(t, "keep.mp4"); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	})

	t.Run("SizeMismatch", func(t *testing.T) {
		h := newHarness(t)
		for _, tc := range []struct {
			name           string
			declared, real int64
		}{
			{"short", 2 * mib, mib},
			{"long", mib, 2 * mib},
			{"long multipart", 9 * mib, 10 * mib},
			{"short multipart", 10 * mib, 9 * mib},
			{"empty declared", 0, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := "size/" + strings.ReplaceAll(tc.name, " ", "-") + ".mp4"
				_, err := h.store.Put(testContext(t), key, randomBody(23, tc.real), tc.declared, "video/mp4")
				if !errors.Is(err, ErrSizeMismatch) {
					t.Fatalf("Put(declared %d, real %d) = %v, want ErrSizeMismatch", tc.declared, tc.real, err)
				}
				assertAbsent(t, h, key)
			})
		}
	})

	t.Run("CancelledContextLeavesNothing", func(t *testing.T) {
		h := newHarness(t)
		ctx, cancel := context.WithCancel(testContext(t))
		cancel()
		if _, err := h.store.Put(ctx, "cancel/before.mp4", randomBody(24, mib), mib, "video/mp4"); err == nil {
			t.Error("Put with a cancelled context succeeded")
		}
		assertAbsent(t, h, "cancel/before.mp4")

		for _, size := range []int64{12 * mib, -1} {
			ctx, cancel := context.WithCancel(testContext(t))
			r := &cancellingReader{r: randomBody(25, 12*mib), after: 9 * mib, cancel: cancel}
			_, err := h.store.Put(ctx, "cancel/midway.mp4", r, size, "video/mp4")
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Put(size %d) cancelled midway = %v, want context.Canceled", size, err)
			}
			if IsUnavailable(err) {
				t.Errorf("IsUnavailable(%v) = true for a cancelled request", err)
			}
			assertAbsent(t, h, "cancel/midway.mp4")
		}
	})

	t.Run("InvalidKeysRejectedByEveryMethod", func(t *testing.T) {
		h := newHarness(t)
		ctx := testContext(t)
		for _, key := range invalidKeys {
			if _, err := h.store.Put(ctx, key, strings.NewReader("x"), 1, "video/mp4"); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := h.store.Stat(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
			}
			if rc, _, err := h.store.Open(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
				if rc != nil {
					rc.Close()
				}
			}
			if err := h.store.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := h.store.URL(ctx, key, time.Minute); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("URL(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
		for _, prefix := range invalidPrefixes {
			if err := h.store.List(ctx, prefix, func(Object) error { return nil }); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("List(%q) = %v, want ErrInvalidKey", prefix, err)
			}
		}
	})

	t.Run("URL", func(t *testing.T) {
		h := newHarness(t)
		mustPut(t, h.store, "u/v.mp4", 26, 10, "video/mp4")
		u, err := h.store.URL(testContext(t), "u/v.mp4", time.Hour)
		if err != nil || !strings.Contains(u, "u/v.mp4") {
			t.Errorf("URL = %q, %v", u, err)
		}
		if _, err := h.store.URL(testContext(t), "u/v.mp4", 0); err == nil {
			t.Error("URL with ttl 0 succeeded")
		}
	})

	t.Run("OpenRange", func(t *testing.T) {
		h := newHarness(t)
		const key, n = "r/v.mp4", 3*mib + 5
		mustPut(t, h.store, key, 9, n, "video/mp4")
		all, err := io.ReadAll(randomBody(9, n))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ off, n, want int64 }{
			{0, 8, 8}, {mib, 4096, 4096}, {n - 10, 100, 10}, {n, 10, 0}, {n + 100, 10, 0}, {5, 0, 0},
		} {
			rc, err := h.store.OpenRange(testContext(t), key, c.off, c.n)
			if err != nil {
				t.Fatalf("OpenRange(%d, %d): %v", c.off, c.n, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("OpenRange(%d, %d) read: %v", c.off, c.n, err)
			}
			if int64(len(got)) != c.want || (c.want > 0 && !bytes.Equal(got, all[c.off:c.off+c.want])) {
				t.Errorf("OpenRange(%d, %d) gave %d bytes, want %d of the object", c.off, c.n, len(got), c.want)
			}
		}
		if _, err := h.store.OpenRange(testContext(t), "r/absent.mp4", 0, 8); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenRange(absent) = %v, want ErrNotFound", err)
		}
		ra := NewReaderAt(testContext(t), h.store, key)
		p := make([]byte, 64)
		if m, err := ra.ReadAt(p, n-32); m != 32 || err != io.EOF || !bytes.Equal(p[:32], all[n-32:]) {
			t.Errorf("ReaderAt at the end = %d, %v", m, err)
		}
		if m, err := ra.ReadAt(p, 1000); m != 64 || err != nil || !bytes.Equal(p, all[1000:1064]) {
			t.Errorf("ReaderAt inside = %d, %v", m, err)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		h := newHarness(t)
		if err := h.store.Ping(testContext(t)); err != nil {
			t.Errorf("Ping = %v", err)
		}
	})
}

func listKeys(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := s.List(testContext(t), prefix, func(o Object) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	slices.Sort(keys)
	return keys
}

var invalidKeys = []string{
	"",
	"../x",
	"..",
	".",
	"a/../../b",
	"a/..",
	"./a",
	"a/./b",
	"/etc/passwd",
	"/a",
	"a/",
	"a//b",
	`a\b`,
	`..\..\x`,
	"a\x00b",
	"a\nb",
	"a b",
	"%2e%2e/x",
	"..%2fx",
	"a%2F..%2F..%2Fb",
	"~/x",
	"a:b",
	"vidéo.mp4",
	".hidden",
	"a/.tmp-123",
	"a/.b.mp4.meta",
	strings.Repeat("a", maxKeyLen+1),
	strings.Repeat("a", maxSegmentLen+1),
}

var invalidPrefixes = []string{"../", "/etc", `a\b`, "a/../", "a//", "%2e%2e/", "a b"}

var validKeys = []string{
	"a",
	"reports/200940026146/5f1c-ab/7c9e6679-7425-40de-944b-e07fc1f90ae7.mp4",
	"A-Z_a-z.0-9",
	"a..b",
	"a.",
	"x/y/z/w/v/u",
	strings.Repeat("a", maxSegmentLen),
	strings.TrimSuffix(strings.Repeat(strings.Repeat("b", 127)+"/", 4), "/"), // 511 bytes
}

func TestCheckKey(t *testing.T) {
	long := strings.Repeat(strings.Repeat("c", 127)+"/", 4) + "c" // 513 bytes
	for _, key := range append(slices.Clone(invalidKeys), long) {
		if err := checkKey(key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("checkKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, key := range validKeys {
		if err := checkKey(key); err != nil {
			t.Errorf("checkKey(%q) = %v, want nil", key, err)
		}
	}
	if k := strings.Repeat("d", 100) + "/" + strings.Repeat("d", 100) + "/" + strings.Repeat("d", 100) + "/" + strings.Repeat("d", 100) + "/" + strings.Repeat("d", 108); len(k) != maxKeyLen || checkKey(k) != nil {
		t.Errorf("a key of exactly %d bytes (%d) is rejected: %v", maxKeyLen, len(k), checkKey(k))
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, p := range invalidPrefixes {
		if err := checkPrefix(p); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("checkPrefix(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
	for _, p := range []string{"", "r", "r/", "r/a", "r/a/", "r/a.", "r/."} {
		if err := checkPrefix(p); err != nil {
			t.Errorf("checkPrefix(%q) = %v, want nil", p, err)
		}
	}
}

func TestBody_EnforcesDeclaredSize(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		declared int64
		real     int
		wantErr  error
	}{
		{-1, 0, nil}, {-1, 5, nil}, {0, 0, nil}, {5, 5, nil},
		{5, 4, ErrSizeMismatch}, {5, 6, ErrSizeMismatch}, {0, 1, ErrSizeMismatch},
	} {
		src := bytes.Repeat([]byte("x"), tc.real)
		b := newBody(ctx, bytes.NewReader(src), tc.declared)
		got, err := io.ReadAll(b)
		if !errors.Is(err, tc.wantErr) && !(tc.wantErr == nil && err == nil) {
			t.Errorf("declared %d, real %d: err = %v, want %v", tc.declared, tc.real, err, tc.wantErr)
		}
		if tc.wantErr == nil && len(got) != tc.real {
			t.Errorf("declared %d, real %d: read %d bytes", tc.declared, tc.real, len(got))
		}
		if !errors.Is(b.err, tc.wantErr) && !(tc.wantErr == nil && b.err == nil) {
			t.Errorf("declared %d, real %d: body.err = %v", tc.declared, tc.real, b.err)
		}
	}
}

func TestIsUnavailable(t *testing.T) {
	for err, want := range map[error]bool{
		nil:                false,
		ErrNotFound:        false,
		ErrInvalidKey:      false,
		context.Canceled:   false,
		errors.New("boom"): false,
		ErrUnavailable:     true,
		errors.Join(errClientGone, ErrUnavailable): true,
	} {
		if got := IsUnavailable(err); got != want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", err, got, want)
		}
	}
}
