package notify

import (
	"context"
	"database/sql"

	"github.com/forteleasing/inspections/internal/database"
)

// Store holds the queries of the push tokens: auth writes them with each login (sessions.fcm_token),
// this feature reads them to notify and forgets the ones FCM calls dead.
type Store struct{ db *database.DB }

func NewStore(db *database.DB) *Store { return &Store{db: db} }

// companyTokens returns the push tokens of every live session of the company's active users.
func (s *Store) companyTokens(ctx context.Context, tx *sql.Tx, companyID int64) ([]string, error) {
	return tokens(tx.QueryContext(ctx, `
		SELECT DISTINCT s.fcm_token FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.company_id = $1 AND s.revoked_at IS NULL AND s.fcm_token <> '' AND u.active`, companyID))
}

// uploaderAndDirectorTokens returns the push tokens of the uploader's and the director's live sessions.
func (s *Store) uploaderAndDirectorTokens(ctx context.Context, tx *sql.Tx, companyID, uploaderID int64) ([]string, error) {
	return tokens(tx.QueryContext(ctx, `
		SELECT DISTINCT s.fcm_token FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.company_id = $1 AND s.revoked_at IS NULL AND s.fcm_token <> '' AND u.active
			AND (u.id = $2 OR u.role = 1)`, companyID, uploaderID))
}

func tokens(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// forget drops a token FCM reported as unregistered from every session holding it.
func (s *Store) forget(ctx context.Context, token string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sessions SET fcm_token = '' WHERE fcm_token = $1`, token)
	return err
}
