package config

import (
	"fmt"
	"log/slog"
	"strings"
)

// Okpock: URL is the API root (https://api.okpock.com); the paths are appended.
type Okpock struct {
	URL, User, Password, UserAgent string
}

// Regnum: URL is the whole API function address from the ControlPanel
// (http://server:port/apifunction); the client adds only the query string.
type Regnum struct {
	URL, ID, Seccode, Service string
}

// VAGVIN: URL is the whole queue address handed out by the service
// (https://host/api/processing_queue); CallbackSecret is ours, presented on every callback.
type VAGVIN struct {
	URL, Token, CallbackSecret string
}

// Odometer: URL is the API root; /v2/vehicles/odometer-registrations is appended.
type Odometer struct {
	URL, TokenURL, ClientID, ClientSecret string
}

// Providers holds every provider's configuration; a provider whose URL is empty is not configured.
type Providers struct {
	Okpock   Okpock
	Regnum   Regnum
	VAGVIN   VAGVIN
	Odometer Odometer
}

// providersFromEnv reads the FL_* provider variables of CONTRACT §7.
func providersFromEnv(getenv func(string) string) Providers {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	return Providers{
		Okpock: Okpock{
			URL:       env("FL_OKPOCK_URL"),
			User:      env("FL_OKPOCK_USER"),
			Password:  env("FL_OKPOCK_PASSWORD"),
			UserAgent: env("FL_OKPOCK_USER_AGENT"),
		},
		Regnum: Regnum{
			URL:     env("FL_REGNUM_URL"),
			ID:      env("FL_REGNUM_ID"),
			Seccode: env("FL_REGNUM_SECCODE"),
			Service: env("FL_REGNUM_SERVICE"),
		},
		VAGVIN: VAGVIN{
			URL:            env("FL_VAGVIN_URL"),
			Token:          env("FL_VAGVIN_TOKEN"),
			CallbackSecret: env("FL_VAGVIN_CALLBACK_SECRET"),
		},
		Odometer: Odometer{
			URL:          env("FL_ODOMETER_URL"),
			TokenURL:     env("FL_ODOMETER_TOKEN_URL"),
			ClientID:     env("FL_ODOMETER_CLIENT_ID"),
			ClientSecret: env("FL_ODOMETER_CLIENT_SECRET"),
		},
	}
}

// The String and LogValue methods keep credentials out of logs when a config is printed whole.

func (c Okpock) String() string {
	return fmt.Sprintf("{URL:%s User:%s Password:%s UserAgent:%s}", c.URL, c.User, mask(c.Password), c.UserAgent)
}
func (c Okpock) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c Regnum) String() string {
	return fmt.Sprintf("{URL:%s ID:%s Seccode:%s Service:%s}", c.URL, c.ID, mask(c.Seccode), c.Service)
}
func (c Regnum) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c VAGVIN) String() string {
	return fmt.Sprintf("{URL:%s Token:%s CallbackSecret:%s}", c.URL, mask(c.Token), mask(c.CallbackSecret))
}
func (c VAGVIN) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c Odometer) String() string {
	return fmt.Sprintf("{URL:%s TokenURL:%s ClientID:%s ClientSecret:%s}", c.URL, c.TokenURL, c.ClientID, mask(c.ClientSecret))
}
func (c Odometer) LogValue() slog.Value { return slog.StringValue(c.String()) }

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}
