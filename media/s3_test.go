package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/wait"
	"github.com/minio/minio-go/v7"
)

// s3TestURL is FL_TEST_S3_URL, e.g. s3://minioadmin:minioadmin@127.0.0.1:9000/forteleasing-test?secure=false.
func s3TestURL(tb testing.TB) *url.URL {
	tb.Helper()
	raw := os.Getenv("FL_TEST_S3_URL")
	if raw == "" {
		tb.Skip("FL_TEST_S3_URL not set: S3 tests need a MinIO, e.g. FL_TEST_S3_URL=s3://minioadmin:minioadmin@127.0.0.1:9000/forteleasing-test?secure=false")
	}
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal("FL_TEST_S3_URL is not a URL")
	}
	return u
}

// openTestS3 opens a store on a bucket of its own, named after the configured one and removed
// with everything in it when the test ends, so that test runs never collide.
func openTestS3(tb testing.TB) *S3 {
	tb.Helper()
	return openTestS3With(tb, Options{})
}

func openTestS3With(tb testing.TB, opts Options) *S3 {
	tb.Helper()
	u := s3TestURL(tb)
	base := strings.Trim(u.Path, "/")
	if len(base) > 40 {
		base = base[:40]
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	u.Path = "/" + base + "-" + hex.EncodeToString(suffix)
	return openS3At(tb, u.String(), opts)
}

func openS3At(tb testing.TB, rawURL string, opts ...Options) *S3 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	st, err := Open(ctx, rawURL, o)
	if err != nil {
		tb.Fatalf("Open(s3): %v", err)
	}
	s := st.(*S3)
	// MinIO may still be starting.
	wait.Within(tb, time.Minute, func() bool { err = s.Ping(ctx); return err == nil }, "MinIO at FL_TEST_S3_URL did not answer")
	tb.Cleanup(func() { removeBucket(tb, s) })
	return s
}

func removeBucket(tb testing.TB, s *S3) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for obj := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err == nil {
			_ = s.client.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{})
		}
	}
	if err := s.client.RemoveBucketWithOptions(ctx, s.bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
		tb.Logf("removing test bucket %s: %v", s.bucket, err)
	}
}

// incompleteUploads lists multipart uploads of key that were neither completed nor aborted.
func incompleteUploads(t *testing.T, s *S3, key string) []string {
	t.Helper()
	var ids []string
	for u := range s.client.ListIncompleteUploads(testContext(t), s.bucket, key, false) {
		if u.Err != nil {
			t.Fatalf("listing incomplete uploads: %v", u.Err)
		}
		ids = append(ids, u.Key+"#"+u.UploadID)
	}
	return ids
}

func TestS3_Conformance(t *testing.T) {
	s3TestURL(t)
	testStore(t, func(t *testing.T) harness {
		s := openTestS3(t)
		return harness{
			store:     s,
			leftovers: func(t *testing.T, key string) []string { return incompleteUploads(t, s, key) },
		}
	})
}

// TestS3_LeftoverCheckSeesIncompleteUploads proves the conformance suite's "nothing left
// behind" check for S3 is not vacuous: an upload that is started and not aborted is listed.
func TestS3_LeftoverCheckSeesIncompleteUploads(t *testing.T) {
	s := openTestS3(t)
	core := minio.Core{Client: s.client}
	id, err := core.NewMultipartUpload(testContext(t), s.bucket, "pending.mp4", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := incompleteUploads(t, s, "pending.mp4"); len(got) != 1 {
		t.Errorf("incompleteUploads = %v, want the pending upload", got)
	}
	if err := core.AbortMultipartUpload(testContext(t), s.bucket, "pending.mp4", id); err != nil {
		t.Fatal(err)
	}
}

func TestS3_PresignedURLDownloads(t *testing.T) {
	s := openTestS3(t)
	const key, n = "reports/c1/r1/v.mp4", 9*mib + 5
	mustPut(t, s, key, 31, n, "video/mp4")
	link, err := s.URL(testContext(t), key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET presigned URL = %s", resp.Status)
	}
	if resp.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
	}
	if sumOf(t, resp.Body) != sumOf(t, randomBody(31, n)) {
		t.Error("downloaded bytes differ from what was put")
	}
	if strings.Contains(link, "minioadmin:") {
		t.Error("presigned URL carries the secret")
	}
}

func TestS3_ConcurrentOpenCreatesBucket(t *testing.T) {
	u := s3TestURL(t)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	u.Path = "/forteleasing-race-" + hex.EncodeToString(suffix)
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	stores := make([]Store, 8)
	for i := range errs {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, u.String(), Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		if err := stores[i].Ping(ctx); err != nil {
			t.Errorf("Ping #%d: %v", i, err)
		}
	}
	t.Cleanup(func() { removeBucket(t, stores[0].(*S3)) })
	mustPut(t, stores[3], "x.mp4", 1, 10, "video/mp4")
	assertContent(t, stores[5], "x.mp4", 1, 10)
}

func TestS3_PingRecreatesDeletedBucket(t *testing.T) {
	s := openTestS3(t)
	ctx := testContext(t)
	if err := s.client.RemoveBucket(ctx, s.bucket); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the bucket was removed: %v", err)
	}
	mustPut(t, s, "x.mp4", 1, 10, "video/mp4")
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestS3_UnavailableWhenStoreIsDown(t *testing.T) {
	ctx := testContext(t)
	const secret = "s3cr3t-Value-42"
	st, err := Open(ctx, "s3://access:"+secret+"@"+closedPort(t)+"/videos?secure=false", Options{})
	if err != nil {
		t.Fatalf("Open must not fail while the store is down: %v", err)
	}
	err = st.Ping(ctx)
	if !IsUnavailable(err) {
		t.Errorf("Ping = %v, want unavailable", err)
	}
	_, putErr := st.Put(ctx, "v.mp4", randomBody(1, mib), mib, "video/mp4")
	if !IsUnavailable(putErr) {
		t.Errorf("Put = %v, want unavailable", putErr)
	}
	_, statErr := st.Stat(ctx, "v.mp4")
	if !IsUnavailable(statErr) || errors.Is(statErr, ErrNotFound) {
		t.Errorf("Stat = %v, want unavailable and not ErrNotFound", statErr)
	}
	for _, e := range []error{err, putErr, statErr} {
		if e != nil && strings.Contains(e.Error(), secret) {
			t.Errorf("error shows the secret: %v", e)
		}
	}
	if got := fmt.Sprintf("%v %s %+v %#v", st, st, st, st); strings.Contains(got, secret) {
		t.Errorf("formatted store shows the secret: %s", got)
	}
}

// fakeS3 answers the bucket check and then whatever status mode holds, as S3 would in an outage
// (503/500) or with wrong credentials (403).
func fakeS3(t *testing.T, mode *atomic.Int32) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := int(mode.Load())
		bucketCheck := r.Method == http.MethodHead && !strings.Contains(strings.Trim(r.URL.Path, "/"), "/")
		if status == 0 || bucketCheck && status != http.StatusServiceUnavailable {
			w.WriteHeader(http.StatusOK)
			return
		}
		codes := map[int]string{500: "InternalError", 503: "ServiceUnavailable", 403: "AccessDenied"}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>fake</Message></Error>`, codes[status])
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestS3_ErrorClassification(t *testing.T) {
	var mode atomic.Int32
	host := fakeS3(t, &mode)
	ctx := testContext(t)
	st, err := Open(ctx, "s3://access:secret@"+host+"/videos?secure=false&region=us-east-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for status, want := range map[int32]bool{500: true, 503: true, 403: false} {
		mode.Store(status)
		_, statErr := st.Stat(ctx, "v.mp4")
		_, putErr := st.Put(ctx, "v.mp4", strings.NewReader("abc"), 3, "video/mp4")
		for op, err := range map[string]error{"Stat": statErr, "Put": putErr} {
			if err == nil || IsUnavailable(err) != want {
				t.Errorf("%s with S3 answering %d = %v; IsUnavailable want %v", op, status, err, want)
			}
		}
		if err := st.Ping(ctx); status == 503 && !IsUnavailable(err) {
			t.Errorf("Ping with S3 answering 503 = %v, want unavailable", err)
		}
	}
}

func TestOpen_BadS3URLNeverShowsSecret(t *testing.T) {
	const secret = "Very-Secret-99"
	for _, raw := range []string{
		"s3://key:" + secret + "@127.0.0.1:notaport/bucket",
		"s3://key:" + secret + "@127.0.0.1:9000/",
		"s3://key:" + secret + "@127.0.0.1:9000/Bad_Bucket",
		"s3://key:" + secret + "@127.0.0.1:9000/a/b",
		"s3://key:" + secret + "@127.0.0.1:9000/bucket?secure=maybe",
		"s3://key:" + secret + "@/bucket",
		"s3://key@127.0.0.1:9000/bucket",
		"s3://key:" + secret + "@127.0.0.1:9000/bucket\x7f",
	} {
		st, err := Open(testContext(t), raw, Options{})
		if err == nil || st != nil {
			t.Errorf("Open(%q) = %v, %v; want an error", strings.ReplaceAll(raw, secret, "***"), st, err)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error shows the secret: %v", err)
		}
	}
}
