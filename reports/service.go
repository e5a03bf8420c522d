package reports

import (
	"context"
	"time"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/httpx"
)

// Paging limits of every list.
const (
	DefaultLimit = 100
	MaxLimit     = 500
	// filterVehicleCap bounds the vehicles listed in the filter block; a fleet larger than this is
	// browsed with the vehicle filter, which pages.
	filterVehicleCap = 500
)

// Page is the requested slice of a list.
type Page struct{ Limit, Offset int }

// Service builds the answers of the report endpoints.
type Service struct {
	store     *Store
	employees inspections.Employees
	publicURL string
	now       func() time.Time
	cache     caches
}

type fleetBlocks struct {
	types  map[string]TypeInfo
	filter FilterBlock
}

func NewService(store *Store, employees inspections.Employees, publicURL string, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, employees: employees, publicURL: publicURL, now: now, cache: newCaches(now)}
}

// GeneralAnswer is the answer of the general filter.
type GeneralAnswer struct {
	Reports    Lists[Item] `json:"reports"`
	Info       Info        `json:"info"`
	Filter     FilterBlock `json:"filter"`
	NextOffset *int        `json:"next_offset,omitempty"`
}

type Info struct {
	ByVehicleTypeCode map[string]TypeInfo `json:"by_vehicle_type_code"`
	This              *This               `json:"this,omitempty"`
}

func (s *Service) resolve(ctx context.Context, p auth.Principal, f Filter, page Page) (resolvedFilter, error) {
	now := s.now().UTC()
	r := resolvedFilter{Status: f.Status, Limit: page.Limit, Offset: page.Offset}
	r.Since, r.HasSince = f.since(now)
	r.Until = now
	if f.VehicleGUID != "" {
		v, err := s.store.vehicle(ctx, p.CompanyID, f.VehicleGUID)
		if err != nil {
			return r, err
		}
		r.VehicleID = v.ID
	}
	if r.Limit <= 0 {
		r.Limit = DefaultLimit
	}
	// One row more than asked tells whether another page exists.
	r.Limit++
	return r, nil
}

func nextOffset[T any](rows []T, page resolvedFilter) ([]T, *int) {
	if len(rows) < page.Limit {
		return rows, nil
	}
	n := page.Offset + page.Limit - 1
	return rows[:page.Limit-1], &n
}

// General lists the company's reports for the general filter.
func (s *Service) General(ctx context.Context, p auth.Principal, f Filter, page Page) (GeneralAnswer, error) {
	v, err := s.versionsOf(ctx, p)
	if err != nil {
		return GeneralAnswer{}, err
	}
	return s.general(ctx, p, f, page, v)
}

func (s *Service) general(ctx context.Context, p auth.Principal, f Filter, page Page, v versions) (GeneralAnswer, error) {
	rf, err := s.resolve(ctx, p, f, page)
	if err != nil {
		return GeneralAnswer{}, err
	}
	rows, err := s.store.list(ctx, p.CompanyID, rf)
	if err != nil {
		return GeneralAnswer{}, err
	}
	rows, next := nextOffset(rows, rf)
	fleet, err := s.fleetOf(ctx, p, v.fleet)
	if err != nil {
		return GeneralAnswer{}, err
	}
	return GeneralAnswer{Reports: s.items(rows), Info: Info{ByVehicleTypeCode: fleet.types}, Filter: fleet.filter, NextOffset: next}, nil
}

func (s *Service) items(rows []reportRow) Lists[Item] {
	now := s.now()
	l := newLists[Item]()
	for _, r := range rows {
		exp, expTitle := expired(r.StatusCode, r.DateFinish, now)
		l.add(r.StatusCode, Item{
			RefKey: r.RefKey, ReportNumber: r.ReportNumber, ContractNumber: r.ContractNumber,
			DateStartRender: RenderDate(r.DateStart), DateStartDatetime: FormatDateTime(r.DateStart),
			DateFinishRender: RenderDate(r.DateFinish), DateFinishDatetime: FormatDateTime(r.DateFinish),
			StatusTitle: StatusTitle(r.StatusCode), StatusCode: r.StatusCode,
			StatusExpiredTitle: expTitle, StatusExpiredBool: exp, RejectReason: r.RejectReason,
			VINCode: r.VINCode, PlateNumber: r.PlateNumber, VehicleGUID: r.VehicleGUID, VehicleTypeCode: r.VehicleTypeCode,
		})
	}
	return l
}

func (s *Service) filterBlock(ctx context.Context, p auth.Principal) (FilterBlock, error) {
	briefs, err := s.store.vehicleBriefs(ctx, p.CompanyID, filterVehicleCap)
	if err != nil {
		return FilterBlock{}, err
	}
	types := []TypeVehicles{}
	for _, b := range briefs {
		if len(types) == 0 || types[len(types)-1].RefKey != b.TypeCode {
			types = append(types, TypeVehicles{RefKey: b.TypeCode, Vehicles: []VehicleBrief{}, PlateNumbers: []string{}})
		}
		t := &types[len(types)-1]
		t.Vehicles = append(t.Vehicles, VehicleBrief{VehicleGUID: b.GUID, PlateNumber: b.PlateNumber})
		t.PlateNumbers = append(t.PlateNumbers, b.PlateNumber)
	}
	return FilterBlock{Status: statusFilter(), VehicleType: types, DateRange: dateRanges()}, nil
}

// VehicleAnswer is the answer of the vehicle filter.
type VehicleAnswer struct {
	Reports    Lists[VehicleItem] `json:"reports"`
	Info       Info               `json:"info"`
	Filter     FilterBlock        `json:"filter"`
	NextOffset *int               `json:"next_offset,omitempty"`
}

// ByVehicle lists one row per vehicle with its most important report.
func (s *Service) ByVehicle(ctx context.Context, p auth.Principal, f Filter, page Page) (VehicleAnswer, error) {
	v, err := s.versionsOf(ctx, p)
	if err != nil {
		return VehicleAnswer{}, err
	}
	return s.byVehicle(ctx, p, f, page, v)
}

func (s *Service) byVehicle(ctx context.Context, p auth.Principal, f Filter, page Page, v versions) (VehicleAnswer, error) {
	rf, err := s.resolve(ctx, p, f, page)
	if err != nil {
		return VehicleAnswer{}, err
	}
	rows, err := s.store.byVehicle(ctx, p.CompanyID, rf)
	if err != nil {
		return VehicleAnswer{}, err
	}
	rows, next := nextOffset(rows, rf)
	fleet, err := s.fleetOf(ctx, p, v.fleet)
	if err != nil {
		return VehicleAnswer{}, err
	}
	types := make(map[string]TypeInfo, len(fleet.types))
	for k, t := range fleet.types {
		t.Instructions = nil // the seed's vehicle filter shows titles only
		types[k] = t
	}
	now := s.now()
	l := newLists[VehicleItem]()
	for _, r := range rows {
		exp, expTitle := expired(r.StatusCode, r.DateFinish, now)
		l.add(r.StatusCode, VehicleItem{
			RefKey: r.RefKey, ReportStatusPriorityTitle: StatusTitle(r.StatusCode), ReportStatusPriorityCode: r.StatusCode,
			StatusExpiredTitle: expTitle, StatusExpiredBool: exp,
			VINCode: r.VINCode, PlateNumber: r.PlateNumber, VehicleGUID: r.VehicleGUID, VehicleTypeCode: r.VehicleTypeCode,
		})
	}
	return VehicleAnswer{Reports: l, Info: Info{ByVehicleTypeCode: types},
		Filter: FilterBlock{Status: statusFilter(), DateRange: dateRanges()}, NextOffset: next}, nil
}

// SelectAnswer is the answer of the vehicle select.
type SelectAnswer struct {
	Reports    Lists[Item] `json:"reports"`
	Info       Info        `json:"info"`
	NextOffset *int        `json:"next_offset,omitempty"`
}

// Vehicle lists one vehicle's reports with info.this.
func (s *Service) Vehicle(ctx context.Context, p auth.Principal, guid string, page Page) (SelectAnswer, error) {
	v, err := s.store.vehicle(ctx, p.CompanyID, guid)
	if err != nil {
		return SelectAnswer{}, err
	}
	rf, err := s.resolve(ctx, p, Filter{}, page)
	if err != nil {
		return SelectAnswer{}, err
	}
	rf.VehicleID = v.ID
	rows, err := s.store.list(ctx, p.CompanyID, rf)
	if err != nil {
		return SelectAnswer{}, err
	}
	rows, next := nextOffset(rows, rf)
	types, _, err := s.store.types(ctx, p.CompanyID, v.ID)
	if err != nil {
		return SelectAnswer{}, err
	}
	this := &This{ContractNumber: v.ContractNumber, PlateNumber: v.PlateNumber, VINCode: v.VINCode,
		ImagePath: s.publicURL + "/images/" + v.TypeCode + "/image.png"}
	if v.ContractDateEnd != nil && !IsNoDate(*v.ContractDateEnd) {
		this.ContractDateEnd = FormatDateTime(*v.ContractDateEnd)
	}
	return SelectAnswer{Reports: s.items(rows), Info: Info{ByVehicleTypeCode: types, This: this}, NextOffset: next}, nil
}

// Overview fills the login answer's blocks: the newest reports, the types, the filter, and for the
// director the employees. The first three come encoded from the answer cache (json.RawMessage).
func (s *Service) Overview(ctx context.Context, p auth.Principal, read inspections.ListVersions) (inspections.Dashboard, error) {
	page := Page{Limit: DefaultLimit}
	v := versions{lists: read.Lists, fleet: read.Fleet}
	if read.Lists == 0 {
		var err error
		if v, err = s.versionsOf(ctx, p); err != nil {
			return inspections.Dashboard{}, err
		}
	}
	o, err := s.cache.overviews.get(ctx, answerKey{kind: 'o', companyID: p.CompanyID, page: page}, v.lists, func() (overviewParts, error) {
		g, err := s.general(ctx, p, Filter{}, page, v)
		if err != nil {
			return overviewParts{}, err
		}
		parts, err := encodedParts(g.Reports, g.Info, g.Filter)
		if err != nil {
			return overviewParts{}, err
		}
		frag := make([]byte, 0, len(parts[0])+len(parts[1])+len(parts[2])+32)
		for i, key := range []string{"reports", "info", "filter"} {
			frag = append(append(append(frag, `,"`...), key...), `":`...)
			frag = append(frag, parts[i]...)
		}
		spliced, err := httpx.Deflate(frag)
		return overviewParts{parts: parts, spliced: spliced}, err
	})
	if err != nil {
		return inspections.Dashboard{}, err
	}
	d := inspections.Dashboard{Reports: o.parts[0], Info: o.parts[1], Filter: o.parts[2], Blocks: o.spliced}
	if p.IsDirector() && s.employees != nil {
		if d.Employees, err = s.employees.Employees(ctx, p.CompanyID, read.Auth); err != nil {
			return inspections.Dashboard{}, err
		}
	}
	return d, nil
}
