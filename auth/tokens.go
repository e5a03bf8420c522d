package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
)

const (
	typeAccess  = "access"
	typeRefresh = "refresh"
)

// Claims are the JWT claims of CONTRACT §2; sid (the device session) is ours in addition.
type Claims struct {
	Type      string `json:"type"`
	RTI       string `json:"rti,omitempty"`
	RTP       string `json:"rtp,omitempty"`
	BIIN      string `json:"biin"`
	CompanyID int64  `json:"company_id"`
	UserID    int64  `json:"user_id"`
	UUID      string `json:"uuid"`
	SessionID int64  `json:"sid"`
	jwt.RegisteredClaims
}

// Identity is who a token speaks for.
type Identity struct {
	BIIN      string
	CompanyID int64
	UserID    int64
	UUID      string
	SessionID int64
}

// Tokens signs and verifies HS256 tokens. Everything with an expiry reads the injectable clock.
type Tokens struct {
	secret     []byte
	issuer     string
	accessTTL  time.Duration
	refreshTTL time.Duration
	now        func() time.Time
	keys       derivedKeys
	// verified remembers tokens whose signature and claims were checked, keyed by the whole token: the
	// app sends the same access token for minutes, and parsing it was a fifth of a cached list's CPU.
	// Only the exact string hits, and expiry is checked again on every use.
	verified *lru.Cache[string, *Claims]
}

// derivedKeys separates the uses of the one configured secret, so a hash of one kind never verifies another.
type derivedKeys struct{ otp, refresh []byte }

func newDerivedKeys(secret []byte) derivedKeys {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("forteleasing/" + label))
		return m.Sum(nil)
	}
	return derivedKeys{otp: derive("otp"), refresh: derive("refresh")}
}

func NewTokens(secret []byte, issuer string, accessTTL, refreshTTL time.Duration, now func() time.Time) *Tokens {
	verified, _ := lru.New[string, *Claims](4096) // errs only for a size < 1
	return &Tokens{secret: secret, issuer: issuer, accessTTL: accessTTL, refreshTTL: refreshTTL, now: now, keys: newDerivedKeys(secret),
		verified: verified}
}

// Pair is what /auth and /refresh_token hand out.
type Pair struct {
	Access  string
	Refresh string
}

// sign issues a pair for id at issuedAt; the same inputs always give the same strings,
// which is how a racing retry within the grace period gets back the pair it missed.
func (t *Tokens) sign(id Identity, rti int64, rtp string, issuedAt time.Time) (Pair, error) {
	base := Claims{BIIN: id.BIIN, CompanyID: id.CompanyID, UserID: id.UserID, UUID: id.UUID, SessionID: id.SessionID}
	access := base
	access.Type = typeAccess
	access.RegisteredClaims = jwt.RegisteredClaims{
		ExpiresAt: jwt.NewNumericDate(issuedAt.Add(t.accessTTL)),
		IssuedAt:  jwt.NewNumericDate(issuedAt),
		Issuer:    t.issuer,
	}
	refresh := base
	refresh.Type, refresh.RTI, refresh.RTP = typeRefresh, strconv.FormatInt(rti, 10), rtp
	refresh.RegisteredClaims = jwt.RegisteredClaims{
		ExpiresAt: jwt.NewNumericDate(issuedAt.Add(t.refreshTTL)),
		IssuedAt:  jwt.NewNumericDate(issuedAt),
		Issuer:    t.issuer,
	}
	a, err := jwt.NewWithClaims(jwt.SigningMethodHS256, access).SignedString(t.secret)
	if err != nil {
		return Pair{}, fmt.Errorf("auth: sign access: %w", err)
	}
	r, err := jwt.NewWithClaims(jwt.SigningMethodHS256, refresh).SignedString(t.secret)
	if err != nil {
		return Pair{}, fmt.Errorf("auth: sign refresh: %w", err)
	}
	return Pair{Access: a, Refresh: r}, nil
}

var errTokenInvalid = errors.New("auth: token invalid")

// verify accepts only HS256 tokens of the wanted type from our issuer that have not expired.
func (t *Tokens) verify(raw, wantType string) (*Claims, error) {
	if c, ok := t.verified.Get(raw); ok {
		if !t.now().Before(c.ExpiresAt.Time) {
			t.verified.Remove(raw)
			return nil, errTokenExpired
		}
		if c.Type != wantType {
			return nil, fmt.Errorf("%w: a %q token where %q is needed", errTokenInvalid, c.Type, wantType)
		}
		return c, nil
	}
	c, err := t.parse(raw, wantType)
	if err == nil {
		// A clone: raw may point into the request buffer (Fiber's strings do), which is reused.
		t.verified.Add(strings.Clone(raw), c)
	}
	return c, err
}

func (t *Tokens) parse(raw, wantType string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, errTokenExpired
		}
		return nil, fmt.Errorf("%w: %v", errTokenInvalid, err)
	}
	if c.Type != wantType {
		return nil, fmt.Errorf("%w: a %q token where %q is needed", errTokenInvalid, c.Type, wantType)
	}
	if c.UserID <= 0 || c.CompanyID <= 0 || c.SessionID <= 0 {
		return nil, fmt.Errorf("%w: missing identity claims", errTokenInvalid)
	}
	return &c, nil
}

var errTokenExpired = errors.New("auth: token expired")

// newRTP is the random secret of the first refresh token of a session.
func newRTP() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("auth: crypto/rand failed: %v", err)) // the OS is broken; nothing sensible to do
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// childRTP derives a rotated token's secret from its parent's, which only the holder of the parent knows.
// Only its hash is stored, yet a retry presenting the parent can be handed the very same child again.
func (t *Tokens) childRTP(parentRTP string, childID int64) string {
	m := hmac.New(sha256.New, t.keys.refresh)
	fmt.Fprintf(m, "child|%s|%d", parentRTP, childID)
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)[:16]))
}

// hashRTP is the keyed hash stored for a refresh secret.
func (t *Tokens) hashRTP(rtp string) string {
	m := hmac.New(sha256.New, t.keys.refresh)
	m.Write([]byte("secret|" + rtp))
	return hex.EncodeToString(m.Sum(nil))
}

// hashOTP is the keyed hash stored for an OTP, bound to the BIN, role, device and mobile it was issued for.
func (t *Tokens) hashOTP(biin string, role int, device, mobile, code string) string {
	m := hmac.New(sha256.New, t.keys.otp)
	fmt.Fprintf(m, "%s|%d|%s|%s|%s", biin, role, device, mobile, code)
	return hex.EncodeToString(m.Sum(nil))
}

// equalHash compares two hex hashes in constant time.
func equalHash(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
