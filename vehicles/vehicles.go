// Package vehicles serves what the app and 1C need about vehicles themselves: the vehicle-type images and
// vehicle QR codes. Its provider subpackage checks VINs and plates against outside registries.
package vehicles

import (
	"context"
	"time"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/database"
)

// Store holds every query of the vehicles feature.
type Store struct{ db *database.DB }

func NewStore(db *database.DB) *Store { return &Store{db: db} }

// Image is a vehicle type's PNG.
type Image struct {
	PNG       []byte    `db:"image_png"`
	ETag      string    `db:"image_etag"`
	UpdatedAt time.Time `db:"updated_at"`
}

// TypeImage returns the PNG of a vehicle type, or the placeholder when 1C sent the type without one;
// an unknown type is not found.
func (s *Store) TypeImage(ctx context.Context, refKey string) (Image, error) {
	var img Image
	err := s.db.GetContext(ctx, &img, `SELECT image_png, image_etag, updated_at FROM vehicle_types WHERE ref_key = $1`, refKey)
	if database.IsNoRows(err) {
		return Image{}, apperr.New(apperr.NotFound, "image_not_found", "no image for this vehicle type")
	}
	if err != nil {
		return Image{}, err
	}
	if len(img.PNG) == 0 {
		p := placeholder()
		img.PNG, img.ETag = p.PNG, p.ETag
	}
	return img, nil
}

// Exists reports whether any company has a vehicle with guid (1C sees every company).
func (s *Store) Exists(ctx context.Context, guid string) (bool, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM vehicles WHERE guid = $1`, guid)
	return n > 0, err
}
