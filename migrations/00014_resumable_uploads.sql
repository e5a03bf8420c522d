-- +goose Up
-- Resumable (tus) uploads in progress (CONTRACT §9). The row is the upload's state that every instance
-- shares: owner, the validated fields, how far the bytes got, and — on S3 — the multipart upload and its
-- parts. The bytes themselves are in the object store (or tusd's file store on disk).
CREATE TABLE resumable_uploads (
    id           TEXT PRIMARY KEY,
    company_id   BIGINT NOT NULL REFERENCES companies (id),
    uploader_id  BIGINT NOT NULL REFERENCES users (id),
    meta         TEXT NOT NULL,             -- JSON: the Upload-Metadata fields as sent
    size         BIGINT NOT NULL,
    received     BIGINT NOT NULL DEFAULT 0, -- bytes stored so far (the tus offset)
    object_key   TEXT NOT NULL,
    multipart_id TEXT NOT NULL DEFAULT '',  -- S3 only
    parts        TEXT NOT NULL DEFAULT '[]', -- S3 only: JSON [{"n","etag","size"}]
    stored       BIGINT NOT NULL DEFAULT 0, -- S3 only: bytes in parts
    tail         BIGINT NOT NULL DEFAULT 0, -- S3 only: bytes waiting in the tail object
    hashed       BIGINT NOT NULL DEFAULT 0, -- bytes hash_state covers; -1 when it must be recomputed
    hash_state   TEXT NOT NULL DEFAULT '',  -- hex of the SHA-256 state after hashed bytes
    finished     BOOLEAN NOT NULL DEFAULT FALSE,
    upload_id    BIGINT REFERENCES uploads (id),
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL       -- 24 h after the last PATCH
);
CREATE INDEX resumable_uploads_expiry ON resumable_uploads (expires_at);

-- The tus lock of an upload, shared by every instance: a lease its holder renews while it works.
CREATE TABLE resumable_locks (
    upload_id         TEXT PRIMARY KEY,
    holder            TEXT NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    release_requested BOOLEAN NOT NULL DEFAULT FALSE
);

-- +goose Down
DROP TABLE resumable_locks;
DROP TABLE resumable_uploads;
