package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
)

// Store holds every query of the auth feature.
type Store struct {
	db           *database.DB
	rotations    *database.Batch[rotation, int64]
	versionReads versionReads
}

func NewStore(db *database.DB) *Store {
	s := &Store{db: db}
	s.rotations = database.NewBatch(db, s.insertChild)
	s.versionReads.store = s
	return s
}

type company struct {
	ID     int64  `db:"id"`
	BIIN   string `db:"biin"`
	Name   string `db:"name"`
	Email  string `db:"email"`
	Active bool   `db:"active"`
}

func (s *Store) companyByBIIN(ctx context.Context, biin string) (company, error) {
	var c company
	err := s.db.GetContext(ctx, &c, `SELECT id, biin, name, email, active FROM companies WHERE biin = $1`, biin)
	if database.IsNoRows(err) || (err == nil && !c.Active) {
		return company{}, apperr.New(apperr.NotFound, "company_not_found", "no company with this BIN/IIN")
	}
	return c, err
}

func (s *Store) lockedUntil(ctx context.Context, biin string, now time.Time) (time.Time, error) {
	var until time.Time
	err := s.db.GetContext(ctx, &until, `SELECT locked_until FROM otp_lockouts WHERE biin = $1 AND locked_until > $2`, biin, now)
	if database.IsNoRows(err) {
		return time.Time{}, nil
	}
	return until, err
}

// sendWindow is what the rate limits look at, read inside the issuing transaction.
type sendWindow struct {
	LastDeviceSend sql.NullTime
	BINCount       int
	BINOldest      sql.NullTime
	IPCount        int
	IPOldest       sql.NullTime
}

type otpRow struct {
	ID         int64        `db:"id"`
	BIIN       string       `db:"biin"`
	DeviceUUID string       `db:"device_uuid"`
	Role       int          `db:"role"`
	Mobile     string       `db:"mobile"`
	FirstName  string       `db:"first_name"`
	FCMToken   string       `db:"fcm_token"`
	CodeHash   string       `db:"code_hash"`
	Attempts   int          `db:"attempts"`
	CreatedAt  time.Time    `db:"created_at"`
	ExpiresAt  time.Time    `db:"expires_at"`
	UsedAt     sql.NullTime `db:"used_at"`
}

// issueOTP checks the send limits and stores the code and a ledger entry atomically, so concurrent
// requests on several instances cannot all slip under a limit. check decides from the window.
func (s *Store) issueOTP(ctx context.Context, companyID int64, o otpRow, ip string, since time.Time, check func(sendWindow) error) (sendID int64, err error) {
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		// Touching the company row serialises OTP issuance per BIN (a row lock in PostgreSQL; SQLite has one writer).
		if _, err := tx.ExecContext(ctx, `UPDATE companies SET otp_requested_at = $2 WHERE id = $1`, companyID, o.CreatedAt); err != nil {
			return err
		}
		if err := s.lockAddress(ctx, tx, ip); err != nil {
			return err
		}
		// Times are read as rows, not through max()/min(): SQLite gives aggregates no declared type.
		var w sendWindow
		var err error
		if w.LastDeviceSend, err = firstTime(ctx, tx, `SELECT sent_at FROM otp_sends WHERE biin = $1 AND device_uuid = $2
			ORDER BY sent_at DESC LIMIT 1`, o.BIIN, o.DeviceUUID); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &w.BINCount, `SELECT count(*) FROM otp_sends WHERE biin = $1 AND sent_at > $2`, o.BIIN, since); err != nil {
			return err
		}
		if w.BINOldest, err = firstTime(ctx, tx, `SELECT sent_at FROM otp_sends WHERE biin = $1 AND sent_at > $2
			ORDER BY sent_at LIMIT 1`, o.BIIN, since); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &w.IPCount, `SELECT count(*) FROM otp_sends WHERE client_ip = $1 AND sent_at > $2`, ip, since); err != nil {
			return err
		}
		if w.IPOldest, err = firstTime(ctx, tx, `SELECT sent_at FROM otp_sends WHERE client_ip = $1 AND sent_at > $2
			ORDER BY sent_at LIMIT 1`, ip, since); err != nil {
			return err
		}
		if err := check(w); err != nil {
			return err
		}
		if _, err := tx.NamedExecContext(ctx, `
			INSERT INTO otps (biin, device_uuid, role, mobile, first_name, fcm_token, code_hash, attempts, created_at, expires_at, used_at)
			VALUES (:biin, :device_uuid, :role, :mobile, :first_name, :fcm_token, :code_hash, 0, :created_at, :expires_at, NULL)
			ON CONFLICT (biin, device_uuid) DO UPDATE SET
				role = excluded.role, mobile = excluded.mobile, first_name = excluded.first_name,
				fcm_token = excluded.fcm_token, code_hash = excluded.code_hash, attempts = 0,
				created_at = excluded.created_at, expires_at = excluded.expires_at, used_at = NULL`, o); err != nil {
			return err
		}
		return tx.QueryRowxContext(ctx,
			`INSERT INTO otp_sends (biin, device_uuid, client_ip, sent_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			o.BIIN, o.DeviceUUID, ip, o.CreatedAt).Scan(&sendID)
	})
	return sendID, err
}

// recordUnknownLookup writes a ledger entry for a lookup of a BIN that is no client (biin ” keeps it
// out of every per-BIN limit) unless the address is already at its hourly cap; it returns the
// address's count in the window before this lookup and the oldest entry's time.
func (s *Store) recordUnknownLookup(ctx context.Context, ip string, now, since time.Time, limit int) (count int, oldest time.Time, err error) {
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockAddress(ctx, tx, ip); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &count, `SELECT count(*) FROM otp_sends WHERE client_ip = $1 AND sent_at > $2`, ip, since); err != nil {
			return err
		}
		first, err := firstTime(ctx, tx, `SELECT sent_at FROM otp_sends WHERE client_ip = $1 AND sent_at > $2
			ORDER BY sent_at LIMIT 1`, ip, since)
		if err != nil {
			return err
		}
		oldest = first.Time
		if count >= limit {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO otp_sends (biin, device_uuid, client_ip, sent_at) VALUES ('', '', $1, $2)`, ip, now)
		return err
	})
	return count, oldest, err
}

// lockAddress serialises, per client address, the transactions that count its OTP requests and
// record one, so that concurrent requests (on several instances) cannot all pass the per-address cap
// on the same count: a transaction-scoped advisory lock on PostgreSQL, released at commit; SQLite
// has one writer and IMMEDIATE transactions already. Taken after the company row, never before it.
func (s *Store) lockAddress(ctx context.Context, tx *sqlx.Tx, ip string) error {
	if s.db.Dialect != database.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('otp-address:' || $1, 0))`, ip)
	return err
}

func firstTime(ctx context.Context, tx *sqlx.Tx, q string, args ...any) (sql.NullTime, error) {
	var t sql.NullTime
	err := tx.GetContext(ctx, &t, q, args...)
	if database.IsNoRows(err) {
		return sql.NullTime{}, nil
	}
	return t, err
}

// withdrawOTP undoes issueOTP after the e-mail could not be sent: no usable code, no ledger entry.
func (s *Store) withdrawOTP(ctx context.Context, biin, device, codeHash string, sendID int64) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM otps WHERE biin = $1 AND device_uuid = $2 AND code_hash = $3`, biin, device, codeHash); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM otp_sends WHERE id = $1`, sendID)
		return err
	})
}

func (s *Store) otpFor(ctx context.Context, biin, device string) (otpRow, error) {
	var o otpRow
	err := s.db.GetContext(ctx, &o, `
		SELECT id, biin, device_uuid, role, mobile, first_name, fcm_token, code_hash, attempts, created_at, expires_at, used_at
		FROM otps WHERE biin = $1 AND device_uuid = $2`, biin, device)
	if database.IsNoRows(err) {
		return otpRow{}, errNoOTP
	}
	return o, err
}

var errNoOTP = errors.New("auth: no OTP for this device")

// Why a guess was refused before it could be compared.
var (
	errGuessBINCap  = errors.New("auth: daily wrong-code cap of the BIN reached")
	errGuessCodeCap = errors.New("auth: the code has no attempts left")
	errGuessUsed    = errors.New("auth: the code was used")
)

// guessClaim is one attempt taken before a guess is compared: a failure already counted against the
// BIN (failureID) and an attempt already counted against the code.
type guessClaim struct {
	failureID int64
	attempts  int
	failures  int // failures of the BIN in the window, this one included
}

// claimGuess takes an attempt against both caps at once, before the guess is compared, so that any
// number of concurrent guesses on any number of live codes compare at most maxAttempts times per code
// and dailyCap times per BIN per window. The company row lock serialises the claims of one BIN on
// PostgreSQL (each statement after it sees the previous holder's rows); SQLite has one writer. When
// the code's claim fails the BIN's is rolled back with it, so a refused guess costs nothing.
func (s *Store) claimGuess(ctx context.Context, otpID int64, biin string, now time.Time, window time.Duration, dailyCap, maxAttempts int) (c guessClaim, err error) {
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE companies SET otp_requested_at = otp_requested_at WHERE biin = $1`, biin); err != nil {
			return err
		}
		if err := tx.QueryRowxContext(ctx, `
			INSERT INTO otp_failures (biin, failed_at)
			SELECT $1, $2 WHERE (SELECT count(*) FROM otp_failures WHERE biin = $1 AND failed_at > $3) < $4
			RETURNING id`, biin, now, now.Add(-window), dailyCap).Scan(&c.failureID); err != nil {
			if database.IsNoRows(err) {
				return errGuessBINCap
			}
			return err
		}
		err := tx.QueryRowxContext(ctx, `UPDATE otps SET attempts = attempts + 1
			WHERE id = $1 AND used_at IS NULL AND attempts < $2 RETURNING attempts`, otpID, maxAttempts).Scan(&c.attempts)
		if database.IsNoRows(err) {
			var used sql.NullTime
			if err := tx.GetContext(ctx, &used, `SELECT used_at FROM otps WHERE id = $1`, otpID); err == nil && used.Valid {
				return errGuessUsed
			}
			return errGuessCodeCap
		}
		if err != nil {
			return err
		}
		return tx.GetContext(ctx, &c.failures, `SELECT count(*) FROM otp_failures WHERE biin = $1 AND failed_at > $2`, biin, now.Add(-window))
	})
	return c, err
}

// lockBIN refuses OTP login for the BIN until until; it reports whether this call locked it first in
// the window (so the company is e-mailed once).
func (s *Store) lockBIN(ctx context.Context, biin string, now, until time.Time) (newlyLocked bool, err error) {
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO otp_lockouts (biin, locked_until, notified_at) VALUES ($1, $2, NULL)
		ON CONFLICT (biin) DO UPDATE SET locked_until = excluded.locked_until, notified_at = NULL
		WHERE otp_lockouts.locked_until <= $3`, biin, until, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// consumeOTP marks the right code used and gives back the failure its claim counted against the BIN:
// a right code is not a wrong try. false when another request used it first.
func (s *Store) consumeOTP(ctx context.Context, otpID int64, claim guessClaim, now time.Time) (won bool, err error) {
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE otps SET used_at = $2 WHERE id = $1 AND used_at IS NULL`, otpID, now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n != 1 {
			return err
		}
		won = true
		_, err = tx.ExecContext(ctx, `DELETE FROM otp_failures WHERE id = $1`, claim.failureID)
		return err
	})
	return won, err
}

// session is a device session with what the answers need about its user and company.
type session struct {
	ID           int64  `db:"id"`
	UserID       int64  `db:"user_id"`
	CompanyID    int64  `db:"company_id"`
	DeviceUUID   string `db:"device_uuid"`
	Role         int    `db:"role"`
	FirstName    string `db:"first_name"`
	LastName     string `db:"last_name"`
	PatronicName string `db:"patronic_name"`
	Mobile       string `db:"mobile"`
	BIIN         string `db:"biin"`
	CompanyName  string `db:"company_name"`
	CompanyEmail string `db:"company_email"`
}

const sessionColumns = `s.id, s.user_id, s.company_id, s.device_uuid, u.role, u.first_name, u.last_name, u.patronic_name,
	u.mobile, c.biin, c.name AS company_name, c.email AS company_email`

// liveSession loads a session only while it, its user and its company are all active.
func (s *Store) liveSession(ctx context.Context, sessionID, userID int64) (session, error) {
	var ss session
	err := s.db.GetPrepared(ctx, &ss, `SELECT `+sessionColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN companies c ON c.id = s.company_id
		WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND u.active AND c.active`, sessionID, userID)
	if database.IsNoRows(err) {
		return session{}, errSessionGone
	}
	return ss, err
}

// companyVersions reads the company's auth version (migration 00021) and, for the lists' cache, its
// report-list versions (migration 00020, owned by reports; inspections.ListVersions): primary-key
// reads in one statement, on PostgreSQL shared with the other requests waiting (versionReads). The
// list versions are at least 1, so 0 means "not read".
func (s *Store) companyVersions(ctx context.Context, companyID int64) (auth int64, lists inspections.ListVersions, err error) {
	if s.batchedVersions() {
		v, err := s.versionReads.read(ctx, companyID)
		return v.auth, v.lists, err
	}
	var v struct {
		Auth  int64 `db:"auth"`
		Lists int64 `db:"lists"`
		Fleet int64 `db:"fleet"`
	}
	err = s.db.GetPrepared(ctx, &v, `SELECT COALESCE((SELECT version FROM auth_versions WHERE company_id = $1), 0) AS auth,
		COALESCE((SELECT reports + fleet FROM list_versions WHERE company_id = $1), 0) + 1 AS lists,
		COALESCE((SELECT fleet FROM list_versions WHERE company_id = $1), 0) + 1 AS fleet`, companyID)
	return v.Auth, inspections.ListVersions{Lists: v.Lists, Fleet: v.Fleet, Auth: v.Auth + 1}, err
}

// BumpAuthVersion moves each company's auth version inside tx (migration 00021), so that every
// instance checks its callers' sessions in full again on their next request. Every write that ends a
// session, takes away a user's or a company's access, or adds or changes a user calls it in its own
// transaction (the director's employee list is cached under it too).
func BumpAuthVersion(ctx context.Context, tx *sqlx.Tx, companyIDs ...int64) error {
	ids := slices.Clone(companyIDs)
	slices.Sort(ids) // one lock order for every transaction
	for _, id := range slices.Compact(ids) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_versions (company_id, version) VALUES ($1, 1)
			ON CONFLICT (company_id) DO UPDATE SET version = auth_versions.version + 1`, id); err != nil {
			return fmt.Errorf("auth: bump auth version: %w", err)
		}
	}
	return nil
}

var errSessionGone = errors.New("auth: session revoked or user deactivated")

// startSession resolves the user the OTP was issued for, opens a session for the device (ending the
// device's earlier sessions of that user) and stores its first refresh token, in one transaction.
func (s *Store) startSession(ctx context.Context, companyID int64, o otpRow, rtHash string, now, expires time.Time) (ss session, rti int64, err error) {
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var userID int64
		switch o.Role {
		case roleDirector:
			err := tx.GetContext(ctx, &userID, `SELECT id FROM users WHERE company_id = $1 AND role = 1 AND active`, companyID)
			if database.IsNoRows(err) {
				return apperr.New(apperr.Forbidden, "no_director", "the company has no active director in 1C")
			}
			if err != nil {
				return err
			}
		case roleEmployee:
			err := tx.QueryRowxContext(ctx, `
				INSERT INTO users (company_id, role, first_name, mobile, active, created_at, updated_at)
				VALUES ($1, 2, $2, $3, TRUE, $4, $4)
				ON CONFLICT (company_id, mobile) WHERE role = 2
				DO UPDATE SET first_name = excluded.first_name, active = TRUE, updated_at = excluded.updated_at
				RETURNING id`, companyID, o.FirstName, o.Mobile, now).Scan(&userID)
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("auth: OTP with unknown role %d", o.Role)
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND device_uuid = $2 AND revoked_at IS NULL`,
			userID, o.DeviceUUID, now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		// An ended session, or an employee's row written (the director's employee list is cached
		// under the version, employees.Store.Employees).
		if n > 0 || o.Role == roleEmployee {
			if err := BumpAuthVersion(ctx, tx, companyID); err != nil {
				return err
			}
		}
		var sessionID int64
		if err := tx.QueryRowxContext(ctx, `
			INSERT INTO sessions (user_id, company_id, device_uuid, fcm_token, created_at) VALUES ($1, $2, $3, $4, $5)
			RETURNING id`, userID, companyID, o.DeviceUUID, o.FCMToken, now).Scan(&sessionID); err != nil {
			return err
		}
		if err := tx.QueryRowxContext(ctx, `
			INSERT INTO refresh_tokens (session_id, parent_id, secret_hash, issued_at, expires_at) VALUES ($1, NULL, $2, $3, $4)
			RETURNING id`, sessionID, rtHash, now, expires).Scan(&rti); err != nil {
			return err
		}
		return tx.GetContext(ctx, &ss, `SELECT `+sessionColumns+`
			FROM sessions s JOIN users u ON u.id = s.user_id JOIN companies c ON c.id = s.company_id WHERE s.id = $1`, sessionID)
	})
	return ss, rti, err
}

type refreshRow struct {
	ID         int64        `db:"id"`
	SessionID  int64        `db:"session_id"`
	SecretHash string       `db:"secret_hash"`
	IssuedAt   time.Time    `db:"issued_at"`
	ExpiresAt  time.Time    `db:"expires_at"`
	RotatedAt  sql.NullTime `db:"rotated_at"`
	// ChildIssued is when its child was issued, if it has one (rotation).
	ChildIssued sql.NullTime `db:"child_issued_at"`
}

// settle takes the child's issue time as the rotation time when rotated_at was not written (SQLite).
func (r *refreshRow) settle() {
	if !r.RotatedAt.Valid && r.ChildIssued.Valid {
		r.RotatedAt = r.ChildIssued
	}
}

func (s *Store) refreshToken(ctx context.Context, id int64) (refreshRow, error) {
	return s.refreshWhere(ctx, "id", id)
}

func (s *Store) childToken(ctx context.Context, parentID int64) (refreshRow, error) {
	return s.refreshWhere(ctx, "parent_id", parentID)
}

func (s *Store) refreshWhere(ctx context.Context, column string, id int64) (refreshRow, error) {
	var r refreshRow
	err := s.db.GetPrepared(ctx, &r, `SELECT t.id, t.session_id, t.secret_hash, t.issued_at, t.expires_at, `+rotationColumns+`
		FROM refresh_tokens t `+rotationJoin+` WHERE t.`+column+` = $1`, id)
	r.settle()
	if database.IsNoRows(err) {
		return refreshRow{}, errNoRefresh
	}
	return r, err
}

var errNoRefresh = errors.New("auth: refresh token unknown")

// rotation reads when token t was rotated: its rotated_at or, on SQLite, where rotate only inserts the
// child, the child's issue time (the unique index on parent_id makes the child the proof of rotation).
// A join, not COALESCE: SQLite gives an expression no declared type, and its driver reads the time back
// as text.
const (
	rotationColumns = `t.rotated_at, ch.issued_at AS child_issued_at`
	rotationJoin    = `LEFT JOIN refresh_tokens ch ON ch.parent_id = t.id`
)

// refreshState is a refresh token with its session as the access check sees it and its company's
// versions for the answer (what companyVersions reads), read at once.
type refreshState struct {
	refreshRow
	session
	Live     bool // the session, its user and its company are all active
	versions inspections.ListVersions
}

// versionColumns are companyVersions' values for a statement joined to sessions s by versionJoins.
const (
	versionColumns = `COALESCE(av.version, 0) AS auth_version, COALESCE(lv.reports + lv.fleet, 0) + 1 AS lists_version,
		COALESCE(lv.fleet, 0) + 1 AS fleet_version`
	versionJoins = `LEFT JOIN auth_versions av ON av.company_id = s.company_id
		LEFT JOIN list_versions lv ON lv.company_id = s.company_id`
)

// refreshAttempt is a presented refresh token (its JWT verified) and the child it is to be rotated to.
type refreshAttempt struct {
	id, sessionID, userID int64
	secretHash, childHash string
	now, expires          time.Time
}

// admits reports whether st is the live token a presents, unexpired: what a rotation requires. The
// PostgreSQL statement of readAndRotate checks the same in SQL.
func (a refreshAttempt) admits(st refreshState) bool {
	return st.refreshRow.SessionID == a.sessionID && equalHash(a.secretHash, st.SecretHash) &&
		a.now.Before(st.ExpiresAt) && st.Live && st.UserID == a.userID
}

// tokenColumns and tokenJoins read a refresh token t with its session, user, company and versions.
const (
	tokenColumns = `t.id AS token_id, t.secret_hash, t.issued_at, t.expires_at, ` + rotationColumns + `,
		(s.revoked_at IS NULL AND u.active AND c.active) AS live, ` + sessionColumns + `, ` + versionColumns
	tokenJoins = `FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id
		JOIN companies c ON c.id = s.company_id ` + rotationJoin + ` ` + versionJoins
)

type tokenRow struct {
	TokenID     int64        `db:"token_id"`
	SecretHash  string       `db:"secret_hash"`
	IssuedAt    time.Time    `db:"issued_at"`
	ExpiresAt   time.Time    `db:"expires_at"`
	RotatedAt   sql.NullTime `db:"rotated_at"`
	ChildIssued sql.NullTime `db:"child_issued_at"`
	Live        bool         `db:"live"`
	Auth        int64        `db:"auth_version"`
	Lists       int64        `db:"lists_version"`
	Fleet       int64        `db:"fleet_version"`
	session
}

func (r tokenRow) state() refreshState {
	row := refreshRow{ID: r.TokenID, SessionID: r.session.ID, SecretHash: r.SecretHash, IssuedAt: r.IssuedAt,
		ExpiresAt: r.ExpiresAt, RotatedAt: r.RotatedAt, ChildIssued: r.ChildIssued}
	row.settle()
	return refreshState{refreshRow: row, session: r.session, Live: r.Live,
		versions: inspections.ListVersions{Lists: r.Lists, Fleet: r.Fleet, Auth: r.Auth + 1}}
}

// readAndRotate reads a's token with its session and, if a admits it and it is not rotated yet, rotates
// it: childID is the new token's id, 0 when it was not rotated now (rotated before, by a concurrent
// refresh, or refused). PostgreSQL does it all in one statement, one round trip where read and rotation
// were two; SQLite reads, then rotates in a batch with the rotations that arrive meanwhile.
func (s *Store) readAndRotate(ctx context.Context, a refreshAttempt) (st refreshState, childID int64, err error) {
	if s.db.Dialect == database.Postgres {
		var r struct {
			tokenRow
			ChildID sql.NullInt64 `db:"child_id"`
		}
		// The CTEs all see the statement's snapshot: t is the token as it was, before parent rotates it.
		// The secret is compared in SQL too, so that a token Go would refuse is never rotated; Go
		// still decides with equalHash (admits). The database compares keyed hashes of a secret the
		// caller does not know, so its timing tells nothing usable.
		err = s.db.GetPrepared(ctx, &r, `
			WITH t AS (SELECT `+tokenColumns+` `+tokenJoins+` WHERE t.id = $1),
			parent AS (
				UPDATE refresh_tokens p SET rotated_at = $2 FROM t
				WHERE p.id = t.token_id AND p.rotated_at IS NULL AND t.live AND t.id = $3 AND t.user_id = $4
					AND t.secret_hash = $5 AND t.expires_at > $2
				RETURNING p.id, p.session_id),
			child AS (
				INSERT INTO refresh_tokens (session_id, parent_id, secret_hash, issued_at, expires_at)
				SELECT session_id, id, $6, $2, $7 FROM parent
				RETURNING id)
			SELECT t.*, (SELECT id FROM child) AS child_id FROM t`,
			a.id, a.now, a.sessionID, a.userID, a.secretHash, a.childHash, a.expires)
		switch {
		case database.IsNoRows(err):
			return refreshState{}, 0, errNoRefresh
		case database.IsUniqueViolation(err): // never with the row lock the UPDATE takes; as a lost race
			return s.readAndRotate(ctx, refreshAttempt{id: a.id})
		case err != nil:
			return refreshState{}, 0, err
		}
		return r.tokenRow.state(), r.ChildID.Int64, nil
	}
	var r tokenRow
	err = s.db.GetPrepared(ctx, &r, `SELECT `+tokenColumns+` `+tokenJoins+` WHERE t.id = $1`, a.id)
	if database.IsNoRows(err) {
		return refreshState{}, 0, errNoRefresh
	}
	if err != nil {
		return refreshState{}, 0, err
	}
	st = r.state()
	if st.RotatedAt.Valid || !a.admits(st) {
		return st, 0, nil
	}
	// One INSERT, batched with the rotations that arrive meanwhile into one transaction of SQLite's
	// one writer. The child is the proof of rotation (rotationColumns).
	childID, err = s.rotations.Do(ctx, rotation{parent: st.refreshRow, childHash: a.childHash, now: a.now, expires: a.expires})
	return st, childID, err
}

type rotation struct {
	parent       refreshRow
	childHash    string
	now, expires time.Time
}

// insertChild stores r's child unless its parent already has one (then 0): the unique index on
// parent_id decides.
func (s *Store) insertChild(ctx context.Context, tx *sqlx.Tx, r rotation) (int64, error) {
	st, err := s.db.TxPrepared(ctx, tx, `
		INSERT INTO refresh_tokens (session_id, parent_id, secret_hash, issued_at, expires_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (parent_id) DO NOTHING
		RETURNING id`)
	if err != nil {
		return 0, err
	}
	var id int64
	err = st.QueryRowxContext(ctx, r.parent.SessionID, r.parent.ID, r.childHash, r.now, r.expires).Scan(&id)
	if database.IsNoRows(err) {
		return 0, nil
	}
	return id, err
}

func (s *Store) revokeSession(ctx context.Context, sessionID, companyID int64, now time.Time) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2, fcm_token = '' WHERE id = $1 AND revoked_at IS NULL`, sessionID, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return BumpAuthVersion(ctx, tx, companyID)
	})
}

func (s *Store) setFCM(ctx context.Context, sessionID int64, token string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sessions SET fcm_token = $2 WHERE id = $1 AND revoked_at IS NULL`, sessionID, token)
	return err
}

// purgeLedgers drops rate-limit rows and spent codes older than the longest window that reads them.
func (s *Store) purgeLedgers(ctx context.Context, before time.Time) error {
	for _, q := range []string{
		`DELETE FROM otp_sends WHERE sent_at < $1`,
		`DELETE FROM otp_failures WHERE failed_at < $1`,
		`DELETE FROM otp_lockouts WHERE locked_until < $1`,
		`DELETE FROM otps WHERE expires_at < $1`,
	} {
		if _, err := s.db.ExecContext(ctx, q, before); err != nil {
			return fmt.Errorf("auth: purge: %w", err)
		}
	}
	return nil
}
