-- +goose Up
-- When the server began to receive an upload: the plain request's start, or the tus upload's
-- creation (a resumable upload may take far longer than the clock_skew tolerance to arrive). NULL for
-- uploads recorded before it; their receipt time is created_at.
ALTER TABLE uploads ADD COLUMN started_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE uploads DROP COLUMN started_at;
