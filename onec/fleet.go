package onec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/reports"
)

// VehicleType is one item of PUT /1c/vehicle-types.
type VehicleType struct {
	RefKey         string   `json:"ref_key"`
	Title          string   `json:"title"`
	Instructions   []string `json:"instructions"`
	ImagePNGBase64 *string  `json:"image_png_base64"`
	DataVersion    Version  `json:"data_version"`

	image []byte // decoded PNG; nil keeps the stored one when image_png_base64 is absent
	etag  string
}

// Vehicle is one item of PUT /1c/vehicles.
type Vehicle struct {
	VehicleGUID     string  `json:"vehicle_guid"`
	BIIN            string  `json:"biin"`
	VehicleTypeCode string  `json:"vehicle_type_code"`
	VINCode         string  `json:"vin_code"`
	PlateNumber     string  `json:"plate_number"`
	ContractNumber  string  `json:"contract_number"`
	ContractDateEnd string  `json:"contract_date_end"`
	DataVersion     Version `json:"data_version"`

	contractEnd *time.Time
}

// Report is one item of PUT /1c/reports.
type Report struct {
	RefKey         string  `json:"ref_key"`
	ReportNumber   string  `json:"report_number"`
	ContractNumber string  `json:"contract_number"`
	VehicleGUID    string  `json:"vehicle_guid"`
	DateStart      string  `json:"date_start"`
	DateFinish     string  `json:"date_finish"`
	StatusCode     int     `json:"status_code"`
	RejectReason   string  `json:"reject_reason"`
	DataVersion    Version `json:"data_version"`

	start, finish time.Time
}

const (
	maxKey       = 64
	maxText      = 300
	maxImage     = 2 << 20
	maxSteps     = 50
	maxReason    = 2000
	pngSignature = "\x89PNG\r\n\x1a\n"
)

// checkKey validates a 1C GUID-like key and reports duplicates within the batch.
func checkKey(fields *apperr.FieldList, i int, name, v string, seen map[string]int) {
	switch {
	case v == "":
		fields.AddAt(i, name, "is required")
	case len(v) > maxKey || strings.ContainsAny(v, "/?#% \t\n\\"):
		fields.AddAt(i, name, "must be at most %d characters without spaces, slashes or ?#%%", maxKey)
	default:
		if j, dup := seen[v]; dup {
			fields.AddAt(i, name, "appears twice in the batch (also at index %d)", j)
		}
		seen[v] = i
	}
}

func validateVehicleTypes(items []VehicleType) error {
	var fields apperr.FieldList
	seen := map[string]int{}
	for i := range items {
		t := &items[i]
		t.RefKey, t.Title = inspections.CanonicalKey(t.RefKey), strings.TrimSpace(t.Title)
		checkKey(&fields, i, "ref_key", t.RefKey, seen)
		if t.Title == "" || len(t.Title) > maxText {
			fields.AddAt(i, "title", "is required, at most %d characters", maxText)
		}
		if len(t.Instructions) > maxSteps {
			fields.AddAt(i, "instructions", "at most %d steps", maxSteps)
		}
		for j, s := range t.Instructions {
			if strings.TrimSpace(s) == "" || len(s) > maxText*2 {
				fields.AddAt(i, "instructions", "step %d must be non-empty, at most %d characters", j+1, maxText*2)
			}
		}
		if t.Instructions == nil {
			t.Instructions = []string{}
		}
		if t.ImagePNGBase64 != nil && *t.ImagePNGBase64 != "" {
			img, err := base64.StdEncoding.DecodeString(*t.ImagePNGBase64)
			switch {
			case err != nil:
				fields.AddAt(i, "image_png_base64", "is not valid base64")
			case len(img) > maxImage:
				fields.AddAt(i, "image_png_base64", "the image is larger than %d bytes", maxImage)
			case !bytes.HasPrefix(img, []byte(pngSignature)):
				fields.AddAt(i, "image_png_base64", "is not a PNG image")
			default:
				sum := sha256.Sum256(img)
				t.image, t.etag = img, `"`+hex.EncodeToString(sum[:8])+`"`
			}
		}
	}
	return fields.Err(apperr.Unprocessable, "some items are invalid; nothing was written")
}

func validateVehicles(items []Vehicle) error {
	var fields apperr.FieldList
	seen := map[string]int{}
	for i := range items {
		v := &items[i]
		v.VehicleGUID, v.BIIN, v.VehicleTypeCode = inspections.CanonicalKey(v.VehicleGUID), strings.TrimSpace(v.BIIN), inspections.CanonicalKey(v.VehicleTypeCode)
		v.VINCode, v.PlateNumber = strings.ToUpper(strings.TrimSpace(v.VINCode)), strings.TrimSpace(v.PlateNumber)
		v.ContractNumber = strings.TrimSpace(v.ContractNumber)
		checkKey(&fields, i, "vehicle_guid", v.VehicleGUID, seen)
		if v.BIIN == "" {
			fields.AddAt(i, "biin", "is required")
		}
		if v.VehicleTypeCode == "" {
			fields.AddAt(i, "vehicle_type_code", "is required")
		}
		for name, s := range map[string]string{"vin_code": v.VINCode, "plate_number": v.PlateNumber, "contract_number": v.ContractNumber} {
			if len(s) > maxText {
				fields.AddAt(i, name, "must be at most %d characters", maxText)
			}
		}
		// 1C's empty date (0001-01-01T00:00:00) is "no date", like "".
		if t, ok, err := reports.ParseOptionalDateTime(v.ContractDateEnd); err != nil {
			fields.AddAt(i, "contract_date_end", "%v", err)
		} else if ok {
			v.contractEnd = &t
		}
	}
	return fields.Err(apperr.Unprocessable, "some items are invalid; nothing was written")
}

func validateReports(items []Report) error {
	var fields apperr.FieldList
	seen := map[string]int{}
	for i := range items {
		r := &items[i]
		r.RefKey, r.VehicleGUID = inspections.CanonicalKey(r.RefKey), inspections.CanonicalKey(r.VehicleGUID)
		r.ReportNumber, r.ContractNumber = strings.TrimSpace(r.ReportNumber), strings.TrimSpace(r.ContractNumber)
		checkKey(&fields, i, "ref_key", r.RefKey, seen)
		if r.VehicleGUID == "" {
			fields.AddAt(i, "vehicle_guid", "is required")
		}
		if r.ReportNumber == "" || len(r.ReportNumber) > maxKey {
			fields.AddAt(i, "report_number", "is required, at most %d characters", maxKey)
		}
		if len(r.ContractNumber) > maxText {
			fields.AddAt(i, "contract_number", "must be at most %d characters", maxText)
		}
		r.start = requiredDate(&fields, i, "date_start", r.DateStart)
		r.finish = requiredDate(&fields, i, "date_finish", r.DateFinish)
		if !r.start.IsZero() && !r.finish.IsZero() && r.finish.Before(r.start) {
			fields.AddAt(i, "date_finish", "must not be before date_start")
		}
		if r.StatusCode < 1 || r.StatusCode > 4 {
			fields.AddAt(i, "status_code", "must be 1, 2, 3 or 4")
		}
		if r.StatusCode == reports.StatusRejected && strings.TrimSpace(r.RejectReason) == "" {
			fields.AddAt(i, "reject_reason", "is required for status 4")
		}
		if len(r.RejectReason) > maxReason {
			fields.AddAt(i, "reject_reason", "must be at most %d characters", maxReason)
		}
	}
	return fields.Err(apperr.Unprocessable, "some items are invalid; nothing was written")
}

// requiredDate parses a date a report cannot go without: "" and 1C's empty date are "required".
func requiredDate(fields *apperr.FieldList, i int, name, s string) time.Time {
	t, ok, err := reports.ParseOptionalDateTime(s)
	switch {
	case err != nil:
		fields.AddAt(i, name, "%v", err)
	case !ok:
		fields.AddAt(i, name, "is required (1C's empty date 0001-01-01T00:00:00 is no date)")
	}
	return t
}

// UpsertVehicleTypes validates the batch, then writes it in one transaction.
func (s *Service) UpsertVehicleTypes(ctx context.Context, items []VehicleType) (Result, error) {
	if err := validateVehicleTypes(items); err != nil {
		return Result{}, err
	}
	return s.store.upsertVehicleTypes(ctx, items, s.now())
}

// UpsertVehicles validates the batch, then writes it in one transaction; an unknown biin or type is a 422.
func (s *Service) UpsertVehicles(ctx context.Context, items []Vehicle) (Result, error) {
	if err := validateVehicles(items); err != nil {
		return Result{}, err
	}
	return s.store.upsertVehicles(ctx, items, s.now())
}

// UpsertReports validates the batch, then writes it in one transaction; an unknown vehicle is a 422.
// Reports that arrive new with status 1 are returned, and their pushes queued in the same transaction.
func (s *Service) UpsertReports(ctx context.Context, items []Report) (Result, []NewTask, error) {
	if err := validateReports(items); err != nil {
		return Result{}, nil, err
	}
	return s.store.upsertReports(ctx, items, s.now(), func(tx *sql.Tx, tasks []NewTask) error {
		if s.notify == nil {
			return nil
		}
		return s.notify.NewTasks(ctx, tx, tasks)
	})
}

// NewTask is a report that appeared with status 1: the app's users should be told.
type NewTask struct {
	CompanyID    int64
	RefKey       string
	ReportNumber string
}
