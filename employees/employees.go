// Package employees lets a company's director list and delete the employees who logged in with the app.
package employees

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jmoiron/sqlx"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
)

// Employee is one entry of GET /employee/list; keys follow the seed.
type Employee = inspections.Employee

// MaxList bounds the list; a company has far fewer app users than this.
const MaxList = 1000

// Store holds every query of the employees feature.
type Store struct {
	db  *database.DB
	now func() time.Time
	// answered is each company's list as of an auth version, for the login and refresh answers.
	answered *lru.Cache[int64, listAt]
}

type listAt struct {
	version int64
	built   time.Time
	list    []Employee
}

const (
	cachedCompanies = 4096
	// listTTL bounds how long a list is served on its version alone.
	listTTL = time.Minute
)

func NewStore(db *database.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	answered, _ := lru.New[int64, listAt](cachedCompanies)
	return &Store{db: db, now: now, answered: answered}
}

// List returns the company's active employees, newest first.
func (s *Store) List(ctx context.Context, companyID int64) ([]Employee, error) {
	out := []Employee{}
	err := s.db.SelectPrepared(ctx, &out, `
		SELECT id, first_name, mobile FROM users
		WHERE company_id = $1 AND role = 2 AND active ORDER BY id DESC LIMIT $2`, companyID, MaxList)
	return out, err
}

// Employees is List for the login and refresh answers (inspections.Employees), kept per company under
// its auth version, which every write to its users moves (auth.BumpAuthVersion): a director's refresh
// no longer reads the list again (it was an eighth of a refresh's CPU). authVersion was read before
// this call, so a list read now is at least as new as it. Callers must not modify the list.
func (s *Store) Employees(ctx context.Context, companyID, authVersion int64) ([]inspections.Employee, error) {
	now := s.now()
	if e, ok := s.answered.Get(companyID); ok && authVersion != 0 && e.version >= authVersion && now.Sub(e.built) < listTTL {
		return e.list, nil
	}
	list, err := s.List(ctx, companyID)
	if err != nil || authVersion == 0 {
		return list, err
	}
	s.answered.Add(companyID, listAt{version: authVersion, built: now, list: list})
	return list, nil
}

// Delete deactivates an employee of the company and ends their sessions and push tokens at once.
// Another company's id, the director's id and an unknown id are all not found.
func (s *Store) Delete(ctx context.Context, companyID, userID int64) error {
	now := s.now().UTC()
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE users SET active = FALSE, updated_at = $3 WHERE id = $1 AND company_id = $2 AND role = 2 AND active`,
			userID, companyID, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return apperr.New(apperr.NotFound, "employee_not_found", "no such employee")
		}
		if _, err = tx.ExecContext(ctx, `
			UPDATE sessions SET revoked_at = $2, fcm_token = '' WHERE user_id = $1 AND revoked_at IS NULL`, userID, now); err != nil {
			return err
		}
		// Every instance checks its callers' sessions in full again: the next request of this user is refused.
		return auth.BumpAuthVersion(ctx, tx, companyID)
	})
}
