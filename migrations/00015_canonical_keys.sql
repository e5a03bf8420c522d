-- +goose Up
-- GUIDs and ref_keys are case-insensitive (CONTRACT §8) and now arrive lower-cased on every route and in
-- every batch; rows written before that keep the case they came in, so they are lower-cased here. A key
-- that differs from another row's only by case (the old code made a second row) is left as it is: the
-- lower-case row is the one every route finds, and merging two rows with their reports and uploads is a
-- decision for 1C, not for a migration.
UPDATE vehicle_types SET ref_key = lower(ref_key)
WHERE ref_key <> lower(ref_key)
  AND NOT EXISTS (SELECT 1 FROM vehicle_types o WHERE lower(o.ref_key) = lower(vehicle_types.ref_key) AND o.id <> vehicle_types.id);
UPDATE vehicles SET guid = lower(guid)
WHERE guid <> lower(guid)
  AND NOT EXISTS (SELECT 1 FROM vehicles o WHERE lower(o.guid) = lower(vehicles.guid) AND o.id <> vehicles.id);
UPDATE reports SET ref_key = lower(ref_key)
WHERE ref_key <> lower(ref_key)
  AND NOT EXISTS (SELECT 1 FROM reports o WHERE lower(o.ref_key) = lower(reports.ref_key) AND o.id <> reports.id);
-- 1C's empty date 0001-01-01T00:00:00 was stored as a date of year 1: it means "no date".
UPDATE vehicles SET contract_date_end = NULL WHERE contract_date_end < '1000-01-01';

-- +goose Down
-- Nothing to undo: the original case of a key carries no meaning.
SELECT 1;
