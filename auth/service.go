package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/mail"
)

const (
	roleDirector = inspections.RoleDirector
	roleEmployee = inspections.RoleEmployee
)

// Mailer delivers the OTP e-mails (internal/mail has the transports).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Service holds the login rules; handlers in http.go stay thin around it.
type Service struct {
	store  *Store
	tokens *Tokens
	mailer Mailer
	otp    config.OTPConfig
	grace  time.Duration
	now    func() time.Time
	log    *slog.Logger
	sent   func()
	// checked remembers the sessions Authenticate found live, with the auth version they were found at.
	checked *lru.Cache[int64, checkedSession]
}

type Options struct {
	OTP               config.OTPConfig
	RefreshReuseGrace time.Duration
	Now               func() time.Time
	Logger            *slog.Logger
	OnOTPSent         func() // counts codes e-mailed (metrics)
}

func NewService(store *Store, tokens *Tokens, mailer Mailer, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.OnOTPSent == nil {
		opts.OnOTPSent = func() {}
	}
	checked, _ := lru.New[int64, checkedSession](checkedSessions) // errs only for a size < 1
	return &Service{store: store, tokens: tokens, mailer: mailer, otp: opts.OTP, grace: opts.RefreshReuseGrace,
		now: func() time.Time { return opts.Now().UTC() }, log: opts.Logger, sent: opts.OnOTPSent, checked: checked}
}

// OTPRequest is the body of POST /biin/{biin}.
type OTPRequest struct {
	BIIN      string
	Role      int
	UUID      string
	FCM       string
	Mobile    string
	FirstName string
	ClientIP  string
}

// RequestOTP e-mails a fresh code to the company and returns the masked address it went to.
func (s *Service) RequestOTP(ctx context.Context, r OTPRequest) (maskedEmail string, err error) {
	now := s.now()
	co, err := s.store.companyByBIIN(ctx, r.BIIN)
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code == apperr.NotFound {
		// A lookup of an unknown BIN counts against the address like a send, so the client list cannot
		// be enumerated faster than the hourly cap.
		ipCount, oldest, lerr := s.store.recordUnknownLookup(ctx, r.ClientIP, now, now.Add(-time.Hour), s.otp.HourlyPerIP)
		if lerr != nil {
			return "", lerr
		}
		if ipCount >= s.otp.HourlyPerIP {
			return "", rateLimited("otp_ip_hourly_limit", oldest.Add(time.Hour).Sub(now), "too many codes requested from this address in the last hour")
		}
		return "", err
	}
	if err != nil {
		return "", err
	}
	if err := s.refuseIfLocked(ctx, r.BIIN, now); err != nil {
		return "", err
	}
	code, err := newCode(s.otp.Digits)
	if err != nil {
		return "", err
	}
	row := otpRow{
		BIIN: r.BIIN, DeviceUUID: r.UUID, Role: r.Role, Mobile: r.Mobile, FirstName: r.FirstName, FCMToken: r.FCM,
		CodeHash:  s.tokens.hashOTP(r.BIIN, r.Role, r.UUID, r.Mobile, code),
		CreatedAt: now, ExpiresAt: now.Add(s.otp.TTL),
	}
	sendID, err := s.store.issueOTP(ctx, co.ID, row, r.ClientIP, now.Add(-time.Hour), func(w sendWindow) error {
		return s.checkSendLimits(w, now)
	})
	if err != nil {
		return "", err
	}
	msg := mail.Message{
		To:      co.Email,
		Subject: "ForteLeasing: код для входа",
		Text: fmt.Sprintf("Здравствуйте!\n\nКод для входа в приложение ForteLeasing (%s, %s):\n\nOTP: %s\n\n"+
			"Код действует %d минут и подходит только для устройства, с которого он запрошен.\n"+
			"Если вы не запрашивали код, просто проигнорируйте это письмо.\n",
			co.Name, roleTitle(r.Role), code, int(s.otp.TTL.Minutes())),
	}
	if err := s.mailer.Send(ctx, msg); err != nil {
		// No usable code may outlive a failed send, and the failure must not count against the limits.
		if werr := s.store.withdrawOTP(context.WithoutCancel(ctx), r.BIIN, r.UUID, row.CodeHash, sendID); werr != nil {
			s.log.Error("withdraw OTP after failed send", "biin", r.BIIN, "err", werr)
		}
		return "", apperr.Wrap(apperr.Unavailable, err, "the e-mail with the code could not be sent, try again later")
	}
	s.sent()
	return mail.MaskAddress(co.Email), nil
}

func (s *Service) checkSendLimits(w sendWindow, now time.Time) error {
	if w.LastDeviceSend.Valid {
		if wait := w.LastDeviceSend.Time.Add(s.otp.Cooldown).Sub(now); wait > 0 {
			return rateLimited("otp_cooldown", wait, "a code was sent to this device moments ago; wait before asking again")
		}
	}
	if w.BINCount >= s.otp.HourlyPerBIN {
		return rateLimited("otp_bin_hourly_limit", w.BINOldest.Time.Add(time.Hour).Sub(now), "too many codes requested for this BIN/IIN in the last hour")
	}
	if w.IPCount >= s.otp.HourlyPerIP {
		return rateLimited("otp_ip_hourly_limit", w.IPOldest.Time.Add(time.Hour).Sub(now), "too many codes requested from this address in the last hour")
	}
	return nil
}

func (s *Service) refuseIfLocked(ctx context.Context, biin string, now time.Time) error {
	until, err := s.store.lockedUntil(ctx, biin, now)
	if err != nil {
		return err
	}
	if !until.IsZero() {
		return rateLimited("otp_locked", until.Sub(now), "too many wrong codes for this BIN/IIN; code login is paused")
	}
	return nil
}

func rateLimited(reason string, wait time.Duration, msg string) error {
	if wait < time.Second {
		wait = time.Second
	}
	return &apperr.Error{Code: apperr.RateLimited, Reason: reason, Message: msg, RetryAfter: wait}
}

// Login checks the OTP presented by POST /auth and opens a device session.
func (s *Service) Login(ctx context.Context, l Login) (Session, error) {
	now := s.now()
	if err := s.refuseIfLocked(ctx, l.BIIN, now); err != nil {
		return Session{}, err
	}
	invalid := apperr.New(apperr.Unauthorized, "invalid_otp", "wrong BIN/IIN, device or code")
	o, err := s.store.otpFor(ctx, l.BIIN, l.IMEI)
	if errors.Is(err, errNoOTP) {
		return Session{}, invalid
	}
	if err != nil {
		return Session{}, err
	}
	switch {
	case o.UsedAt.Valid:
		return Session{}, apperr.New(apperr.Unauthorized, "otp_used", "this code was already used; request a new one")
	case o.Attempts >= s.otp.MaxAttempts:
		return Session{}, apperr.New(apperr.RateLimited, "otp_attempts_exceeded", "too many wrong tries; request a new code")
	case !now.Before(o.ExpiresAt):
		return Session{}, apperr.New(apperr.Unauthorized, "otp_expired", "the code has expired; request a new one")
	}
	// The guess is compared only after it has claimed an attempt against the code and the BIN.
	claim, err := s.store.claimGuess(ctx, o.ID, o.BIIN, now, failureWindow, s.otp.DailyFailures, s.otp.MaxAttempts)
	switch {
	case errors.Is(err, errGuessBINCap):
		return Session{}, rateLimited("otp_locked", failureWindow, "too many wrong codes for this BIN/IIN; code login is paused")
	case errors.Is(err, errGuessCodeCap):
		return Session{}, apperr.New(apperr.RateLimited, "otp_attempts_exceeded", "too many wrong tries; request a new code")
	case errors.Is(err, errGuessUsed):
		return Session{}, apperr.New(apperr.Unauthorized, "otp_used", "this code was already used; request a new one")
	case err != nil:
		return Session{}, err
	}
	if !equalHash(s.tokens.hashOTP(o.BIIN, o.Role, o.DeviceUUID, o.Mobile, l.OTP), o.CodeHash) {
		return Session{}, s.wrongCode(ctx, o, claim, now, invalid)
	}
	ok, err := s.store.consumeOTP(ctx, o.ID, claim, now)
	if err != nil {
		return Session{}, err
	}
	if !ok {
		return Session{}, apperr.New(apperr.Unauthorized, "otp_used", "this code was already used; request a new one")
	}
	co, err := s.store.companyByBIIN(ctx, o.BIIN)
	if err != nil {
		return Session{}, err
	}
	rtp := newRTP()
	ss, rti, err := s.store.startSession(ctx, co.ID, o, s.tokens.hashRTP(rtp), now, now.Add(s.tokens.refreshTTL))
	if err != nil {
		return Session{}, err
	}
	return s.issue(ss, rti, rtp, now)
}

// failureWindow is the period over which wrong codes are capped per BIN, and the lockout's length.
const failureWindow = 24 * time.Hour

// wrongCode answers a compared wrong guess; its claim has already counted it against both caps.
func (s *Service) wrongCode(ctx context.Context, o otpRow, claim guessClaim, now time.Time, invalid error) error {
	if claim.failures >= s.otp.DailyFailures {
		locked, err := s.store.lockBIN(ctx, o.BIIN, now, now.Add(failureWindow))
		if err != nil {
			return err
		}
		if locked {
			s.log.Warn("OTP login locked for BIN after repeated wrong codes", "biin", o.BIIN)
			s.notifyLockout(ctx, o.BIIN)
		}
	}
	if claim.attempts >= s.otp.MaxAttempts {
		return apperr.New(apperr.RateLimited, "otp_attempts_exceeded", "too many wrong tries; request a new code")
	}
	return invalid
}

// notifyLockout tells the company once; a failure to e-mail must not change the login's answer.
func (s *Service) notifyLockout(ctx context.Context, biin string) {
	co, err := s.store.companyByBIIN(ctx, biin)
	if err == nil {
		err = s.mailer.Send(ctx, mail.Message{
			To:      co.Email,
			Subject: "ForteLeasing: вход по коду временно заблокирован",
			Text: fmt.Sprintf("Для %s (%s) было введено слишком много неверных кодов за сутки.\n"+
				"Вход по коду приостановлен на 24 часа. Если это были не вы, сообщите в ForteLeasing.\n", co.Name, co.BIIN),
		})
	}
	if err != nil {
		s.log.Error("lockout notice not sent", "biin", biin, "err", err)
	}
}

// Session is an authenticated device session and its fresh tokens.
type Session struct {
	Pair
	Principal
	FirstName, LastName, PatronicName, Mobile string
	CompanyName, CompanyEmail                 string
	// Versions are the company's versions read with the session (a refresh), zero when not read.
	Versions inspections.ListVersions
}

func (s *Service) issue(ss session, rti int64, rtp string, issuedAt time.Time) (Session, error) {
	p := principalOf(ss)
	pair, err := s.tokens.sign(identityOf(p), rti, rtp, issuedAt)
	if err != nil {
		return Session{}, err
	}
	return Session{Pair: pair, Principal: p, FirstName: ss.FirstName, LastName: ss.LastName, PatronicName: ss.PatronicName,
		Mobile: ss.Mobile, CompanyName: ss.CompanyName, CompanyEmail: ss.CompanyEmail}, nil
}

// issueAt is issue for a refresh, whose answer is built as of the versions read with its token.
func (s *Service) issueAt(st refreshState, rti int64, rtp string, issuedAt time.Time) (Session, error) {
	ss, err := s.issue(st.session, rti, rtp, issuedAt)
	ss.Versions = st.versions
	return ss, err
}

var errRefreshRejected = apperr.New(apperr.Unauthorized, "invalid_refresh_token", "refresh token is invalid, expired or revoked; log in again")

// maxGraceChain bounds the walk to the newest token when a late retry arrives after several rotations.
const maxGraceChain = 8

// Refresh rotates a refresh token. A retry of an already rotated token within the grace period gets the
// pair issued for it; later reuse means the token leaked, so the whole session is revoked.
func (s *Service) Refresh(ctx context.Context, raw string) (Session, error) {
	now := s.now()
	// Parsed, not remembered (verify): a refresh token is presented once, or again only within the grace.
	c, err := s.tokens.parse(raw, typeRefresh)
	if err != nil {
		return Session{}, errRefreshRejected
	}
	rti, err := strconv.ParseInt(c.RTI, 10, 64)
	if err != nil {
		return Session{}, errRefreshRejected
	}
	childRTP := s.tokens.childRTP(c.RTP, rti)
	a := refreshAttempt{id: rti, sessionID: c.SessionID, userID: c.UserID, secretHash: s.tokens.hashRTP(c.RTP),
		childHash: s.tokens.hashRTP(childRTP), now: now, expires: now.Add(s.tokens.refreshTTL)}
	st, childID, err := s.store.readAndRotate(ctx, a)
	if errors.Is(err, errNoRefresh) {
		return Session{}, errRefreshRejected
	}
	if err != nil {
		return Session{}, err
	}
	if !a.admits(st) {
		return Session{}, errRefreshRejected
	}
	if childID != 0 {
		return s.issueAt(st, childID, childRTP, now)
	}
	row, ss := st.refreshRow, st.session
	if !row.RotatedAt.Valid {
		// Lost a race with a concurrent refresh of the same token: answer like a retry.
		if row, err = s.store.refreshToken(ctx, rti); err != nil {
			return Session{}, err
		}
	}
	if now.Sub(row.RotatedAt.Time) > s.grace {
		s.log.Warn("refresh token reused after rotation: session revoked", "session_id", ss.ID, "user_id", ss.UserID)
		if err := s.store.revokeSession(ctx, ss.ID, ss.CompanyID, now); err != nil {
			return Session{}, err
		}
		return Session{}, errRefreshRejected
	}
	// Walk to the newest token of the chain, re-deriving each secret from its parent's.
	rtp, parent := c.RTP, row
	for i := 0; i < maxGraceChain; i++ {
		child, err := s.store.childToken(ctx, parent.ID)
		if errors.Is(err, errNoRefresh) {
			return Session{}, errRefreshRejected // a rotated token without a child: nothing to hand back
		}
		if err != nil {
			return Session{}, err
		}
		rtp = s.tokens.childRTP(rtp, parent.ID)
		if !child.RotatedAt.Valid {
			return s.issueAt(st, child.ID, rtp, child.IssuedAt)
		}
		parent = child
	}
	return Session{}, errRefreshRejected
}

// Logout revokes the caller's device session and forgets its push token.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	return s.store.revokeSession(ctx, p.SessionID, p.CompanyID, s.now())
}

// SetFCM replaces the push token of the caller's device session.
func (s *Service) SetFCM(ctx context.Context, p Principal, token string) error {
	return s.store.setFCM(ctx, p.SessionID, token)
}

// Authenticate checks an access token and that its session, user and company are still active,
// so a deleted employee or a revoked session is refused at once, not when the token expires. The full
// check (a join of the three) runs when this instance has not checked the session at the company's
// current auth version; otherwise the version (one primary-key read) is all it costs. Every
// revocation and deactivation moves that version in its own transaction (BumpAuthVersion), on
// whichever instance it happens.
func (s *Service) Authenticate(ctx context.Context, raw string) (Principal, error) {
	p, _, err := s.AuthenticateWithLists(ctx, raw)
	return p, err
}

// AuthenticateWithLists is Authenticate that also returns the company's report-list versions, read in
// the same statement (inspections.ListVersions).
func (s *Service) AuthenticateWithLists(ctx context.Context, raw string) (Principal, inspections.ListVersions, error) {
	var none inspections.ListVersions
	c, err := s.tokens.verify(raw, typeAccess)
	if errors.Is(err, errTokenExpired) {
		return Principal{}, none, apperr.New(apperr.Unauthorized, "token_expired", "access token expired; refresh it")
	}
	if err != nil {
		return Principal{}, none, apperr.New(apperr.Unauthorized, "invalid_token", "access token is invalid")
	}
	// The version is read before the full check, so a revocation committed between the two is seen
	// by the check, and one committed after it moves the version this entry is kept under.
	version, lists, err := s.store.companyVersions(ctx, c.CompanyID)
	if err != nil {
		return Principal{}, none, err
	}
	now := s.now()
	if e, ok := s.checked.Get(c.SessionID); ok && e.version == version && now.Sub(e.at) < sessionCheckTTL &&
		e.p.UserID == c.UserID && e.p.CompanyID == c.CompanyID {
		return e.p, lists, nil
	}
	ss, err := s.store.liveSession(ctx, c.SessionID, c.UserID)
	if errors.Is(err, errSessionGone) {
		s.checked.Remove(c.SessionID)
		return Principal{}, none, apperr.New(apperr.Unauthorized, "session_revoked", "this session has ended; log in again")
	}
	if err != nil {
		return Principal{}, none, err
	}
	p := principalOf(ss)
	if p.CompanyID != c.CompanyID {
		return p, none, nil // never: sessions do not change company; the versions read are not its own
	}
	s.checked.Add(c.SessionID, checkedSession{p: p, version: version, at: now})
	return p, lists, nil
}

// checkedSession is a session this instance found live at a company's auth version.
type checkedSession struct {
	p       Principal
	version int64
	at      time.Time
}

const (
	// sessionCheckTTL bounds how long a checked session is trusted on its version alone.
	sessionCheckTTL = time.Minute
	checkedSessions = 8192
)

// PurgeLedgers removes rate-limit records that no limit reads any more.
func (s *Service) PurgeLedgers(ctx context.Context) error {
	return s.store.purgeLedgers(ctx, s.now().Add(-48*time.Hour))
}

func newCode(digits int) (string, error) {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", fmt.Errorf("auth: generate OTP: %w", err)
	}
	return fmt.Sprintf("%0*d", digits, n), nil
}

func roleTitle(role int) string {
	if role == roleDirector {
		return "Директор"
	}
	return "Сотрудник"
}
