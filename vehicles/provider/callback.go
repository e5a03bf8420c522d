package provider

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
)

// CallbackSecretHeader is where our callback route expects the shared secret. How the service
// presents it is agreed with it out of band; a route may equally take it from the query string.
const CallbackSecretHeader = "X-Callback-Secret"

// CallbackResult is a finished check as the service posts it back. The document does not show the
// payload, so the common field spellings are read and everything is kept in Raw.
type CallbackResult struct {
	CheckID   string
	VIN       string
	CheckType CheckType
	Status    string
	ReportURL string
	Report    string // the report itself when sent inline
	Error     string
	Raw       map[string]any
}

// ParseCallback checks the secret configured for this client; see ParseCallback.
func (c *VAGVIN) ParseCallback(presented string, body []byte) (CallbackResult, error) {
	return ParseCallback(presented, body, c.cfg.CallbackSecret)
}

// CheckCallbackSecret compares the presented callback secret in constant time; the HTTP handler calls it
// before reading the body.
func CheckCallbackSecret(presented, secret string) error {
	fail := func(code, msg string, kind error) error {
		return &Error{Provider: "vagvin", Op: "callback", Code: code, Message: msg, Kind: kind}
	}
	if secret == "" {
		return fail("no_secret", "callback secret not configured", ErrNotConfigured)
	}
	// Hashing first makes the comparison independent of the secrets' lengths too.
	p, s := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(p[:], s[:]) != 1 {
		return fail("bad_secret", "callback secret mismatch", ErrUnauthorized)
	}
	return nil
}

// ParseCallback authenticates a callback by the secret it presented (compared in constant time)
// and reads its body, JSON or form-encoded. It takes plain values so any HTTP framework can call it.
func ParseCallback(presented string, body []byte, secret string) (CallbackResult, error) {
	fail := func(code, msg string, kind error) (CallbackResult, error) {
		return CallbackResult{}, &Error{Provider: "vagvin", Op: "callback", Code: code, Message: msg, Kind: kind}
	}
	if err := CheckCallbackSecret(presented, secret); err != nil {
		return CallbackResult{}, err
	}
	raw, err := callbackFields(body)
	if err != nil {
		return fail("bad_payload", err.Error(), ErrBadRequest)
	}
	res := CallbackResult{
		CheckID:   firstString(raw, "id", "check_id", "request_id", "queue_id", "order_id", "task_id"),
		CheckType: CheckType(firstString(raw, "check_type")),
		Status:    firstString(raw, "status"),
		ReportURL: firstString(raw, "report_url", "url", "link", "file", "file_url"),
		Report:    firstString(raw, "report", "result", "text", "html"),
		Error:     firstString(raw, "error", "error_message"),
		Raw:       raw,
	}
	if vin := firstString(raw, "vin", "VIN"); vin != "" {
		res.VIN = looseVIN(vin)
		if v, err := NormalizeVIN(vin); err == nil {
			res.VIN = v
		}
	}
	return res, nil
}

func callbackFields(body []byte) (map[string]any, error) {
	body = bytes.TrimSpace(body)
	raw := map[string]any{}
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	if body[0] == '{' {
		if err := unmarshalNumbers(body, &raw); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		return raw, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("neither JSON nor a form")
	}
	for k, v := range form {
		if v[0] != "" {
			raw[k] = v[0]
		}
	}
	if len(raw) == 0 {
		return nil, errors.New("neither JSON nor a form")
	}
	return raw, nil
}
