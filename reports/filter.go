package reports

import (
	"strconv"
	"strings"
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/apperr"
)

// Filter narrows a list; zero fields mean "any".
type Filter struct {
	Status      int
	DateRange   string
	VehicleGUID string
}

// ParseFilter reads the path segments after /filter/: status_code, date_range_code and, when
// withVehicle, vehicle_guid. Each may be the literal null (any case) or left off from the end.
func ParseFilter(rest string, withVehicle bool) (Filter, error) {
	var f Filter
	rest = strings.Trim(rest, "/")
	var segs []string
	if rest != "" {
		segs = strings.Split(rest, "/")
	}
	max := 2
	if withVehicle {
		max = 3
	}
	if len(segs) > max {
		return f, apperr.New(apperr.Invalid, "invalid_filter", "at most %d filter segments, got %d", max, len(segs))
	}
	seg := func(i int) string {
		if i >= len(segs) || strings.EqualFold(segs[i], "null") {
			return ""
		}
		return segs[i]
	}
	var fields apperr.FieldList
	if s := seg(0); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || statusTitles[n] == "" {
			fields.Add("status_code", "must be one of 1, 2, 3, 4 or null")
		}
		f.Status = n
	}
	if s := seg(1); s != "" {
		if _, ok := dateRangeTitles[s]; !ok {
			fields.Add("date_range_code", "must be one of 1w, 1m, 6m, 1y or null")
		}
		f.DateRange = s
	}
	if s := seg(2); s != "" {
		if len(s) > 64 {
			fields.Add("vehicle_guid", "is too long")
		}
		f.VehicleGUID = inspections.CanonicalKey(s)
	}
	if err := fields.Err(apperr.Invalid, "bad filter"); err != nil {
		return Filter{}, err
	}
	return f, nil
}

// since is the earliest date_start the date range keeps.
func (f Filter) since(now time.Time) (time.Time, bool) {
	switch f.DateRange {
	case "1w":
		return now.AddDate(0, 0, -7), true
	case "1m":
		return now.AddDate(0, -1, 0), true
	case "6m":
		return now.AddDate(0, -6, 0), true
	case "1y":
		return now.AddDate(-1, 0, 0), true
	}
	return time.Time{}, false
}
