-- +goose Up
-- The filter block lists a company's vehicles by type and plate: this index hands them over in order.
CREATE INDEX vehicles_company_type_plate ON vehicles (company_id, vehicle_type_id, plate_number, guid);
-- The vehicle filter walks a company's vehicles by plate and takes each one's most important report.
CREATE INDEX vehicles_company_plate ON vehicles (company_id, plate_number, guid);
CREATE INDEX reports_vehicle_priority ON reports (vehicle_id,
    (CASE status_code WHEN 4 THEN 0 WHEN 1 THEN 1 WHEN 2 THEN 2 ELSE 3 END), date_start DESC, id DESC);

-- +goose Down
DROP INDEX reports_vehicle_priority;
DROP INDEX vehicles_company_plate;
DROP INDEX vehicles_company_type_plate;
