-- +goose Up
-- A company's auth version moves in every transaction that ends a session or takes away a user's or
-- the company's access (logout, refresh-token reuse, a new login on the device, an employee deleted, a
-- 1C company batch). The per-request access check reads only this row when the instance has already
-- checked the caller's session at the same version, and runs the full session/user/company check when
-- it moved, so a revocation on any instance refuses the very next request everywhere. A company without
-- a row is at 0.
CREATE TABLE auth_versions (
    company_id BIGINT PRIMARY KEY REFERENCES companies (id),
    version    BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE auth_versions;
