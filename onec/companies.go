package onec

import (
	"context"
	"net/mail"
	"strings"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
)

// Company is one item of PUT /1c/companies.
type Company struct {
	BIIN        string   `json:"biin"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	Director    Director `json:"director"`
	Active      *bool    `json:"active"`
	DataVersion Version  `json:"data_version"`
}

type Director struct {
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	PatronicName string `json:"patronic_name"`
	Mobile       string `json:"mobile"`
}

func validateCompanies(items []Company) error {
	var fields apperr.FieldList
	seen := map[string]int{}
	for i := range items {
		c := &items[i]
		c.BIIN, c.Name, c.Email = strings.TrimSpace(c.BIIN), strings.TrimSpace(c.Name), strings.TrimSpace(c.Email)
		if !auth.ValidBIIN(c.BIIN) {
			fields.AddAt(i, "biin", "must be 12 digits with a valid check digit")
		} else if j, dup := seen[c.BIIN]; dup {
			fields.AddAt(i, "biin", "appears twice in the batch (also at index %d)", j)
		}
		seen[c.BIIN] = i
		if c.Name == "" || len(c.Name) > 300 {
			fields.AddAt(i, "name", "is required, at most 300 characters")
		}
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || len(c.Email) > 254 {
			fields.AddAt(i, "email", "must be a plain e-mail address like name@example.kz")
		}
		d := &c.Director
		d.FirstName, d.LastName, d.PatronicName, d.Mobile = strings.TrimSpace(d.FirstName), strings.TrimSpace(d.LastName),
			strings.TrimSpace(d.PatronicName), strings.TrimSpace(d.Mobile)
		if d.FirstName == "" && d.LastName == "" {
			fields.AddAt(i, "director", "needs first_name or last_name")
		}
		for name, v := range map[string]string{"director.first_name": d.FirstName, "director.last_name": d.LastName,
			"director.patronic_name": d.PatronicName, "director.mobile": d.Mobile} {
			if len(v) > 100 {
				fields.AddAt(i, name, "must be at most 100 characters")
			}
		}
	}
	return fields.Err(apperr.Unprocessable, "some items are invalid; nothing was written")
}

// UpsertCompanies validates the whole batch, then writes it in one transaction.
func (s *Service) UpsertCompanies(ctx context.Context, items []Company) (Result, error) {
	if err := validateCompanies(items); err != nil {
		return Result{}, err
	}
	return s.store.upsertCompanies(ctx, items, s.now())
}
