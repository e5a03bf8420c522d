// Package media stores inspection videos: on local disk in development, in MinIO/S3 in production.
// Bodies are streamed, never held whole in memory, and 1C downloads them through expiring URLs.
package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/forteleasing/inspections/internal/limits"
)

// Store is where inspection videos live.
type Store interface {
	// Put streams r to key without holding the whole body in memory. size may be -1 when
	// unknown; when known, a body of any other length fails with ErrSizeMismatch. On any
	// error nothing is stored and a previous object at key is kept. When r itself fails
	// (client gone), Put returns r's error and IsUnavailable is false.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (Object, error)
	// Stat returns ErrNotFound when key is absent.
	Stat(ctx context.Context, key string) (Object, error)
	// Open returns ErrNotFound when key is absent. The caller closes the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// OpenRange returns up to n bytes of key from offset off (fewer at the object's end, none past
	// it) without fetching the rest; ErrNotFound when key is absent. The caller closes the reader.
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	// Delete of an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in no particular order.
	// ContentType is left empty. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// URL returns a download URL valid for ttl.
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
	// Ping checks the store is reachable; its error satisfies IsUnavailable.
	Ping(ctx context.Context) error
}

// Object describes a stored video.
type Object struct {
	Key         string
	Size        int64
	ContentType string
	ModTime     time.Time
}

var (
	ErrNotFound   = errors.New("media: object not found")
	ErrInvalidKey = errors.New("media: invalid object key")
	// ErrSizeMismatch means the body was shorter or longer than the size given to Put.
	ErrSizeMismatch = errors.New("media: body size does not match the declared size")
	// ErrUnavailable marks failures of the store itself (down, unreachable, timing out, 5xx):
	// the caller should answer 503 and may retry later.
	ErrUnavailable = errors.New("media: store unavailable")
	// ErrBadSignature and ErrURLExpired are returned by Disk.VerifyURL.
	ErrBadSignature = errors.New("media: bad URL signature")
	ErrURLExpired   = errors.New("media: URL expired")
)

// IsUnavailable reports whether err is a failure of the store itself rather than of the request.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// Options configures Open.
type Options struct {
	// PublicURL is the service's public base (e.g. http://localhost:8080) under which
	// disk download URLs are served as /media/<key>. Required for file:// stores.
	PublicURL string
	// SigningKey is the HMAC key of disk download URLs, at least 16 bytes. Required for file:// stores.
	SigningKey []byte
	// Now is the clock for URL expiry; time.Now when nil.
	Now func() time.Time
	// PublicStoreURL (FL_MEDIA_PUBLIC_URL) is the scheme://host[:port] at which clients reach an s3://
	// store, when that differs from the address the service uses (minio:9000 inside a compose network,
	// published through the reverse proxy). Presigned URLs are signed for it, path-style, so the proxy
	// must forward /BUCKET/... with the Host header unchanged. Empty: links point at the store's own host.
	PublicStoreURL string
	// Spool is the instance's budget for bytes in temp files (unknown-size uploads before they are
	// sent, disk writes before their rename); nil means none. Past it Put fails with ErrUnavailable.
	Spool *limits.Space
	// IdleTimeout bounds each object-store call that makes no progress; DefaultIdleTimeout when 0.
	IdleTimeout time.Duration
}

// ParsePublicStoreURL checks a PublicStoreURL: http or https, a host, and nothing after it, since the
// path and host of a presigned URL are part of its signature and a proxy must not rewrite them.
func ParsePublicStoreURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("media: the public store URL must be http(s)://HOST[:PORT] with no path, got %q", raw)
	}
	return u, nil
}

// defaultContentType is what S3 stores when none is given; the disk store matches it.
const defaultContentType = "application/octet-stream"

// Open chooses by URL: "file://DIR" (disk) or "s3://KEY:SECRET@HOST:PORT/BUCKET?secure=false"
// (MinIO/S3; optional region=...). An S3 store that cannot be reached yet is still returned:
// its bucket is created on first use, and Ping reports it unavailable until then.
func Open(ctx context.Context, rawURL string, opts Options) (Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, errors.New("media: store URL must start with file:// or s3://")
	}
	switch scheme {
	case "file":
		d, err := OpenDisk(rest, opts)
		if err != nil {
			return nil, err
		}
		return d, nil
	case "s3":
		u, err := url.Parse(rawURL)
		if err != nil {
			// url.Error repeats the whole URL, secret included.
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			return nil, fmt.Errorf("media: invalid s3 URL: %w", err)
		}
		st, err := openS3(ctx, u, opts)
		if err != nil {
			return nil, err
		}
		return st, nil
	default:
		return nil, fmt.Errorf("media: unsupported store scheme %q (want file or s3)", scheme)
	}
}

// ReaderAt reads one stored object through ranged reads (OpenRange), for parsers that jump around a
// file, such as the MP4 metadata reader. Every ReadAt is one request to the store.
type ReaderAt struct {
	ctx   context.Context
	store Store
	key   string
}

// NewReaderAt reads key of store under ctx.
func NewReaderAt(ctx context.Context, store Store, key string) *ReaderAt {
	return &ReaderAt{ctx: ctx, store: store, key: key}
}

func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("media: read %q at negative offset %d", r.key, off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	rc, err := r.store.OpenRange(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if err == io.ErrUnexpectedEOF || (err == io.EOF && n == 0) {
		err = io.EOF // the object ended before p was full
	}
	return n, err
}
