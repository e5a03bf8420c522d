package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
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
		"FL_MAIL_URL": "smtps://u:p@smtp.kz:465", "FL_ONEC_USER": "erp", "FL_ONEC_PASSWORD": "long-random-1c-password",
		"FL_DATABASE_URL": "postgres://u:p@db/forte"}))
	if err := ok.Validate(); err != nil {
		t.Fatalf("a complete production configuration refused: %v", err)
	}
}

func production(extra map[string]string) map[string]string {
	m := map[string]string{"FL_ENV": "production", "FL_JWT_SECRET": strings.Repeat("k", 40),
		"FL_MAIL_URL": "smtps://u:p@smtp.kz:465", "FL_ONEC_USER": "erp", "FL_ONEC_PASSWORD": "long-random-1c-password",
		"FL_DATABASE_URL": "postgres://u:p@db/forte"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestValidate_ProductionRefusesWeakSecuritySettings(t *testing.T) {
	for name, c := range map[string]struct {
		env  map[string]string
		want string // "" when accepted
	}{
		"short 1C password":                 {map[string]string{"FL_ONEC_PASSWORD": "fifteen-chars!!"}, "FL_ONEC_PASSWORD"},
		"16-character 1C password":          {map[string]string{"FL_ONEC_PASSWORD": "sixteen-chars!!!"}, ""},
		"proxy header without proxies":      {map[string]string{"FL_PROXY_HEADER": "X-Forwarded-For"}, "FL_TRUSTED_PROXIES"},
		"proxy header with proxies":         {map[string]string{"FL_PROXY_HEADER": "X-Forwarded-For", "FL_TRUSTED_PROXIES": "10.0.0.0/8"}, ""},
		"admin on all interfaces, no token": {map[string]string{"FL_ADMIN_ADDR": ":9090"}, "FL_ADMIN_TOKEN"},
		"admin on a LAN address, no token":  {map[string]string{"FL_ADMIN_ADDR": "10.0.0.4:9090"}, "FL_ADMIN_TOKEN"},
		"admin on all interfaces, token":    {map[string]string{"FL_ADMIN_ADDR": ":9090", "FL_ADMIN_TOKEN": "t"}, ""},
		"admin on loopback, no token":       {map[string]string{"FL_ADMIN_ADDR": "127.0.0.1:9090"}, ""},
		"admin on localhost, no token":      {map[string]string{"FL_ADMIN_ADDR": "localhost:9090"}, ""},
		"admin on IPv6 loopback, no token":  {map[string]string{"FL_ADMIN_ADDR": "[::1]:9090"}, ""},
		"admin off":                         {map[string]string{"FL_ADMIN_ADDR": "off"}, ""},
	} {
		cfg, err := Load(env(production(c.env)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err = cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: want a refusal naming %s, got %v", name, c.want, err)
		}
	}
}

func TestLoad_TrustedProxiesAndThrottleSettings(t *testing.T) {
	c, err := Load(env(map[string]string{"FL_TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32", "FL_PROXY_HEADER": "X-Forwarded-For"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.TrustedProxies); got != "[10.0.0.0/8 192.168.1.7/32 2001:db8::/32]" {
		t.Fatalf("trusted proxies %s", got)
	}
	if c.OneCAuthFailures != 10 || c.OneCAuthWindow != 10*time.Minute || len(c.Warnings()) != 0 {
		t.Fatalf("defaults: %d per %v, warnings %v", c.OneCAuthFailures, c.OneCAuthWindow, c.Warnings())
	}
	if _, err := Load(env(map[string]string{"FL_TRUSTED_PROXIES": "10.0.0.0/8,lb.internal"})); err == nil || !strings.Contains(err.Error(), "FL_TRUSTED_PROXIES") {
		t.Fatalf("a host name among the proxies: %v", err)
	}
	dev, _ := Load(env(map[string]string{"FL_PROXY_HEADER": "X-Forwarded-For"}))
	if w := dev.Warnings(); len(w) != 1 || !strings.Contains(w[0], "FL_TRUSTED_PROXIES") {
		t.Fatalf("development with a proxy header and no proxies: warnings %v", w)
	}
}
