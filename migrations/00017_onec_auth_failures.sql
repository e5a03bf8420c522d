-- +goose Up
-- Failed 1C logins per client address in the current window (FL_ONEC_AUTH_FAILURES per FL_ONEC_AUTH_WINDOW).
-- Kept in the database so every instance behind the load balancer counts the same guesses. The window's
-- end is unix milliseconds: compared in SQL the same way on both dialects.
CREATE TABLE onec_auth_failures (
    client_ip      TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    window_ends_ms BIGINT NOT NULL
);
CREATE INDEX onec_auth_failures_ends ON onec_auth_failures (window_ends_ms);

-- +goose Down
DROP TABLE onec_auth_failures;
