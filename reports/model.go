// Package reports serves the mobile app's inspection tasks ("reports"): the general and per-vehicle
// filters, a vehicle's reports, and the reports/info/filter blocks of the login answer (CONTRACT §3).
package reports

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/forteleasing/inspections"
)

// Status codes of CONTRACT §3.
const (
	StatusToSubmit = inspections.ReportToSubmit
	StatusSent     = inspections.ReportSent
	StatusApproved = inspections.ReportApproved
	StatusRejected = inspections.ReportRejected
)

var statusTitles = map[int]string{
	StatusToSubmit: "Сдать Отчет",
	StatusSent:     "Отправлено",
	StatusApproved: "Одобрено",
	StatusRejected: "Отказано",
}

// StatusTitle is the Russian title the app shows for a status code.
func StatusTitle(code int) string { return statusTitles[code] }

var dateRangeTitles = map[string]string{"1w": "Неделя", "1m": "Месяц", "6m": "Полгода", "1y": "Год"}

// The seed's order of the filter block's objects: apps that keep the arrival order of keys show the
// chips in it (a Go map would sort them: 1m, 1w, 1y, 6m).
var (
	statusOrder    = []string{"1", "2", "3", "4"}
	dateRangeOrder = []string{"1w", "1m", "6m", "1y"}
)

// important reports need the user's action: to submit, or rejected and to submit again.
func important(status int) bool { return status == StatusToSubmit || status == StatusRejected }

// Kazakhstan is UTC+5 all year; a fixed zone needs no tz database on the server.
var kz = time.FixedZone("UTC+5", 5*60*60)

// KZ is the zone of every date-time in payloads.
func KZ() *time.Location { return kz }

const dateTimeLayout = "2006-01-02T15:04:05"

// FormatDateTime renders t as the seed does: local time without a zone.
func FormatDateTime(t time.Time) string { return t.In(kz).Format(dateTimeLayout) }

// ParseDateTime reads a local Kazakhstan date-time as 1C sends it (also accepts a date, or an explicit zone).
func ParseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{dateTimeLayout, "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, kz); err == nil {
			return t.UTC(), nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("want yyyy-mm-ddThh:mm:ss, got %q", s)
}

// IsNoDate reports whether t is 1C's empty date, 0001-01-01T00:00:00 ("no date"): any moment of year 1.
func IsNoDate(t time.Time) bool { return t.In(kz).Year() <= 1 }

// ParseOptionalDateTime is ParseDateTime for a date 1C may leave empty: "" and 1C's empty date give
// ok=false and no error.
func ParseOptionalDateTime(s string) (t time.Time, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false, nil
	}
	if t, err = ParseDateTime(s); err != nil {
		return time.Time{}, false, err
	}
	if IsNoDate(t) {
		return time.Time{}, false, nil
	}
	return t, true, nil
}

var genitiveMonths = [...]string{"января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"}

// RenderDate is "03 марта 2022".
func RenderDate(t time.Time) string {
	t = t.In(kz)
	return fmt.Sprintf("%02d %s %d", t.Day(), genitiveMonths[t.Month()-1], t.Year())
}

// Item is one report in the general lists; keys follow the seed.
type Item struct {
	RefKey             string `json:"ref_key"`
	ReportNumber       string `json:"report_number"`
	ContractNumber     string `json:"contract_number"`
	DateStartRender    string `json:"date_start_render"`
	DateStartDatetime  string `json:"date_start_datetime"`
	DateFinishRender   string `json:"date_finish_render"`
	DateFinishDatetime string `json:"date_finish_datetime"`
	StatusTitle        string `json:"status_title"`
	StatusCode         int    `json:"status_code"`
	StatusExpiredTitle string `json:"status_expired_title"`
	StatusExpiredBool  bool   `json:"status_expired_bool"`
	RejectReason       string `json:"reject_reason"`
	VINCode            string `json:"vin_code"`
	PlateNumber        string `json:"plate_number"`
	VehicleGUID        string `json:"vehicle_guid"`
	VehicleTypeCode    string `json:"vehicle_type_code"`
}

// VehicleItem is one vehicle of the vehicle filter, carrying its most important report.
type VehicleItem struct {
	RefKey                    string `json:"ref_key"`
	ReportStatusPriorityTitle string `json:"report_status_priority_title"`
	ReportStatusPriorityCode  int    `json:"report_status_priority_code"`
	StatusExpiredTitle        string `json:"status_expired_title"`
	StatusExpiredBool         bool   `json:"status_expired_bool"`
	VINCode                   string `json:"vin_code"`
	PlateNumber               string `json:"plate_number"`
	VehicleGUID               string `json:"vehicle_guid"`
	VehicleTypeCode           string `json:"vehicle_type_code"`
}

// Lists splits reports into the seed's important (1, 4) and general (2, 3) arrays; both are always arrays.
type Lists[T any] struct {
	Important []T `json:"important"`
	General   []T `json:"general"`
}

func newLists[T any]() Lists[T] { return Lists[T]{Important: []T{}, General: []T{}} }

func (l *Lists[T]) add(status int, item T) {
	if important(status) {
		l.Important = append(l.Important, item)
	} else {
		l.General = append(l.General, item)
	}
}

// expired: the deadline has passed and the report still waits for the user.
func expired(status int, finish, now time.Time) (bool, string) {
	if important(status) && now.After(finish) {
		return true, "Просрочено"
	}
	return false, ""
}

// Instructions marshal as the seed shows them: {"1": "...", "2": "..."}, or [] when there are none.
type Instructions []string

func (in Instructions) MarshalJSON() ([]byte, error) {
	if len(in) == 0 {
		return []byte("[]"), nil
	}
	buf := []byte{'{'}
	for i, s := range in {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, strconv.Itoa(i+1))
		buf = append(buf, ':')
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		buf = append(buf, b...)
	}
	return append(buf, '}'), nil
}

// TypeInfo is an entry of info.by_vehicle_type_code.
type TypeInfo struct {
	VehicleTypeTitle string        `json:"vehicle_type_title"`
	Instructions     *Instructions `json:"instructions,omitempty"`
}

// This is info.this of the vehicle select answer.
type This struct {
	ContractNumber  string `json:"contract_number"`
	ContractDateEnd string `json:"contract_date_end"`
	PlateNumber     string `json:"plate_number"`
	VINCode         string `json:"vin_code"`
	ImagePath       string `json:"image_path"`
}

// FilterBlock is the "filter" object: statuses, vehicles by type and date ranges.
type FilterBlock struct {
	Status      Titles         `json:"status"`
	VehicleType []TypeVehicles `json:"vehicle_type,omitempty"`
	DateRange   Titles         `json:"date_range"`
}

// Titles is a JSON object of codes and their titles, written in the order of its entries.
type Titles []Title

type Title struct{ Code, Title string }

func (ts Titles) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, t := range ts {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, err := json.Marshal(t.Code)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(t.Title)
		if err != nil {
			return nil, err
		}
		buf = append(append(append(buf, k...), ':'), v...)
	}
	return append(buf, '}'), nil
}

// TypeVehicles lists a type's vehicles: the director's answer uses "vehicles", the employee's "plate_numbers"
// (the seed shows both); both are filled, extra keys being harmless.
type TypeVehicles struct {
	RefKey       string         `json:"ref_key"`
	Vehicles     []VehicleBrief `json:"vehicles"`
	PlateNumbers []string       `json:"plate_numbers"`
}

type VehicleBrief struct {
	VehicleGUID string `json:"vehicle_guid"`
	PlateNumber string `json:"plate_number"`
}

func statusFilter() Titles {
	ts := make(Titles, len(statusOrder))
	for i, code := range statusOrder {
		n, _ := strconv.Atoi(code)
		ts[i] = Title{Code: code, Title: statusTitles[n]}
	}
	return ts
}

func dateRanges() Titles {
	ts := make(Titles, len(dateRangeOrder))
	for i, code := range dateRangeOrder {
		ts[i] = Title{Code: code, Title: dateRangeTitles[code]}
	}
	return ts
}
