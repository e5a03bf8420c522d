package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad_DefaultsRunOnAFreshMachine(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "sqlite://data/forteleasing.db" || c.MediaURL != "file://data/media" || c.MailURL != "file://data/outbox" ||
		c.OTP.Digits != 4 || c.UploadMaxBytes != 64<<20 || c.Addr != ":8080" || c.PublicURL != "http://localhost:8080" {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("development must accept its defaults: %v", err)
	}
}

func TestLoad_RejectsBadValuesByName(t *testing.T) {
	_, err := Load(env(map[string]string{"FL_OTP_DIGITS": "2", "FL_OTP_TTL": "soon", "FL_JWT_SECRET": "short", "FL_ENV": "prod",
		"FL_MEDIA_PUBLIC_URL": "https://api.example.kz/videos"}))
	for _, name := range []string{"FL_OTP_DIGITS", "FL_OTP_TTL", "FL_JWT_SECRET", "FL_ENV", "FL_MEDIA_PUBLIC_URL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("no error naming %s: %v", name, err)
		}
	}
}

func TestValidate_ProductionRefusesDevDefaultsAndNamesThem(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(env(map[string]string{"FL_ENV": "production", "FL_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureJWTSecret(); err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, name := range []string{"FL_JWT_SECRET", "FL_MAIL_URL", "FL_ONEC_USER", "FL_DATABASE_URL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("production start not refused for %s: %v", name, err)
		}
	}
	ok, _ := Load(env(map[string]string{"FL_ENV": "production", "FL_JWT_SECRET": strings.Repeat("k", 40),
		"FL_MAIL_URL": "smtps://u:p@smtp.kz:465", "FL_ONEC_USER": "erp", "FL_ONEC_PASSWORD": "long-random",
		"FL_DATABASE_URL": "postgres://u:p@db/forte"}))
	if err := ok.Validate(); err != nil {
		t.Fatalf("a complete production configuration refused: %v", err)
	}
}
