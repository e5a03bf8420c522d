package resumable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/forteleasing/inspections/media"
	"github.com/forteleasing/inspections/reports"
)

// backend is where an upload's bytes live: tusd's file store on disk, or S3 multipart on MinIO.
type backend interface {
	create(ctx context.Context, r row, info handler.FileInfo) (handler.Upload, error)
	open(ctx context.Context, r row) (handler.Upload, error)
	// forget removes what the backend keeps beside a committed video (its bookkeeping, never the video).
	forget(ctx context.Context, r row) error
}

// terminator is an upload of either backend that can be removed with all its parts.
type terminator interface {
	terminate(ctx context.Context) error
}

// diskBackend is tusd's file store under the media directory: <media>/tus/<id> is the video itself (so
// its media key is tus/<id>) and <id>.info tusd's bookkeeping.
type diskBackend struct {
	fs    filestore.FileStore
	dir   string
	media *media.Disk
}

func newDiskBackend(m *media.Disk) (*diskBackend, error) {
	dir := filepath.Join(m.Dir(), objectPrefix)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return &diskBackend{fs: filestore.New(dir), dir: dir, media: m}, nil
}

func (b *diskBackend) create(ctx context.Context, _ row, info handler.FileInfo) (handler.Upload, error) {
	up, err := b.fs.NewUpload(ctx, info)
	if err != nil {
		return nil, err
	}
	return diskUpload{up, b}, nil
}

func (b *diskBackend) open(ctx context.Context, r row) (handler.Upload, error) {
	up, err := b.fs.GetUpload(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	return diskUpload{up, b}, nil
}

func (b *diskBackend) forget(_ context.Context, r row) error {
	err := os.Remove(filepath.Join(b.dir, r.ID+".info"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

type diskUpload struct {
	handler.Upload
	b *diskBackend
}

func (u diskUpload) FinishUpload(ctx context.Context) error {
	info, err := u.GetInfo(ctx)
	if err != nil {
		return err
	}
	return u.b.media.SetContentType(objectPrefix+"/"+info.ID, "video/mp4")
}

func (u diskUpload) terminate(ctx context.Context) error {
	info, err := u.GetInfo(ctx)
	if err != nil {
		return err
	}
	if err := u.b.fs.AsTerminatableUpload(u.Upload).Terminate(ctx); err != nil {
		return err
	}
	return u.b.media.Delete(ctx, objectPrefix+"/"+info.ID) // the content-type sidecar of a finished one
}

// objectPrefix is where resumable uploads keep their bytes, on disk and in the bucket. It is outside
// reports' videos/ prefix, whose orphan sweeper must not see uploads in progress.
const objectPrefix = "tus"

// dataStore is the tusd DataStore of the service: rows in the database for ownership, metadata,
// offset, hash state and expiry; bytes in a backend. Its uploads check the video signature on the first
// bytes and hash as bytes arrive, so the commit needs no second read of the video.
type dataStore struct {
	rows    *Store
	backend backend
	now     func() time.Time
	ttl     time.Duration
}

func (d *dataStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	st := stateOf(ctx)
	if st == nil || st.principal.UserID == 0 {
		return nil, errors.New("resumable: an upload needs an authenticated user")
	}
	meta, err := json.Marshal(info.MetaData)
	if err != nil {
		return nil, err
	}
	now := d.now().UTC()
	r := row{
		ID: info.ID, CompanyID: st.principal.CompanyID, UploaderID: st.principal.UserID, Meta: string(meta), Size: info.Size,
		ObjectKey: objectPrefix + "/" + info.ID, Parts: "[]", CreatedAt: now, ExpiresAt: now.Add(d.ttl),
	}
	if err := d.rows.insert(ctx, r); err != nil {
		return nil, err
	}
	up, err := d.backend.create(ctx, r, info)
	if err != nil {
		_ = d.rows.delete(context.WithoutCancel(ctx), r.ID)
		return nil, err
	}
	return &upload{Upload: up, d: d, r: r}, nil
}

func (d *dataStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	r, err := d.rows.get(ctx, id)
	if errors.Is(err, errNoRow) {
		return nil, handler.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	up, err := d.backend.open(ctx, r)
	if errors.Is(err, os.ErrNotExist) {
		return nil, handler.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &upload{Upload: up, d: d, r: r}, nil
}

func (d *dataStore) AsTerminatableUpload(up handler.Upload) handler.TerminatableUpload {
	return up.(*upload)
}

// upload wraps a backend's upload with the service's rules.
type upload struct {
	handler.Upload
	d *dataStore
	r row
}

func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	checked := offset >= reports.VideoHeadSize
	if offset == 0 {
		head := make([]byte, reports.VideoHeadSize)
		n, _ := io.ReadFull(src, head)
		if n == len(head) || int64(n) == u.r.Size {
			if err := reports.CheckVideoHead(head[:n]); err != nil {
				if terr := u.Terminate(context.WithoutCancel(ctx)); terr != nil {
					return 0, terr
				}
				return 0, refuse(ctx, err)
			}
			checked = true
		}
		src = io.MultiReader(bytes.NewReader(head[:n]), src)
	}
	h, hashing := u.resumeHash(offset)
	counted := &countingReader{r: src}
	var body io.Reader = counted
	if hashing {
		body = io.TeeReader(counted, h)
	}
	n, err := u.Upload.WriteChunk(ctx, offset, body)

	hashed, state := int64(-1), ""
	if hashing && checked && counted.n == n {
		if b, merr := h.(encoding.BinaryMarshaler).MarshalBinary(); merr == nil {
			hashed, state = offset+n, hex.EncodeToString(b)
		}
	}
	// Recorded even when the request was cut: the bytes that arrived count.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if terr := u.d.rows.touch(tctx, u.r.ID, offset+n, hashed, state, u.d.now().UTC().Add(u.d.ttl)); terr != nil && err == nil {
		err = terr
	}
	u.r.Received, u.r.Hashed, u.r.HashState = offset+n, hashed, state
	return n, err
}

// resumeHash returns the SHA-256 state after offset bytes, when the row has it.
func (u *upload) resumeHash(offset int64) (hash.Hash, bool) {
	h := sha256.New()
	if u.r.Hashed != offset {
		return h, false
	}
	if offset == 0 {
		return h, true
	}
	b, err := hex.DecodeString(u.r.HashState)
	if err != nil || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b) != nil {
		return h, false
	}
	return h, true
}

// sum returns the SHA-256 of the whole upload from the hash state, or "" when it must be read again.
func (u *upload) sum() string {
	if u.r.Hashed != u.r.Size {
		return ""
	}
	h, ok := u.resumeHash(u.r.Size)
	if !ok {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (u *upload) FinishUpload(ctx context.Context) error {
	if err := u.Upload.FinishUpload(ctx); err != nil {
		return err
	}
	u.r.Finished = true
	return u.d.rows.setFinished(ctx, u.r.ID)
}

// Terminate removes the upload's bytes and its row.
func (u *upload) Terminate(ctx context.Context) error {
	if err := u.Upload.(terminator).terminate(ctx); err != nil {
		return err
	}
	return u.d.rows.delete(ctx, u.r.ID)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
