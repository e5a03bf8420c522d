package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Regnum is the REGNUM plate decoder: one GET per plate and country service, answered in JSON
// or XML with the outcome in a "status" field rather than in the HTTP status.
type Regnum struct {
	cfg  RegnumConfig
	http *http.Client
	g    *guard
}

func NewRegnum(cfg RegnumConfig, opts Options) *Regnum {
	return &Regnum{
		cfg:  cfg,
		http: newHTTPClient(opts),
		g:    newGuard("regnum", cfg.URL != "", opts, cfg.Seccode),
	}
}

func (c *Regnum) Name() string { return "regnum" }

func (c *Regnum) VINByPlate(ctx context.Context, plate string) (VehicleFacts, error) {
	plate = NormalizePlate(plate)
	return run(ctx, c.g, callOpts{op: "decode", cacheKey: plate}, func(ctx context.Context) (VehicleFacts, error) {
		if plate == "" {
			return VehicleFacts{}, c.g.fail("decode", 0, "empty_plate", "plate required", ErrBadRequest, false)
		}
		ans, err := c.get(ctx, plate)
		if err != nil {
			return VehicleFacts{}, err
		}
		return c.facts(plate, ans)
	})
}

func (c *Regnum) get(ctx context.Context, plate string) (regnumAnswer, error) {
	u, err := endpoint(c.cfg.URL, "")
	if err != nil {
		return regnumAnswer{}, c.g.configError("decode", err)
	}
	q := u.Query()
	q.Set("id", c.cfg.ID)
	q.Set("seccode", c.cfg.Seccode)
	q.Set("nameservice", c.cfg.Service)
	q.Set("regnum", plate)
	q.Set("contenttype", "JSON")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return regnumAnswer{}, c.g.configError("decode", err)
	}
	req.Header.Set("Accept", "application/json, application/xml;q=0.9")
	resp, err := c.g.send(c.http, "decode", req)
	if err != nil {
		return regnumAnswer{}, err
	}
	ans, perr := parseRegnum(resp.body)
	if resp.status != http.StatusOK && (perr != nil || ans.status == 0) {
		kind, temporary := kindForStatus(resp.status)
		return regnumAnswer{}, c.g.fail("decode", resp.status, "", "", kind, temporary)
	}
	if perr != nil {
		return regnumAnswer{}, c.g.fail("decode", resp.status, "bad_payload", perr.Error(), ErrUnavailable, false)
	}
	return ans, nil
}

func (c *Regnum) facts(plate string, ans regnumAnswer) (VehicleFacts, error) {
	if ans.status != 0 && ans.status != http.StatusOK {
		kind, temporary := kindForStatus(ans.status)
		return VehicleFacts{}, c.g.fail("decode", ans.status, "", ans.statusText, kind, temporary)
	}
	for _, car := range ans.cars {
		if car["vin"] == "" {
			continue
		}
		raw := map[string]any{}
		f := VehicleFacts{
			Provider: c.Name(),
			VIN:      factsVIN(car["vin"], raw),
			Plate:    plate,
			Make:     car["manufCar"],
			Model:    car["modelCar"],
			Year:     leadingYear(car["dateOfFirstRegistration"]),
			Raw:      raw,
		}
		for _, k := range []string{"ktype", "shortNameCar", "typeFromYearCar", "typeToYearCar", "dateOfFirstRegistration", "dateOfLastRegistration"} {
			if v := car[k]; v != "" {
				raw[k] = v
			}
		}
		return f, nil
	}
	// Decoded without a VIN answers nothing to plate → VIN.
	return VehicleFacts{}, c.g.fail("decode", http.StatusOK, "no_vin", "answer holds no VIN", ErrNotFound, false)
}

// leadingYear reads YYYY from REGNUM's YYYYMMDD dates; the type's production range
// (typeFromYearCar) is not the vehicle's year, so it stays in Raw.
func leadingYear(date string) int {
	if len(date) < 4 {
		return 0
	}
	y, err := strconv.Atoi(date[:4])
	if err != nil || y < 1900 {
		return 0
	}
	return y
}

type regnumAnswer struct {
	status     int
	statusText string
	cars       []map[string]string
}

// parseRegnum reads either format; the first byte decides, whatever the Content-Type says.
func parseRegnum(body []byte) (regnumAnswer, error) {
	body = bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(body) == 0 {
		return regnumAnswer{}, fmt.Errorf("empty answer")
	}
	if body[0] == '<' {
		return parseRegnumXML(body)
	}
	return parseRegnumJSON(body)
}

func parseRegnumJSON(body []byte) (regnumAnswer, error) {
	var doc struct {
		Data       json.RawMessage `json:"data"`
		Status     json.Number     `json:"status"`
		StatusText string          `json:"statusText"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return regnumAnswer{}, fmt.Errorf("json: %w", err)
	}
	ans := regnumAnswer{statusText: doc.StatusText}
	if doc.Status != "" {
		n, err := strconv.Atoi(doc.Status.String())
		if err != nil {
			return regnumAnswer{}, fmt.Errorf("json: status %q", doc.Status)
		}
		ans.status = n
	}
	var data struct {
		Datacar json.RawMessage `json:"datacar"`
	}
	// An error answer may carry "data" as an empty list or string; it then holds no cars.
	if json.Unmarshal(doc.Data, &data) != nil || len(data.Datacar) == 0 {
		return ans, nil
	}
	var cars []map[string]any
	if err := unmarshalNumbers(data.Datacar, &cars); err != nil {
		var one map[string]any
		if err := unmarshalNumbers(data.Datacar, &one); err != nil {
			return regnumAnswer{}, fmt.Errorf("json: datacar: %w", err)
		}
		cars = append(cars, one)
	}
	for _, car := range cars {
		fields := make(map[string]string, len(car))
		for k, v := range car {
			if v != nil {
				fields[k] = fmt.Sprint(v)
			}
		}
		ans.cars = append(ans.cars, fields)
	}
	return ans, nil
}

func unmarshalNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

type xmlField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

func parseRegnumXML(body []byte) (regnumAnswer, error) {
	var doc struct {
		Status     string `xml:"status"`
		StatusText string `xml:"statusText"`
		Data       struct {
			Datacar []struct {
				Fields []xmlField `xml:",any"`
			} `xml:"datacar"`
		} `xml:"data"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return regnumAnswer{}, fmt.Errorf("xml: %w", err)
	}
	ans := regnumAnswer{statusText: strings.TrimSpace(doc.StatusText)}
	if s := strings.TrimSpace(doc.Status); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return regnumAnswer{}, fmt.Errorf("xml: status %q", s)
		}
		ans.status = n
	}
	for _, car := range doc.Data.Datacar {
		fields := make(map[string]string, len(car.Fields))
		for _, f := range car.Fields {
			fields[f.XMLName.Local] = strings.TrimSpace(f.Value)
		}
		ans.cars = append(ans.cars, fields)
	}
	return ans, nil
}
