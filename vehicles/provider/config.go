package provider

import (
	"fmt"
	"log/slog"
	"strings"
)

// OkpockConfig: URL is the API root (https://api.okpock.com); the paths are appended.
type OkpockConfig struct {
	URL, User, Password, UserAgent string
}

// RegnumConfig: URL is the whole API function address from the ControlPanel
// (http://server:port/apifunction); the client adds only the query string.
type RegnumConfig struct {
	URL, ID, Seccode, Service string
}

// VAGVINConfig: URL is the whole queue address handed out by the service
// (https://host/api/processing_queue); CallbackSecret is ours, presented on every callback.
type VAGVINConfig struct {
	URL, Token, CallbackSecret string
}

// OdometerConfig: URL is the API root; /v2/vehicles/odometer-registrations is appended.
type OdometerConfig struct {
	URL, TokenURL, ClientID, ClientSecret string
}

// Configs holds every provider's configuration; a provider whose URL is empty is not configured.
type Configs struct {
	Okpock   OkpockConfig
	Regnum   RegnumConfig
	VAGVIN   VAGVINConfig
	Odometer OdometerConfig
}

// FromEnv reads the FL_* provider variables of CONTRACT §7.
func FromEnv(getenv func(string) string) Configs {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	return Configs{
		Okpock: OkpockConfig{
			URL:       env("FL_OKPOCK_URL"),
			User:      env("FL_OKPOCK_USER"),
			Password:  env("FL_OKPOCK_PASSWORD"),
			UserAgent: env("FL_OKPOCK_USER_AGENT"),
		},
		Regnum: RegnumConfig{
			URL:     env("FL_REGNUM_URL"),
			ID:      env("FL_REGNUM_ID"),
			Seccode: env("FL_REGNUM_SECCODE"),
			Service: env("FL_REGNUM_SERVICE"),
		},
		VAGVIN: VAGVINConfig{
			URL:            env("FL_VAGVIN_URL"),
			Token:          env("FL_VAGVIN_TOKEN"),
			CallbackSecret: env("FL_VAGVIN_CALLBACK_SECRET"),
		},
		Odometer: OdometerConfig{
			URL:          env("FL_ODOMETER_URL"),
			TokenURL:     env("FL_ODOMETER_TOKEN_URL"),
			ClientID:     env("FL_ODOMETER_CLIENT_ID"),
			ClientSecret: env("FL_ODOMETER_CLIENT_SECRET"),
		},
	}
}

// The String and LogValue methods keep credentials out of logs when a config is printed whole.

func (c OkpockConfig) String() string {
	return fmt.Sprintf("{URL:%s User:%s Password:%s UserAgent:%s}", c.URL, c.User, mask(c.Password), c.UserAgent)
}
func (c OkpockConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c RegnumConfig) String() string {
	return fmt.Sprintf("{URL:%s ID:%s Seccode:%s Service:%s}", c.URL, c.ID, mask(c.Seccode), c.Service)
}
func (c RegnumConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c VAGVINConfig) String() string {
	return fmt.Sprintf("{URL:%s Token:%s CallbackSecret:%s}", c.URL, mask(c.Token), mask(c.CallbackSecret))
}
func (c VAGVINConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c OdometerConfig) String() string {
	return fmt.Sprintf("{URL:%s TokenURL:%s ClientID:%s ClientSecret:%s}", c.URL, c.TokenURL, c.ClientID, mask(c.ClientSecret))
}
func (c OdometerConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}
