package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// VAGVIN is the dealer service-history service (vagvin.ru): a check is queued by POST and its
// result arrives hours later as a POST to our callback route, which ParseCallback reads.
type VAGVIN struct {
	cfg  VAGVINConfig
	http *http.Client
	g    *guard
}

func NewVAGVIN(cfg VAGVINConfig, opts Options) *VAGVIN {
	return &VAGVIN{
		cfg:  cfg,
		http: newHTTPClient(opts),
		g:    newGuard("vagvin", cfg.URL != "", opts, cfg.Token, cfg.CallbackSecret),
	}
}

func (c *VAGVIN) Name() string { return "vagvin" }

// CheckType is the service's "check_type".
type CheckType string

const (
	CheckBMWFull      CheckType = "check_data_bmw_full"       // BMW dealer
	CheckMultiBrand   CheckType = "check_data_multibr_zapros" // multi-brand dealer
	CheckElsaPro      CheckType = "check_elsa_pro_full"       // VAG dealer (ELSA Pro)
	CheckCarVertical  CheckType = "check_CarVertical"         // any brand
	CheckMercedesEVA  CheckType = "check_data_mercedes_eva"   // Mercedes-Benz, sees the G class
	CheckErwin        CheckType = "check_erwin_full"          // VAG electronic service books
	CheckEtka         CheckType = "check_etka_full"           // VAG equipment (PR codes, build date)
	CheckEngineNumber CheckType = "check_nomer_dws"           // engine serial number
)

// Report languages, spelled as the service expects them.
const (
	LangRussian  = "Русский"
	LangEnglish  = "Английский"
	LangPolish   = "Польский"
	LangRomanian = "Румынский"
	LangFrench   = "Французский"
	LangGerman   = "Немецкий"
)

// CheckRequest is one queued check. Brand and Language must be among those the document lists
// for the type; Brand may be empty only for CheckCarVertical.
type CheckRequest struct {
	VIN         string
	Type        CheckType
	Brand       string
	Language    string
	TelegramID  string // optional: the service also notifies this Telegram user
	ClientEmail string // optional: the service mails the report to the client
	CopyEmail   string // optional: the service copies the report to us ("your_email")
}

type vagRequest struct {
	Token          string `json:"token"`
	VIN            string `json:"vin,omitempty"`
	CheckType      string `json:"check_type"`
	CarBrand       string `json:"car_brand,omitempty"`
	ReportLanguage string `json:"report_language,omitempty"`
	TelegramID     string `json:"telegram_id,omitempty"`
	ClientEmail    string `json:"client_email,omitempty"`
	YourEmail      string `json:"your_email,omitempty"`
}

// Submit queues a check. The document does not show the answer; checkID is its "id" (or
// "check_id", "request_id", "queue_id", "order_id", "task_id") and empty when it has none, in
// which case the callback is matched by VIN and type. A paid write: retried only on 503.
func (c *VAGVIN) Submit(ctx context.Context, req CheckRequest) (checkID string, err error) {
	return run(ctx, c.g, callOpts{op: "submit", write: true}, func(ctx context.Context) (string, error) {
		body, err := c.checkBody(req)
		if err != nil {
			return "", err
		}
		ans, err := c.post(ctx, "submit", body)
		if err != nil {
			return "", err
		}
		return firstString(ans, "id", "check_id", "request_id", "queue_id", "order_id", "task_id"), nil
	})
}

// Balance asks for the account balance (check_type "get_balance", token only).
func (c *VAGVIN) Balance(ctx context.Context) (float64, error) {
	return run(ctx, c.g, callOpts{op: "balance"}, func(ctx context.Context) (float64, error) {
		ans, err := c.post(ctx, "balance", vagRequest{Token: c.cfg.Token, CheckType: "get_balance"})
		if err != nil {
			return 0, err
		}
		if b, ok := number(ans["balance"]); ok {
			return b, nil
		}
		return 0, c.g.fail("balance", http.StatusOK, "bad_payload", "answer holds no balance", ErrUnavailable, false)
	})
}

func (c *VAGVIN) checkBody(req CheckRequest) (vagRequest, error) {
	invalid := func(code, msg string) (vagRequest, error) {
		return vagRequest{}, c.g.fail("submit", 0, code, msg, ErrBadRequest, false)
	}
	vin, err := NormalizeVIN(req.VIN)
	if err != nil {
		return invalid("invalid_vin", err.Error())
	}
	brands, languages, ok := checkRules(req.Type)
	if !ok {
		return invalid("invalid_check_type", "unknown check type "+strconv.Quote(string(req.Type)))
	}
	brand, ok := pick(brands, req.Brand)
	switch {
	case req.Type == CheckCarVertical:
		brand = strings.TrimSpace(req.Brand)
	case !ok:
		return invalid("invalid_brand", fmt.Sprintf("%s takes brands %s", req.Type, strings.Join(brands, ", ")))
	}
	language, ok := pick(languages, req.Language)
	if !ok {
		return invalid("invalid_language", fmt.Sprintf("%s takes languages %s", req.Type, strings.Join(languages, ", ")))
	}
	return vagRequest{
		Token:          c.cfg.Token,
		VIN:            vin,
		CheckType:      string(req.Type),
		CarBrand:       brand,
		ReportLanguage: language,
		TelegramID:     req.TelegramID,
		ClientEmail:    req.ClientEmail,
		YourEmail:      req.CopyEmail,
	}, nil
}

// checkRules is the document's table of brands and languages per check type.
func checkRules(t CheckType) (brands, languages []string, ok bool) {
	all := []string{LangRussian, LangEnglish, LangPolish, LangRomanian, LangFrench, LangGerman}
	vag := []string{"Audi", "SKODA", "SEAT", "Volkswagen"}
	switch t {
	case CheckBMWFull:
		return []string{"BMW", "Mini"}, all, true
	case CheckMultiBrand:
		return []string{"Alfa Romeo", "Renault", "Jeep", "Infiniti", "Land Rover", "Nissan", "Mazda", "hyundai",
			"Honda", "Peugeot", "Citroen", "Fiat", "Jaguar", "Lexus", "Opel", "Toyota", "KIA", "Ford", "Porsche",
			"Mercedes-Benz"}, []string{LangRussian, LangEnglish}, true
	case CheckElsaPro:
		return vag, all, true
	case CheckCarVertical:
		return nil, all, true
	case CheckMercedesEVA:
		return []string{"Mercedes-Benz"}, []string{LangEnglish}, true
	case CheckErwin:
		return vag, []string{LangEnglish}, true
	case CheckEtka:
		return append(vag, "MAN", "Porsche", "Bentley"), []string{LangRussian, LangEnglish}, true
	case CheckEngineNumber:
		return append(vag, "Volvo", "Peugeot", "Nissan", "Jeep", "KIA", "Mercedes", "Opel", "Citroen", "Dodge",
			"Fiat", "hyundai"), []string{LangEnglish}, true
	}
	return nil, nil, false
}

// pick finds v among allowed ignoring case and returns the document's spelling.
func pick(allowed []string, v string) (string, bool) {
	v = strings.TrimSpace(v)
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a, true
		}
	}
	return "", false
}

func (c *VAGVIN) post(ctx context.Context, op string, in vagRequest) (map[string]any, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("vagvin %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(b))
	if err != nil {
		return nil, c.g.configError(op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.g.send(c.http, op, req)
	if err != nil {
		return nil, err
	}
	ans := map[string]any{}
	perr := unmarshalNumbers(resp.body, &ans)
	if resp.status >= 400 {
		kind, temporary := kindForStatus(resp.status)
		return nil, c.g.fail(op, resp.status, "", firstString(ans, "error", "message", "detail"), kind, temporary)
	}
	if perr != nil {
		// Accepted without a JSON answer: a queued check is paid for, so it must not look failed.
		return map[string]any{}, nil
	}
	if msg, failed := vagFailure(ans); failed {
		return nil, c.g.fail(op, resp.status, "rejected", msg, ErrBadRequest, false)
	}
	return ans, nil
}

// vagFailure spots an error reported inside a 200 answer, the way bot-backed APIs often do.
func vagFailure(ans map[string]any) (string, bool) {
	msg := firstString(ans, "error", "message", "detail")
	if e, ok := ans["error"]; ok && e != nil && e != false && e != "" {
		return msg, true
	}
	if s, ok := ans["success"].(bool); ok && !s {
		return msg, true
	}
	switch strings.ToLower(firstString(ans, "status")) {
	case "error", "fail", "failed":
		return msg, true
	}
	return "", false
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			if v != "" {
				return v
			}
		case json.Number:
			return v.String()
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ""
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(v), ",", "."), 64)
		return f, err == nil
	}
	return 0, false
}
