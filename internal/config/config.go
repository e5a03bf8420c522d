// Package config reads the service's FL_* environment (CONTRACT §7) into one struct,
// with every default in one place, so that a bare `forteleasing serve` runs on a fresh machine.
package config

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/forteleasing/inspections/authenticity"
	"github.com/forteleasing/inspections/media"
)

// Dev defaults that production must override.
const (
	DefaultOneCUser     = "admin_1C"
	DefaultOneCPassword = "pass_1C"
)

type Config struct {
	// Providers are the VIN/plate registries (FL_OKPOCK_*, FL_REGNUM_*, FL_VAGVIN_*, FL_ODOMETER_*);
	// one without its URL is not configured.
	Providers Providers

	Env         string // "development" or "production"
	Addr        string
	AdminAddr   string // /metrics and the health checks; "off" disables the admin listener
	PublicURL   string
	DataDir     string
	DatabaseURL string
	MediaURL    string
	// MediaPublicURL is where clients (1C) reach the object store: presigned video links are signed
	// for it (FL_MEDIA_PUBLIC_URL, http(s)://HOST[:PORT]); empty means the store URL's own host.
	MediaPublicURL string
	MailURL        string
	MailFrom       string

	JWTSecret          []byte
	JWTSecretGenerated bool
	JWTIssuer          string
	AccessTTL          time.Duration
	RefreshTTL         time.Duration
	RefreshReuseGrace  time.Duration

	OneCUser     string
	OneCPassword string
	// OneCAuthFailures failed 1C logins per client IP within OneCAuthWindow block that IP until the window ends.
	OneCAuthFailures int
	OneCAuthWindow   time.Duration

	// AdminToken, when set, is required as "Authorization: Bearer" on the admin port's /metrics and pprof.
	AdminToken string

	FCMCredentials string

	OTP OTPConfig

	UploadMaxBytes int64

	Reliability Reliability
	// ProxyHeader names the header carrying the client IP behind a trusted load balancer (e.g. X-Forwarded-For);
	// it is read only from direct peers inside TrustedProxies (FL_TRUSTED_PROXIES).
	ProxyHeader    string
	TrustedProxies []netip.Prefix

	// Authenticity holds the rules' thresholds and levels (FL_AUTHENTICITY_*, FL_REVIEW_LINK_TTL).
	Authenticity authenticity.Config
	// ReviewFrameAncestors is the review page's CSP frame-ancestors (FL_REVIEW_FRAME_ANCESTORS): 1C's
	// web client shows the page in an iframe of its own origin.
	ReviewFrameAncestors string
}

// Reliability holds the deadlines on every dependency and the caps on what clients can hold
// (README "Reliability").
type Reliability struct {
	DBTimeout        time.Duration // FL_DB_TIMEOUT: each database call, pool wait included; PostgreSQL statement_timeout
	RequestTimeout   time.Duration // FL_REQUEST_TIMEOUT: every request but the upload bodies
	HeaderTimeout    time.Duration // FL_HEADER_TIMEOUT: a request's header must arrive within it
	BodyIdleTimeout  time.Duration // FL_BODY_IDLE_TIMEOUT: a body is cut after this long without a byte
	StoreIdleTimeout time.Duration // FL_STORE_IDLE_TIMEOUT: an object-store call making no progress
	UploadsPerUser   int           // FL_UPLOAD_CONCURRENCY_PER_USER
	SpoolMaxBytes    int64         // FL_SPOOL_MAX_BYTES: all temp files of uploads on this instance
	MinFreeBytes     int64         // FL_MIN_FREE_BYTES: /readyz is red below this much free disk
}

// OTPConfig holds the one-time-password limits of CONTRACT §2.
type OTPConfig struct {
	Digits        int
	TTL           time.Duration
	MaxAttempts   int
	DailyFailures int // wrong tries per BIN per 24 h before OTP login is refused
	Cooldown      time.Duration
	HourlyPerBIN  int
	HourlyPerIP   int
}

// Load reads the environment through getenv (os.Getenv in main, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	num := func(name string, def int) int {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive integer, got %q", name, v))
			return def
		}
		return n
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive duration like 10m, got %q", name, v))
			return def
		}
		return d
	}

	dataDir := str("FL_DATA_DIR", "./data")
	addr := str("FL_ADDR", ":8080")
	c := Config{
		Env:               str("FL_ENV", "development"),
		Addr:              addr,
		AdminAddr:         str("FL_ADMIN_ADDR", "127.0.0.1:9090"),
		PublicURL:         strings.TrimRight(str("FL_PUBLIC_URL", defaultPublicURL(addr)), "/"),
		DataDir:           dataDir,
		DatabaseURL:       str("FL_DATABASE_URL", "sqlite://"+filepath.Join(dataDir, "forteleasing.db")),
		MediaURL:          str("FL_MEDIA_URL", "file://"+filepath.Join(dataDir, "media")),
		MediaPublicURL:    strings.TrimRight(str("FL_MEDIA_PUBLIC_URL", ""), "/"),
		MailURL:           str("FL_MAIL_URL", "file://"+filepath.Join(dataDir, "outbox")),
		MailFrom:          str("FL_MAIL_FROM", "ForteLeasing <noreply@forteleasing.kz>"),
		JWTIssuer:         str("FL_JWT_ISSUER", "forteleasing"),
		AccessTTL:         dur("FL_ACCESS_TTL", 5*time.Minute),
		RefreshTTL:        dur("FL_REFRESH_TTL", 30*24*time.Hour),
		RefreshReuseGrace: dur("FL_REFRESH_REUSE_GRACE", 10*time.Second),
		OneCUser:          str("FL_ONEC_USER", DefaultOneCUser),
		OneCPassword:      str("FL_ONEC_PASSWORD", DefaultOneCPassword),
		FCMCredentials:    str("FL_FCM_CREDENTIALS", ""),
		OTP: OTPConfig{
			Digits:        num("FL_OTP_DIGITS", 4),
			TTL:           dur("FL_OTP_TTL", 10*time.Minute),
			MaxAttempts:   num("FL_OTP_MAX_ATTEMPTS", 5),
			DailyFailures: num("FL_OTP_DAILY_FAILURES", 30),
			Cooldown:      dur("FL_OTP_COOLDOWN", 60*time.Second),
			HourlyPerBIN:  num("FL_OTP_HOURLY_PER_BIN", 10),
			HourlyPerIP:   num("FL_OTP_HOURLY_PER_IP", 30),
		},
		UploadMaxBytes: int64(num("FL_UPLOAD_MAX_BYTES", 64<<20)),
		ProxyHeader:    str("FL_PROXY_HEADER", ""),
		Reliability: Reliability{
			DBTimeout:        dur("FL_DB_TIMEOUT", 5*time.Second),
			RequestTimeout:   dur("FL_REQUEST_TIMEOUT", 30*time.Second),
			HeaderTimeout:    dur("FL_HEADER_TIMEOUT", 10*time.Second),
			BodyIdleTimeout:  dur("FL_BODY_IDLE_TIMEOUT", 60*time.Second),
			StoreIdleTimeout: dur("FL_STORE_IDLE_TIMEOUT", 30*time.Second),
			UploadsPerUser:   num("FL_UPLOAD_CONCURRENCY_PER_USER", 2),
			SpoolMaxBytes:    int64(num("FL_SPOOL_MAX_BYTES", 1<<30)),
			MinFreeBytes:     int64(num("FL_MIN_FREE_BYTES", 64<<20)),
		},
		Providers: providersFromEnv(getenv),

		ReviewFrameAncestors: str("FL_REVIEW_FRAME_ANCESTORS", "*"),
	}
	c.OneCAuthFailures = num("FL_ONEC_AUTH_FAILURES", 10)
	c.OneCAuthWindow = dur("FL_ONEC_AUTH_WINDOW", 10*time.Minute)
	c.AdminToken = strings.TrimSpace(getenv("FL_ADMIN_TOKEN"))
	if trusted, err := parseCIDRs(getenv("FL_TRUSTED_PROXIES")); err != nil {
		errs = append(errs, fmt.Errorf("FL_TRUSTED_PROXIES: %w", err))
	} else {
		c.TrustedProxies = trusted
	}
	if s := getenv("FL_JWT_SECRET"); s != "" {
		if len(s) < 32 {
			errs = append(errs, errors.New("FL_JWT_SECRET must be at least 32 characters"))
		}
		c.JWTSecret = []byte(s)
	}
	if c.MediaPublicURL != "" {
		if _, err := media.ParsePublicStoreURL(c.MediaPublicURL); err != nil {
			errs = append(errs, fmt.Errorf("FL_MEDIA_PUBLIC_URL: %w", err))
		}
	}
	if c.OTP.Digits < 4 || c.OTP.Digits > 10 {
		errs = append(errs, fmt.Errorf("FL_OTP_DIGITS must be between 4 and 10, got %d", c.OTP.Digits))
	}
	if c.Env != "development" && c.Env != "production" {
		errs = append(errs, fmt.Errorf("FL_ENV must be development or production, got %q", c.Env))
	}
	var err error
	if c.Authenticity, err = authenticity.LoadConfig(getenv); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func defaultPublicURL(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "http://localhost" + addr
	}
	return "http://" + addr
}

// EnsureJWTSecret fills JWTSecret from DataDir/jwt.key, generating that file on first use.
// Production refuses this (see Validate): instances behind a load balancer must share one key.
func (c *Config) EnsureJWTSecret() error {
	if len(c.JWTSecret) > 0 {
		return nil
	}
	path := filepath.Join(c.DataDir, "jwt.key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		c.JWTSecret, c.JWTSecretGenerated = []byte(strings.TrimSpace(string(b))), true
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("config: create data dir: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	key := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	c.JWTSecret, c.JWTSecretGenerated = []byte(key), true
	return nil
}

// ReviewSigningKey signs the 1C review page links; derived like MediaSigningKey.
func (c *Config) ReviewSigningKey() []byte {
	m := hmac.New(sha256.New, c.JWTSecret)
	m.Write([]byte("forteleasing/review-url"))
	return m.Sum(nil)
}

// MediaSigningKey signs the disk store's download URLs; derived so one secret serves both uses.
func (c *Config) MediaSigningKey() []byte {
	m := hmac.New(sha256.New, c.JWTSecret)
	m.Write([]byte("forteleasing/media-url"))
	return m.Sum(nil)
}

// MinOneCPassword is the shortest 1C password production accepts.
const MinOneCPassword = 16

// Warnings are settings that are ignored or unsafe but allowed outside production; start-up logs them.
func (c *Config) Warnings() []string {
	var w []string
	if c.ProxyHeader != "" && len(c.TrustedProxies) == 0 {
		w = append(w, "FL_PROXY_HEADER is ignored: set FL_TRUSTED_PROXIES to the load balancers' CIDRs; client addresses are the direct peers")
	}
	return w
}

// parseCIDRs reads a comma-separated list of CIDRs or single addresses.
func parseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// loopback reports whether a listen address (host:port) is reachable only from this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Validate refuses to run production on dev defaults and names each missing setting.
func (c *Config) Validate() error {
	if c.Env != "production" {
		return nil
	}
	var missing []string
	if len(c.JWTSecret) == 0 || c.JWTSecretGenerated {
		missing = append(missing, "FL_JWT_SECRET (a generated key cannot be shared by several instances)")
	}
	if strings.HasPrefix(c.MailURL, "file://") || strings.HasPrefix(c.MailURL, "log://") {
		missing = append(missing, "FL_MAIL_URL (smtp:// or smtps://; file and log mail deliver nothing)")
	}
	if c.OneCUser == DefaultOneCUser || c.OneCPassword == DefaultOneCPassword {
		missing = append(missing, "FL_ONEC_USER and FL_ONEC_PASSWORD (the documented example credentials are public)")
	} else if len([]rune(c.OneCPassword)) < MinOneCPassword {
		missing = append(missing, fmt.Sprintf("FL_ONEC_PASSWORD of at least %d characters (a short one is guessed)", MinOneCPassword))
	}
	if c.ProxyHeader != "" && len(c.TrustedProxies) == 0 {
		missing = append(missing, "FL_TRUSTED_PROXIES (the CIDRs of the load balancers that set FL_PROXY_HEADER; without it anyone could)")
	}
	if c.AdminToken == "" && c.AdminAddr != "off" && !loopback(c.AdminAddr) {
		missing = append(missing, "FL_ADMIN_TOKEN (FL_ADMIN_ADDR "+c.AdminAddr+" is reachable from other hosts)")
	}
	if strings.HasPrefix(c.DatabaseURL, "sqlite://") {
		missing = append(missing, "FL_DATABASE_URL (postgres://…; SQLite is for one development instance)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("FL_ENV=production refuses development defaults; set: %s", strings.Join(missing, "; "))
	}
	return nil
}
