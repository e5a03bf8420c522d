package employees

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/httpx"
)

// Handler serves the director's employee endpoints.
type Handler struct{ store *Store }

func NewHandler(store *Store) *Handler { return &Handler{store: store} }

// Routes registers the endpoints behind the access check and the director-only check.
func (h *Handler) Routes(r fiber.Router, requireUser fiber.Handler) {
	r.Get("/employee/list", requireUser, auth.RequireDirector, h.list)
	r.Delete("/employee/delete/:id", requireUser, auth.RequireDirector, h.delete)
}

func (h *Handler) list(c *fiber.Ctx) error {
	list, err := h.store.List(c.UserContext(), auth.CurrentPrincipal(c).CompanyID)
	if err != nil {
		return err
	}
	return httpx.OK(c, fiber.Map{"employees": list})
}

func (h *Handler) delete(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return apperr.New(apperr.NotFound, "employee_not_found", "no such employee")
	}
	if err := h.store.Delete(c.UserContext(), auth.CurrentPrincipal(c).CompanyID, id); err != nil {
		return err
	}
	return httpx.Respond(c, fiber.StatusOK, "User successfully deleted.", nil)
}
