package media

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/forteleasing/inspections/internal/limits"
)

// Disk keeps objects as files under a directory: <dir>/<key>, with the content type in a
// sidecar <dir>/<key's dir>/.<key's base>.meta. Dot names never collide with keys (see checkKey).
type Disk struct {
	dir        string
	publicURL  string
	signingKey []byte
	now        func() time.Time
	spool      *limits.Space
}

const minSigningKeyLen = 16

// OpenDisk opens (and creates if missing) a disk store rooted at dir.
func OpenDisk(dir string, opts Options) (*Disk, error) {
	if dir == "" {
		return nil, errors.New("media: file:// store needs a directory")
	}
	if len(opts.SigningKey) < minSigningKeyLen {
		return nil, fmt.Errorf("media: file:// store needs a signing key of at least %d bytes", minSigningKeyLen)
	}
	base, err := parsePublicURL(opts.PublicURL)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("media: disk store %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("media: disk store: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Disk{dir: abs, publicURL: base, signingKey: bytes.Clone(opts.SigningKey), now: now, spool: opts.Spool}, nil
}

func parsePublicURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("media: file:// store needs an absolute http(s) public URL, got %q", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// String never shows the signing key.
func (d *Disk) String() string   { return "file://" + d.dir }
func (d *Disk) GoString() string { return d.String() }

func (d *Disk) path(key string) string { return filepath.Join(d.dir, filepath.FromSlash(key)) }

func (d *Disk) metaPath(key string) string {
	dir, base := filepath.Split(d.path(key))
	return filepath.Join(dir, "."+base+".meta")
}

type diskMeta struct {
	ContentType string `json:"content_type"`
}

// Put writes to temp files next to the target and renames them into place, so readers see the
// old object or the new one, never a partial one. The sidecar is renamed first: an overwrite
// with a different content type can show the new type with the old bytes for that instant.
func (d *Disk) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (obj Object, err error) {
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	dir := filepath.Dir(d.path(key))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Object{}, fmt.Errorf("media: put %q: %w", key, storageErr(err))
	}

	var temps []string
	defer func() {
		if err != nil {
			for _, t := range temps {
				_ = os.Remove(t)
			}
		}
	}()
	dataTemp, info, release, err := writeTemp(dir, newBody(ctx, r, size), d.spool)
	defer release() // once renamed, the bytes are the object's, no longer the spool's
	if dataTemp != "" {
		temps = append(temps, dataTemp)
	}
	if err != nil {
		return Object{}, fmt.Errorf("media: put %q: %w", key, storageErr(err))
	}
	meta, err := json.Marshal(diskMeta{ContentType: contentType})
	if err != nil {
		return Object{}, fmt.Errorf("media: put %q: %w", key, err)
	}
	metaTemp, _, releaseMeta, err := writeTemp(dir, bytes.NewReader(meta), nil)
	releaseMeta()
	if metaTemp != "" {
		temps = append(temps, metaTemp)
	}
	if err != nil {
		return Object{}, fmt.Errorf("media: put %q: %w", key, storageErr(err))
	}
	if err := ctx.Err(); err != nil {
		return Object{}, fmt.Errorf("media: put %q: %w", key, err)
	}
	if err := os.Rename(metaTemp, d.metaPath(key)); err != nil {
		return Object{}, fmt.Errorf("media: put %q: %w", key, storageErr(err))
	}
	if err := os.Rename(dataTemp, d.path(key)); err != nil {
		return Object{}, fmt.Errorf("media: put %q: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		// The object is in place but not known to be durable.
		return Object{}, fmt.Errorf("media: put %q: %w", key, err)
	}
	return Object{Key: key, Size: info.Size(), ContentType: contentType, ModTime: info.ModTime()}, nil
}

// writeTemp copies src to a new fsynced temp file in dir, its bytes counted against space until
// release is called. The temp name is returned even on error so the caller can remove it.
func writeTemp(dir string, src io.Reader, space *limits.Space) (name string, info fs.FileInfo, release func(), err error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", nil, func() {}, err
	}
	w := &spoolFile{f: f, space: space}
	if _, err = io.Copy(w, src); err == nil {
		err = f.Sync()
	}
	if err == nil {
		info, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), info, w.release, err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *Disk) Stat(_ context.Context, key string) (Object, error) {
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	info, err := os.Stat(d.path(key))
	if err != nil {
		return Object{}, statErr(key, err)
	}
	return d.object(key, info)
}

// Open's reader is an *os.File, so an HTTP handler can assert io.ReadSeeker to serve ranges.
func (d *Disk) Open(_ context.Context, key string) (io.ReadCloser, Object, error) {
	if err := checkKey(key); err != nil {
		return nil, Object{}, err
	}
	f, err := os.Open(d.path(key))
	if err != nil {
		return nil, Object{}, statErr(key, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, Object{}, fmt.Errorf("media: open %q: %w", key, err)
	}
	obj, err := d.object(key, info)
	if err != nil {
		_ = f.Close()
		return nil, Object{}, err
	}
	return f, obj, nil
}

// OpenRange reads a section of the file.
func (d *Disk) OpenRange(_ context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("media: range %d+%d of %q", off, n, key)
	}
	f, err := os.Open(d.path(key))
	if err != nil {
		return nil, statErr(key, err)
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		_ = f.Close()
		if err == nil {
			err = fmt.Errorf("media: %q: %w", key, ErrNotFound)
		}
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, nil
}

func (d *Disk) object(key string, info fs.FileInfo) (Object, error) {
	if !info.Mode().IsRegular() {
		// A directory is a key prefix, not an object (as in S3).
		return Object{}, fmt.Errorf("media: %q: %w", key, ErrNotFound)
	}
	contentType, err := d.contentType(key)
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: info.Size(), ContentType: contentType, ModTime: info.ModTime()}, nil
}

func (d *Disk) contentType(key string) (string, error) {
	raw, err := os.ReadFile(d.metaPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		// Only after a crash between the two renames or during Delete.
		return defaultContentType, nil
	}
	if err != nil {
		return "", fmt.Errorf("media: metadata of %q: %w", key, err)
	}
	var m diskMeta
	if err := json.Unmarshal(raw, &m); err != nil || m.ContentType == "" {
		return defaultContentType, nil
	}
	return m.ContentType, nil
}

func statErr(key string, err error) error {
	if isNotExist(err) {
		return fmt.Errorf("media: %q: %w", key, ErrNotFound)
	}
	return fmt.Errorf("media: stat %q: %w", key, err)
}

// isNotExist also covers ENOTDIR: "a/b" when "a" is a file.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (d *Disk) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	path := d.path(key)
	info, err := os.Lstat(path)
	if isNotExist(err) || (err == nil && info.IsDir()) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("media: delete %q: %w", key, err)
	}
	if err := os.Remove(path); err != nil && !isNotExist(err) {
		return fmt.Errorf("media: delete %q: %w", key, err)
	}
	if err := os.Remove(d.metaPath(key)); err != nil && !isNotExist(err) {
		return fmt.Errorf("media: delete metadata of %q: %w", key, err)
	}
	return nil
}

func (d *Disk) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	root := d.dir
	if dir, _, ok := cutLast(prefix, "/"); ok {
		root = d.path(dir)
	}
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if isNotExist(err) {
				return nil // removed while walking, or the prefix names no directory
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == root && e.IsDir() {
			return nil
		}
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.dir, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if !strings.HasPrefix(key+"/", prefix) {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := e.Info()
		if isNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(Object{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("media: list %q: %w", prefix, err)
	}
	return nil
}

// URL returns PublicURL/media/<key>?expires=<unix>&signature=<hex HMAC-SHA256>. Keys need no
// escaping: every byte checkKey allows is URL-safe.
func (d *Disk) URL(_ context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("media: URL ttl must be positive, got %s", ttl)
	}
	expires := strconv.FormatInt(d.now().Add(ttl).Unix(), 10)
	return d.publicURL + "/media/" + key + "?expires=" + expires + "&signature=" + hex.EncodeToString(d.sign(key, expires)), nil
}

// VerifyURL checks the expires and signature query values of a URL made by URL for key.
// It returns ErrInvalidKey, ErrBadSignature or ErrURLExpired.
func (d *Disk) VerifyURL(key, expires, signature string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	got, err := hex.DecodeString(signature)
	if err != nil || !hmac.Equal(got, d.sign(key, expires)) {
		return ErrBadSignature
	}
	unix, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if !d.now().Before(time.Unix(unix, 0)) {
		return ErrURLExpired
	}
	return nil
}

// sign separates key and expiry with a newline, which keys cannot contain, so that
// ("a1", "23") and ("a", "123") sign differently.
func (d *Disk) sign(key, expires string) []byte {
	m := hmac.New(sha256.New, d.signingKey)
	m.Write([]byte(key))
	m.Write([]byte{'\n'})
	m.Write([]byte(expires))
	return m.Sum(nil)
}

func (d *Disk) Ping(context.Context) error {
	info, err := os.Stat(d.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUnavailable, d.dir)
	}
	return nil
}

// Dir is the directory the store keeps its objects in; the resumable uploads keep their files under it.
func (d *Disk) Dir() string { return d.dir }

// SetContentType records the content type of an object written into the store's directory by someone
// else (tusd's file store writes the resumable uploads' files itself).
func (d *Disk) SetContentType(key, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	meta, err := json.Marshal(diskMeta{ContentType: contentType})
	if err != nil {
		return err
	}
	dir := filepath.Dir(d.path(key))
	tmp, _, release, err := writeTemp(dir, bytes.NewReader(meta), nil)
	release()
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("media: metadata of %q: %w", key, storageErr(err))
	}
	if err := os.Rename(tmp, d.metaPath(key)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("media: metadata of %q: %w", key, err)
	}
	return nil
}
