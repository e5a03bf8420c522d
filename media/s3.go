package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/forteleasing/inspections/internal/limits"
)

// S3 keeps objects in one MinIO/S3 bucket.
//
// Memory: the body given to Put is wrapped (see body), so minio-go never sees an io.ReaderAt and
// takes its sequential path: a body of up to s3PartSize bytes is streamed in a single PUT, and a
// larger or unknown-size body is read into one s3PartSize buffer at a time and sent as multipart.
// So each Put in flight holds at most s3PartSize (5 MiB, the smallest part S3 allows) of the body:
// eight concurrent 64 MiB uploads stay within about 40 MiB of buffers.
type S3 struct {
	client  *minio.Client
	bucket  string
	region  string
	display string
	now     func() time.Time

	// public and secure are where clients reach the store (Options.PublicStoreURL); signer presigns
	// for that address, built on first use once the bucket's region is known.
	public   string
	secure   bool
	creds    *credentials.Credentials
	signerMu sync.Mutex
	signer   *linkSigner

	mu    sync.Mutex
	ready atomic.Bool // the bucket is known to exist
	// spoolMax is the largest body of unknown size, spooled to disk and sent in parts as it arrives
	// (putStreamed); larger bodies fail. 0 streams them through minio-go's part buffer instead.
	spoolMax int64
	spool    *limits.Space
	idle     time.Duration // a call making no progress for this long is cancelled
}

const (
	s3PartSize = 5 << 20
	// Few retries, so that a store that is down is reported quickly instead of after
	// minio-go's default of 10 attempts. Only bodiless or seekable requests are retried.
	s3MaxRetries = 3
)

func openS3(ctx context.Context, u *url.URL, opts Options) (*S3, error) {
	access := u.User.Username()
	secret, _ := u.User.Password()
	if access == "" || secret == "" {
		return nil, errors.New("media: s3 URL needs KEY:SECRET@")
	}
	if u.Host == "" {
		return nil, errors.New("media: s3 URL needs HOST:PORT")
	}
	bucket := strings.Trim(u.Path, "/")
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil || strings.Contains(bucket, "/") {
		return nil, fmt.Errorf("media: s3 URL needs a valid /BUCKET, got %q", bucket)
	}
	q := u.Query()
	secure := true
	if v := q.Get("secure"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("media: s3 URL: secure=%q is not a boolean", v)
		}
		secure = b
	}
	region := q.Get("region")
	creds := credentials.NewStaticV4(access, secret, "")
	client, err := minio.New(u.Host, &minio.Options{
		Creds:      creds,
		Secure:     secure,
		Region:     region,
		MaxRetries: s3MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("media: s3 client for %s: %w", u.Host, err)
	}
	s := &S3{client: client, bucket: bucket, region: region, display: u.Redacted(), now: opts.Now, spoolMax: 1 << 30, creds: creds,
		spool: opts.Spool, idle: max(opts.IdleTimeout, 0)}
	if s.idle == 0 {
		s.idle = DefaultIdleTimeout
	}
	if opts.PublicStoreURL != "" {
		pub, err := ParsePublicStoreURL(opts.PublicStoreURL)
		if err != nil {
			return nil, err
		}
		s.public, s.secure = pub.Host, pub.Scheme == "https"
		// Clients leave a default port out of the Host header, and the signature covers that header.
		if h, p, err := net.SplitHostPort(pub.Host); err == nil && (p == "443" && s.secure || p == "80" && !s.secure) {
			s.public = h
		}
	}
	// A store that is down must not keep the service from starting: /readyz reports it
	// and the bucket is created on first use.
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.ensureBucket(ctx); err != nil && !IsUnavailable(err) {
		return nil, err
	}
	return s, nil
}

// String shows the store URL with the secret redacted.
func (s *S3) String() string   { return s.display }
func (s *S3) GoString() string { return s.display }

// ensureBucket creates the bucket once. Another instance may create it at the same moment:
// "already owned by you" and "already exists" then mean it is there.
func (s *S3) ensureBucket(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready.Load() {
		return nil
	}
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.fail("check bucket", s.bucket, err)
	}
	if !exists {
		err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
		switch minio.ToErrorResponse(err).Code {
		case minio.BucketAlreadyOwnedByYou:
		case minio.BucketAlreadyExists:
			// On AWS this may be someone else's bucket: only trust it if we can see it.
			if ok, err := s.client.BucketExists(ctx, s.bucket); err != nil || !ok {
				return fmt.Errorf("media: bucket %q exists but is not accessible: %w", s.bucket, err)
			}
		default:
			if err != nil {
				return s.fail("create bucket", s.bucket, err)
			}
		}
	}
	s.ready.Store(true)
	return nil
}

// fail maps minio-go errors to the package's sentinels.
func (s *S3) fail(op, key string, err error) error {
	switch {
	case minio.ToErrorResponse(err).Code == minio.NoSuchKey:
		return fmt.Errorf("media: %s %q: %w", op, key, ErrNotFound)
	case unavailable(err):
		return fmt.Errorf("media: %s %q: %w: %w", op, key, ErrUnavailable, err)
	}
	return fmt.Errorf("media: %s %q: %w", op, key, err)
}

// unavailable is true for failures of the store rather than of the request:
// network errors, timeouts and 5xx answers.
func unavailable(err error) bool {
	if errors.Is(err, errNoProgress) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if minio.IsNetworkOrHostDown(err, false) {
		return true
	}
	return minio.ToErrorResponse(err).StatusCode >= 500
}

// bound gives a bodiless call the store's idle time to answer.
func (s *S3) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.idle)
}

func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (Object, error) {
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	if size < 0 && s.spoolMax > 0 {
		return s.putStreamed(ctx, key, r, contentType)
	}
	return s.putObject(ctx, key, r, size, contentType)
}

// putObject stores a body of known size (or, with spoolMax 0, of unknown size through minio-go's
// part buffer).
func (s *S3) putObject(ctx context.Context, key string, r io.Reader, size int64, contentType string) (Object, error) {
	bctx, bcancel := s.bound(ctx)
	err := s.ensureBucket(bctx)
	bcancel()
	if err != nil {
		return Object{}, err
	}
	// The call is cancelled when the store takes no byte (or sends no answer) for the idle time.
	wctx, dog := newWatchdog(ctx, s.idle)
	defer dog.stop()
	// A failed single PUT stores nothing; a failed multipart upload is aborted by minio-go
	// (with a context of its own, so a cancelled request still cleans up).
	b := newBody(ctx, watchedReader{r: r, w: dog}, size)
	if size == 0 {
		// minio-go sends an empty PUT without reading the body, so check now that it is empty.
		if _, err := b.Read(make([]byte, 1)); err != io.EOF {
			return Object{}, fmt.Errorf("media: put %q: %w", key, err)
		}
	}
	partSize := uint64(s3PartSize)
	if size > 0 && size <= s.spoolMax {
		partSize = uint64(size) // one streaming PUT, no part buffer
	}
	info, err := s.client.PutObject(wctx, s.bucket, key, b, size, minio.PutObjectOptions{
		ContentType: contentType,
		PartSize:    max(partSize, s3PartSize),
		NumThreads:  1,
		// Over plain HTTP minio-go would read the whole body once more to sign its SHA-256; the
		// service hashes every video itself and minio-go still sends its CRC checksum.
		DisableContentSha256: true,
	})
	if err != nil {
		if b.err != nil {
			return Object{}, fmt.Errorf("media: put %q: %w", key, b.err)
		}
		if cause := context.Cause(wctx); errors.Is(cause, errNoProgress) {
			err = cause
		}
		return Object{}, s.fail("put", key, err)
	}
	modTime := info.LastModified
	if modTime.IsZero() {
		modTime = s.now()
	}
	return Object{Key: key, Size: info.Size, ContentType: contentType, ModTime: modTime}, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	if err := s.ensureBucket(ctx); err != nil {
		return Object{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.fail("stat", key, err)
	}
	return s3Object(info), nil
}

// Open's reader reads through ctx: cancelling ctx stops the download.
// Open's reader reads through ctx: cancelling ctx stops the download, and so does the store sending
// nothing for the idle time.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := checkKey(key); err != nil {
		return nil, Object{}, err
	}
	wctx, dog := newWatchdog(ctx, s.idle)
	if err := s.ensureBucket(wctx); err != nil {
		dog.stop()
		return nil, Object{}, err
	}
	obj, err := s.client.GetObject(wctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		dog.stop()
		return nil, Object{}, s.fail("open", key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		_ = obj.Close()
		dog.stop()
		return nil, Object{}, s.fail("open", key, err)
	}
	dog.touch()
	return watchedReadCloser{watchedReader: watchedReader{r: obj, w: dog}, c: obj}, s3Object(info), nil
}

// OpenRange asks S3 for the bytes off..off+n-1 only. A range starting past the end is an empty read.
func (s *S3) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("media: range %d+%d of %q", off, n, key)
	}
	// Like Open's, the call is cancelled when the store sends nothing for the idle time: a hung store
	// fails the read (to be tried again) instead of holding its caller.
	wctx, dog := newWatchdog(ctx, s.idle)
	fail := func(err error) error {
		if cause := context.Cause(wctx); errors.Is(cause, errNoProgress) {
			err = fmt.Errorf("%w (%w)", cause, err)
		}
		dog.stop()
		return s.fail("open range", key, err)
	}
	if err := s.ensureBucket(wctx); err != nil {
		return nil, fail(err)
	}
	if n == 0 {
		_, err := s.client.StatObject(wctx, s.bucket, key, minio.StatObjectOptions{})
		if err != nil {
			return nil, fail(err)
		}
		dog.stop()
		return io.NopCloser(strings.NewReader("")), nil
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(off, off+n-1); err != nil {
		dog.stop()
		return nil, fmt.Errorf("media: range %d+%d of %q: %w", off, n, key, err)
	}
	obj, err := s.client.GetObject(wctx, s.bucket, key, opts)
	if err != nil {
		return nil, fail(err)
	}
	// GetObject is lazy: the first read sends the request. Read one byte now so that a missing key or
	// a store that is down is reported here, and a range past the end reads as empty.
	first := make([]byte, 1)
	m, err := obj.Read(first)
	switch {
	case m == 1:
		dog.touch()
		return watchedReadCloser{watchedReader: watchedReader{r: io.MultiReader(bytes.NewReader(first), obj), w: dog}, c: obj}, nil
	case err == io.EOF || minio.ToErrorResponse(err).Code == "InvalidRange":
		_ = obj.Close()
		dog.stop()
		return io.NopCloser(strings.NewReader("")), nil
	default:
		_ = obj.Close()
		return nil, fail(err)
	}
}

func s3Object(info minio.ObjectInfo) Object {
	return Object{Key: info.Key, Size: info.Size, ContentType: info.ContentType, ModTime: info.LastModified}
}

func (s *S3) Delete(ctx context.Context, key string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.ensureBucket(ctx); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.fail("delete", key, err)
	}
	return nil
}

func (s *S3) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	ctx, dog := newWatchdog(ctx, s.idle)
	defer dog.stop()
	if err := s.ensureBucket(ctx); err != nil {
		return err
	}
	for info := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		dog.touch()
		if info.Err != nil {
			return s.fail("list", prefix, info.Err)
		}
		if err := fn(Object{Key: info.Key, Size: info.Size, ModTime: info.LastModified}); err != nil {
			return fmt.Errorf("media: list %q: %w", prefix, err)
		}
	}
	return nil
}

// URL presigns a GET. The URL points at the host of the store URL, which must be reachable by
// whoever downloads (1C).
func (s *S3) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := checkKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("media: URL ttl must be positive, got %s", ttl)
	}
	if err := s.ensureBucket(ctx); err != nil {
		return "", err
	}
	signer, err := s.presigner(ctx)
	if err != nil {
		return "", err
	}
	return signer.sign(key, ttl, s.now()), nil
}

// presigner signs links clients can open: at the store's own address, or at the public one. Signing is
// local, but it needs the bucket's region, which is asked of the store once (the public address may not
// be reachable from inside the deployment).
func (s *S3) presigner(ctx context.Context) (*linkSigner, error) {
	s.signerMu.Lock()
	defer s.signerMu.Unlock()
	if s.signer != nil {
		return s.signer, nil
	}
	client := s.client
	if s.public != "" {
		region := s.region
		if region == "" {
			loc, err := s.client.GetBucketLocation(ctx, s.bucket)
			if err != nil {
				return nil, s.fail("bucket location", s.bucket, err)
			}
			region = loc
		}
		c, err := minio.New(s.public, &minio.Options{
			Creds: s.creds, Secure: s.secure, Region: region,
			// The reverse proxy routes /BUCKET/... to the store, so links must not put the bucket in the host.
			BucketLookup: minio.BucketLookupPath,
		})
		if err != nil {
			return nil, fmt.Errorf("media: presigner for %s: %w", s.public, err)
		}
		client = c
	}
	v, err := s.creds.GetWithContext(nil) // static keys: no HTTP client is needed
	if err != nil {
		return nil, fmt.Errorf("media: presigner credentials: %w", err)
	}
	signer, err := newLinkSigner(ctx, client, s.bucket, v.AccessKeyID, v.SecretAccessKey)
	if err != nil {
		return nil, s.fail("presign", s.bucket, err)
	}
	s.signer = signer
	return signer, nil
}

// Ping also recreates the bucket if it disappeared. Every error it returns is ErrUnavailable.
func (s *S3) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err == nil && !exists {
		s.ready.Store(false)
		err = s.ensureBucket(ctx)
	}
	if err != nil && !IsUnavailable(err) {
		return fmt.Errorf("media: ping bucket %q: %w: %w", s.bucket, ErrUnavailable, err)
	}
	return err
}

// Raw gives the resumable uploads the client and bucket for what Store does not cover (S3 multipart
// uploads that span requests), once the bucket exists.
func (s *S3) Raw(ctx context.Context) (*minio.Client, string, error) {
	if err := s.ensureBucket(ctx); err != nil {
		return nil, "", err
	}
	return s.client, s.bucket, nil
}

// IsS3Unavailable is IsUnavailable for errors of the raw client.
func IsS3Unavailable(err error) bool { return unavailable(err) }
