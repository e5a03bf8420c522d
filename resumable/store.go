package resumable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/forteleasing/inspections/internal/database"
)

// Store holds every query of resumable uploads: their rows and their locks.
type Store struct{ db *database.DB }

func NewStore(db *database.DB) *Store { return &Store{db: db} }

// row is one upload's shared state.
type row struct {
	ID          string    `db:"id"`
	CompanyID   int64     `db:"company_id"`
	UploaderID  int64     `db:"uploader_id"`
	Meta        string    `db:"meta"`
	Size        int64     `db:"size"`
	Received    int64     `db:"received"`
	ObjectKey   string    `db:"object_key"`
	MultipartID string    `db:"multipart_id"`
	Parts       string    `db:"parts"`
	Stored      int64     `db:"stored"`
	Tail        int64     `db:"tail"`
	Hashed      int64     `db:"hashed"`
	HashState   string    `db:"hash_state"`
	Finished    bool      `db:"finished"`
	UploadID    *int64    `db:"upload_id"`
	CreatedAt   time.Time `db:"created_at"`
	ExpiresAt   time.Time `db:"expires_at"`
}

// part is one S3 part already in the multipart upload.
type part struct {
	N    int    `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

func (r row) parts() ([]part, error) {
	var ps []part
	if err := json.Unmarshal([]byte(r.Parts), &ps); err != nil {
		return nil, fmt.Errorf("resumable: parts of %s: %w", r.ID, err)
	}
	return ps, nil
}

func (r row) metadata() (map[string]string, error) {
	m := map[string]string{}
	if err := json.Unmarshal([]byte(r.Meta), &m); err != nil {
		return nil, fmt.Errorf("resumable: metadata of %s: %w", r.ID, err)
	}
	return m, nil
}

var errNoRow = errors.New("resumable: no such upload")

const rowColumns = `id, company_id, uploader_id, meta, size, received, object_key, multipart_id, parts, stored, tail, hashed,
	hash_state, finished, upload_id, created_at, expires_at`

func (s *Store) insert(ctx context.Context, r row) error {
	_, err := s.db.NamedExecContext(ctx, `
		INSERT INTO resumable_uploads (`+rowColumns+`)
		VALUES (:id, :company_id, :uploader_id, :meta, :size, :received, :object_key, :multipart_id, :parts, :stored, :tail, :hashed,
			:hash_state, :finished, :upload_id, :created_at, :expires_at)`, r)
	return err
}

func (s *Store) get(ctx context.Context, id string) (row, error) {
	var r row
	err := s.db.GetContext(ctx, &r, `SELECT `+rowColumns+` FROM resumable_uploads WHERE id = $1`, id)
	if database.IsNoRows(err) {
		return r, errNoRow
	}
	return r, err
}

// setMultipart records the S3 multipart upload an upload's bytes go to.
func (s *Store) setMultipart(ctx context.Context, id, multipartID string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE resumable_uploads SET multipart_id = $2 WHERE id = $1`, id, multipartID)
	return err
}

// setStored records the S3 parts and tail after bytes were stored, in the row and in r.
func (s *Store) setStored(ctx context.Context, r *row, parts []part, stored, tail int64) error {
	b, err := json.Marshal(parts)
	if err != nil {
		return err
	}
	if _, err = s.db.ExecContext(ctx, `UPDATE resumable_uploads SET parts = $2, stored = $3, tail = $4 WHERE id = $1`,
		r.ID, string(b), stored, tail); err != nil {
		return err
	}
	r.Parts, r.Stored, r.Tail = string(b), stored, tail
	return nil
}

// touch records a PATCH: the new offset, the hash state after it and the new expiry.
func (s *Store) touch(ctx context.Context, id string, received, hashed int64, hashState string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE resumable_uploads SET received = $2, hashed = $3, hash_state = $4, expires_at = $5 WHERE id = $1`,
		id, received, hashed, hashState, expires)
	return err
}

func (s *Store) setFinished(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE resumable_uploads SET finished = TRUE WHERE id = $1`, id)
	return err
}

// setCommitted links the upload to the report's upload row once the commit went through.
func (s *Store) setCommitted(ctx context.Context, id, objectKey string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE resumable_uploads SET upload_id = (SELECT u.id FROM uploads u WHERE u.object_key = $2) WHERE id = $1`, id, objectKey)
	return err
}

func (s *Store) delete(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM resumable_uploads WHERE id = $1`, id)
	return err
}

// expired lists up to limit uploads whose expiry passed, oldest first.
func (s *Store) expired(ctx context.Context, now time.Time, limit int) ([]row, error) {
	var rows []row
	err := s.db.SelectContext(ctx, &rows, `SELECT `+rowColumns+` FROM resumable_uploads
		WHERE expires_at < $1 ORDER BY expires_at LIMIT $2`, now, limit)
	return rows, err
}

// recorded reports whether an upload row of the reports feature points at objectKey: a commit whose
// outcome was unknown may have gone through.
func (s *Store) recorded(ctx context.Context, objectKey string) (bool, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM uploads WHERE object_key = $1`, objectKey)
	return n > 0, err
}

// tryLock takes the lock of id for holder until expires, when it is free or its lease ran out.
func (s *Store) tryLock(ctx context.Context, id, holder string, now, expires time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO resumable_locks (upload_id, holder, expires_at, release_requested) VALUES ($1, $2, $3, FALSE)
		ON CONFLICT (upload_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, release_requested = FALSE
		WHERE resumable_locks.expires_at < $4`, id, holder, expires, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// requestRelease asks the holder of id's lock to let go (tus: a new request for an upload interrupts
// the one that holds it, e.g. a PATCH whose client is long gone).
func (s *Store) requestRelease(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE resumable_locks SET release_requested = TRUE WHERE upload_id = $1`, id)
	return err
}

// renew extends holder's lease and says whether someone asked for the lock; held is false when the
// lease was lost.
func (s *Store) renew(ctx context.Context, id, holder string, expires time.Time) (held, releaseRequested bool, err error) {
	err = s.db.GetContext(ctx, &releaseRequested, `
		UPDATE resumable_locks SET expires_at = $3 WHERE upload_id = $1 AND holder = $2 RETURNING release_requested`,
		id, holder, expires)
	if database.IsNoRows(err) {
		return false, false, nil
	}
	return err == nil, releaseRequested, err
}

func (s *Store) unlock(ctx context.Context, id, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM resumable_locks WHERE upload_id = $1 AND holder = $2`, id, holder)
	return err
}
