-- +goose Up
-- The report lists' caches are checked against their own company's versions instead of the one global
-- change counter (which stays, for the 1C feed's cursor): a write to one company's reports no longer
-- throws away every other company's cached answers. reports counts the writes to the company's reports,
-- fleet those to its vehicles and to the vehicle types every company's lists show, so a new report
-- keeps the cached types and filter block. A company without a row is at 0, 0.
CREATE TABLE list_versions (
    company_id BIGINT PRIMARY KEY REFERENCES companies (id),
    reports    BIGINT NOT NULL DEFAULT 0,
    fleet      BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE list_versions;
