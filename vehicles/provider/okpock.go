package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Okpock is the Kazakhstan registry at api.okpock.com: /info (VIN and plate), /preview (mark,
// model, year, whether accidents are on record) and /report (everything).
type Okpock struct {
	cfg  OkpockConfig
	http *http.Client
	g    *guard
}

func NewOkpock(cfg OkpockConfig, opts Options) *Okpock {
	return &Okpock{
		cfg:  cfg,
		http: newHTTPClient(opts),
		g:    newGuard("okpock", cfg.URL != "", opts, cfg.Password),
	}
}

func (c *Okpock) Name() string { return "okpock" }

// Query names a vehicle by plate or by VIN; Okpock takes one of them.
type Query struct {
	Plate string `json:"plate,omitempty"`
	VIN   string `json:"VIN,omitempty"`
}

func (q Query) normalized() Query {
	if v := looseVIN(q.VIN); v != "" {
		return Query{VIN: v}
	}
	return Query{Plate: NormalizePlate(q.Plate)}
}

func (q Query) key() string { return "plate=" + q.Plate + "&vin=" + q.VIN }

func (c *Okpock) VINByPlate(ctx context.Context, plate string) (VehicleFacts, error) {
	return c.Info(ctx, Query{Plate: plate})
}

// Info returns the VIN and plate Okpock holds for either of them.
func (c *Okpock) Info(ctx context.Context, q Query) (VehicleFacts, error) {
	q = q.normalized()
	return run(ctx, c.g, callOpts{op: "info", cacheKey: q.key()}, func(ctx context.Context) (VehicleFacts, error) {
		var out struct {
			VIN   string `json:"VIN"`
			Plate string `json:"plate"`
		}
		if err := c.post(ctx, "info", "/info", q, &out); err != nil {
			return VehicleFacts{}, err
		}
		if out.VIN == "" {
			return VehicleFacts{}, c.g.fail("info", http.StatusOK, "no_vin", "answer holds no VIN", ErrNotFound, false)
		}
		raw := map[string]any{}
		f := VehicleFacts{Provider: c.Name(), VIN: factsVIN(out.VIN, raw), Plate: NormalizePlate(out.Plate)}
		if len(raw) > 0 {
			f.Raw = raw
		}
		return f, nil
	})
}

// Preview returns mark, model and year. Okpock says only whether accidents are on record, not how
// many: Accidents is 0 when none are, nil when some are (Raw["road_accidents_found"]; /report lists them).
func (c *Okpock) Preview(ctx context.Context, q Query) (VehicleFacts, error) {
	q = q.normalized()
	return run(ctx, c.g, callOpts{op: "preview", cacheKey: q.key()}, func(ctx context.Context) (VehicleFacts, error) {
		var out struct {
			Mark                     string `json:"mark"`
			Model                    string `json:"model"`
			VehicleYear              int    `json:"vehicle_year"`
			RegistrationActionsFound bool   `json:"registration_actions_found"`
			RoadAccidentsFound       bool   `json:"road_accidents_found"`
		}
		if err := c.post(ctx, "preview", "/preview", q, &out); err != nil {
			return VehicleFacts{}, err
		}
		f := VehicleFacts{
			Provider: c.Name(),
			VIN:      q.VIN,
			Plate:    q.Plate,
			Make:     out.Mark,
			Model:    out.Model,
			Year:     out.VehicleYear,
			Raw: map[string]any{
				"registration_actions_found": out.RegistrationActionsFound,
				"road_accidents_found":       out.RoadAccidentsFound,
			},
		}
		if !out.RoadAccidentsFound {
			f.Accidents = new(0)
		}
		return f, nil
	})
}

// Report is Okpock's full answer.
type Report struct {
	Report struct {
		CarInfo struct {
			VIN      string `json:"vin"`
			BaseInfo struct {
				EngineVolume        int    `json:"engine_volume"`
				EnginePowerKW       int    `json:"engine_power_kwt"`
				EmptyWeight         int    `json:"empty_weight"`
				PlatedWeight        int    `json:"plated_weight"`
				Manufacturer        string `json:"manufacturer"`
				Mark                string `json:"mark"`
				Model               string `json:"model"`
				OriginCountry       string `json:"origin_country"`
				SeatingCount        int    `json:"seating_count"`
				VehicleYear         int    `json:"vehicle_year"`
				VehicleAgeCategory  string `json:"vehicle_age_category"`
				VehicleCategory     string `json:"vehicle_category"`
				VehicleCategoryWide string `json:"vehicle_category_wide"`
				VehicleType         string `json:"vehicle_type"`
				VehicleColor        string `json:"vehicle_color"`
				VehicleCount        int    `json:"vehicle_count"`
			} `json:"base_info"`
			AdditionalInfo string `json:"additional_info"`
		} `json:"car_info"`
		RegistrationHistory []struct {
			Action     string `json:"action"`
			Address    string `json:"address"`
			PersonType string `json:"person_type"`
			ActionDate string `json:"action_date"` // RFC 3339 in the document; kept as sent
		} `json:"registration_history"`
		RoadAccidents []struct {
			AccidentDate string `json:"accident_date"`
			Description  string `json:"description"`
		} `json:"road_accidents"`
	} `json:"report"`
	DBUpdatedAt string `json:"db_updated_at"`
}

// Facts picks what the VIN check stores from a report.
func (r Report) Facts() VehicleFacts {
	raw := map[string]any{"registrations": len(r.Report.RegistrationHistory)}
	info := r.Report.CarInfo.BaseInfo
	return VehicleFacts{
		Provider:  "okpock",
		VIN:       factsVIN(r.Report.CarInfo.VIN, raw),
		Make:      info.Mark,
		Model:     info.Model,
		Year:      info.VehicleYear,
		Accidents: new(len(r.Report.RoadAccidents)),
		Raw:       raw,
	}
}

func (c *Okpock) Report(ctx context.Context, q Query) (Report, error) {
	q = q.normalized()
	return run(ctx, c.g, callOpts{op: "report", cacheKey: q.key()}, func(ctx context.Context) (Report, error) {
		var out Report
		err := c.post(ctx, "report", "/report", q, &out)
		return out, err
	})
}

// okpockError is the payload of every 4xx and 5xx answer.
type okpockError struct {
	System     string `json:"system"`
	Status     int    `json:"status"`
	Message    string `json:"message"`
	DevMessage string `json:"devMessage"`
}

func (c *Okpock) post(ctx context.Context, op, path string, q Query, out any) error {
	if q.Plate == "" && q.VIN == "" {
		return c.g.fail(op, 0, "empty_query", "plate or VIN required", ErrBadRequest, false)
	}
	u, err := endpoint(c.cfg.URL, path)
	if err != nil {
		return c.g.configError(op, err)
	}
	body, err := json.Marshal(q)
	if err != nil {
		return fmt.Errorf("okpock %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return c.g.configError(op, err)
	}
	req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.g.send(c.http, op, req)
	if err != nil {
		return err
	}
	if resp.status >= 400 {
		var e okpockError
		_ = json.Unmarshal(resp.body, &e) // a proxy's HTML error page still maps by status
		kind, temporary := kindForStatus(resp.status)
		return c.g.fail(op, resp.status, e.Message, e.DevMessage, kind, temporary)
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return c.g.fail(op, resp.status, "bad_payload", "undecodable answer: "+err.Error(), ErrUnavailable, false)
	}
	return nil
}
