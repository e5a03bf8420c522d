package resumable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/media"
)

// s3Backend keeps an upload as one S3 multipart upload over minio-go's multipart API. Each PATCH body is
// spooled to an unlinked temp file a part at a time (never held in memory) and sent as a part of
// partSize bytes; what is left at the end of a PATCH (less than a part) goes to a tail object in the
// bucket, so that any instance can continue, and is prepended to the next PATCH. The part list, the
// multipart id and the offset live in the upload's row.
type s3Backend struct {
	client *minio.Client
	core   minio.Core
	bucket string
	rows   *Store
}

// partSize is the size of every part but the last: above S3's 5 MiB minimum, and the chunk size the
// README recommends, so that a PATCH of that size is one part and leaves no tail.
const partSize = 8 << 20

func newS3Backend(client *minio.Client, bucket string, rows *Store) *s3Backend {
	return &s3Backend{client: client, core: minio.Core{Client: client}, bucket: bucket, rows: rows}
}

func (b *s3Backend) tailKey(r row) string { return r.ObjectKey + ".tail" }

func (b *s3Backend) create(ctx context.Context, r row, _ handler.FileInfo) (handler.Upload, error) {
	id, err := b.core.NewMultipartUpload(ctx, b.bucket, r.ObjectKey, minio.PutObjectOptions{ContentType: "video/mp4"})
	if err != nil {
		return nil, b.fail("start multipart upload", err)
	}
	if err := b.rows.setMultipart(ctx, r.ID, id); err != nil {
		_ = b.core.AbortMultipartUpload(context.WithoutCancel(ctx), b.bucket, r.ObjectKey, id)
		return nil, err
	}
	r.MultipartID = id
	return &s3Upload{b: b, r: r}, nil
}

func (b *s3Backend) open(_ context.Context, r row) (handler.Upload, error) {
	return &s3Upload{b: b, r: r}, nil
}

// forget drops what the store keeps beside a committed video: nothing, on S3.
func (b *s3Backend) forget(context.Context, row) error { return nil }

func (b *s3Backend) fail(op string, err error) error {
	if media.IsS3Unavailable(err) {
		return apperr.Wrap(apperr.Unavailable, err, "the video store is unavailable; the upload keeps what it has, resume later")
	}
	return fmt.Errorf("resumable: s3 %s: %w", op, err)
}

type s3Upload struct {
	b *s3Backend
	r row
}

func (u *s3Upload) GetInfo(context.Context) (handler.FileInfo, error) {
	m, err := u.r.metadata()
	if err != nil {
		return handler.FileInfo{}, err
	}
	return handler.FileInfo{
		ID: u.r.ID, Size: u.r.Size, Offset: u.r.Stored + u.r.Tail, MetaData: m,
		Storage: map[string]string{"Type": "s3", "Bucket": u.b.bucket, "Key": u.r.ObjectKey},
	}, nil
}

func (u *s3Upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	r := u.r
	if offset != r.Stored+r.Tail {
		return 0, handler.ErrMismatchOffset
	}
	parts, err := r.parts()
	if err != nil {
		return 0, err
	}
	spool, err := os.CreateTemp("", "forteleasing-tus-*")
	if err != nil {
		return 0, err
	}
	_ = os.Remove(spool.Name()) // unlinked: the space goes with the descriptor
	defer spool.Close()

	var buffered int64 // bytes in spool: the old tail first, then new bytes
	hadTail := r.Tail > 0
	if hadTail {
		obj, _, _, err := u.b.core.GetObject(ctx, u.b.bucket, u.b.tailKey(r), minio.GetObjectOptions{})
		if err != nil {
			return 0, u.b.fail("read tail", err)
		}
		buffered, err = io.Copy(spool, obj)
		obj.Close()
		if err != nil || buffered != r.Tail {
			return 0, u.b.fail("read tail", fmt.Errorf("got %d of %d bytes: %v", buffered, r.Tail, err))
		}
	}
	before := r.Stored + r.Tail
	srcDone := false
	for !srcDone {
		n, err := io.CopyN(spool, src, partSize-buffered)
		buffered += n
		if err != nil {
			// tusd's body reader ends with io.EOF on every failure of the request body, keeping what came.
			if !errors.Is(err, io.EOF) {
				return u.persisted(before), err
			}
			srcDone = true
		}
		last := r.Stored+buffered == r.Size
		if buffered < partSize && !last {
			continue
		}
		if buffered == 0 {
			break
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return u.persisted(before), err
		}
		n2 := len(parts) + 1
		// No SHA-256 signature of the payload: over plain HTTP minio-go reads the part once more for it,
		// and the upload keeps its own hash of every byte (resumable_uploads.hash_state).
		p, err := u.b.core.PutObjectPart(ctx, u.b.bucket, r.ObjectKey, r.MultipartID, n2, io.LimitReader(spool, buffered), buffered,
			minio.PutObjectPartOptions{DisableContentSha256: true})
		if err != nil {
			return u.persisted(before), u.b.fail("put part", err)
		}
		parts = append(parts, part{N: n2, ETag: p.ETag, Size: buffered})
		if err := u.b.rows.setStored(ctx, &r, parts, r.Stored+buffered, 0); err != nil {
			return u.persisted(before), err
		}
		u.r = r
		buffered = 0
		if err := spool.Truncate(0); err != nil {
			return u.persisted(before), err
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return u.persisted(before), err
		}
		if last {
			break
		}
	}
	if buffered > 0 {
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return u.persisted(before), err
		}
		if _, err := u.b.core.PutObject(ctx, u.b.bucket, u.b.tailKey(r), io.LimitReader(spool, buffered), buffered, "", "",
			minio.PutObjectOptions{DisableContentSha256: true}); err != nil {
			return u.persisted(before), u.b.fail("put tail", err)
		}
		if err := u.b.rows.setStored(ctx, &r, parts, r.Stored, buffered); err != nil {
			return u.persisted(before), err
		}
		u.r = r
	} else if hadTail {
		// The old tail went into a part; the row no longer points at it.
		_ = u.b.client.RemoveObject(ctx, u.b.bucket, u.b.tailKey(r), minio.RemoveObjectOptions{})
	}
	return u.persisted(before), nil
}

// persisted is how many new bytes are safely stored (in parts or the tail) since before.
func (u *s3Upload) persisted(before int64) int64 { return u.r.Stored + u.r.Tail - before }

func (u *s3Upload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	obj, _, _, err := u.b.core.GetObject(ctx, u.b.bucket, u.r.ObjectKey, minio.GetObjectOptions{})
	if err != nil {
		return nil, u.b.fail("read", err)
	}
	return obj, nil
}

func (u *s3Upload) FinishUpload(ctx context.Context) error {
	r := u.r
	parts, err := r.parts()
	if err != nil {
		return err
	}
	done := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		done[i] = minio.CompletePart{PartNumber: p.N, ETag: p.ETag}
	}
	if _, err := u.b.core.CompleteMultipartUpload(ctx, u.b.bucket, r.ObjectKey, r.MultipartID, done, minio.PutObjectOptions{ContentType: "video/mp4"}); err != nil {
		// A completion whose answer was lost leaves the object in place and the multipart id unknown.
		if info, serr := u.b.client.StatObject(ctx, u.b.bucket, r.ObjectKey, minio.StatObjectOptions{}); serr == nil && info.Size == r.Size {
			return nil
		}
		return u.b.fail("complete multipart upload", err)
	}
	return nil
}

func (u *s3Upload) terminate(ctx context.Context) error {
	r := u.r
	ids := []string{r.MultipartID}
	if r.MultipartID == "" {
		// The process died between starting the multipart upload and recording its id (create): S3
		// knows the upload by its key, and its parts would cost storage for ever.
		var err error
		if ids, err = u.b.incomplete(ctx, r.ObjectKey); err != nil {
			return err
		}
	}
	for _, id := range ids {
		err := u.b.core.AbortMultipartUpload(ctx, u.b.bucket, r.ObjectKey, id)
		if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			return u.b.fail("abort multipart upload", err)
		}
	}
	for _, key := range []string{u.b.tailKey(r), r.ObjectKey} {
		if err := u.b.client.RemoveObject(ctx, u.b.bucket, key, minio.RemoveObjectOptions{}); err != nil {
			return u.b.fail("remove", err)
		}
	}
	return nil
}

// incomplete lists the ids of the multipart uploads in progress for key.
func (b *s3Backend) incomplete(ctx context.Context, key string) ([]string, error) {
	var ids []string
	for u := range b.client.ListIncompleteUploads(ctx, b.bucket, key, false) {
		if u.Err != nil {
			return nil, b.fail("list multipart uploads", u.Err)
		}
		if u.Key == key {
			ids = append(ids, u.UploadID)
		}
	}
	return ids, nil
}
