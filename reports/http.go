package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/httpx"
)

// Handler serves the report endpoints of the mobile app.
type Handler struct {
	svc *Service
	// answers holds the two filters' answers ready to send (envelope and gzip form), against the
	// company's lists version (answers.go).
	answers *answerCache[*httpx.Prepared]
}

func NewHandler(svc *Service) *Handler {
	return &Handler{svc: svc, answers: newAnswerCache[*httpx.Prepared](svc.now)}
}

// Routes registers the endpoints; requireUser is the access-token middleware.
func (h *Handler) Routes(r fiber.Router, requireUser fiber.Handler) {
	r.Get("/reports/general/filter", requireUser, h.general)
	r.Get("/reports/general/filter/*", requireUser, h.general)
	r.Get("/reports/vehicle/filter", requireUser, h.byVehicle)
	r.Get("/reports/vehicle/filter/*", requireUser, h.byVehicle)
	r.Get("/reports/vehicle/select/:vehicle_guid", requireUser, h.vehicle)
}

// The filter's strings outlive the request as answer-cache keys, so they are copied out of Fiber's
// reused buffers (utils.CopyString) before parsing.

func (h *Handler) general(c *fiber.Ctx) error {
	f, err := ParseFilter(utils.CopyString(c.Params("*")), true)
	if err != nil {
		return err
	}
	page, err := pageOf(c)
	if err != nil {
		return err
	}
	return sendCached(h, c, 'g', f, page, h.svc.general)
}

func (h *Handler) byVehicle(c *fiber.Ctx) error {
	f, err := ParseFilter(utils.CopyString(c.Params("*")), false)
	if err != nil {
		return err
	}
	page, err := pageOf(c)
	if err != nil {
		return err
	}
	return sendCached(h, c, 'v', f, page, h.svc.byVehicle)
}

func (h *Handler) vehicle(c *fiber.Ctx) error {
	page, err := pageOf(c)
	if err != nil {
		return err
	}
	a, err := h.svc.Vehicle(c.UserContext(), auth.CurrentPrincipal(c), httpx.KeyParam(c, "vehicle_guid"), page)
	if err != nil {
		return err
	}
	return httpx.OK(c, a)
}

// sendCached sends the answer build makes, from the answer cache while the company's lists version
// stands: the versions come from the access check's read (auth.CurrentListVersions), so a cached answer
// costs no statement of its own.
func sendCached[A any](h *Handler, c *fiber.Ctx, kind byte, f Filter, page Page,
	build func(context.Context, auth.Principal, Filter, Page, versions) (A, error)) error {
	ctx, p := c.UserContext(), auth.CurrentPrincipal(c)
	v := versions{lists: auth.CurrentListVersions(c).Lists, fleet: auth.CurrentListVersions(c).Fleet}
	if v.lists == 0 {
		var err error
		if v, err = h.svc.versionsOf(ctx, p); err != nil {
			return err
		}
	}
	a, err := h.answers.get(ctx, answerKey{kind: kind, companyID: p.CompanyID, filter: f, page: page}, v.lists, func() (*httpx.Prepared, error) {
		a, err := build(ctx, p, f, page, v)
		if err != nil {
			return nil, err
		}
		body, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("reports: encode answer: %w", err)
		}
		return httpx.Prepare(body)
	})
	if err != nil {
		return err
	}
	return httpx.SendPrepared(c, a)
}

// pageOf reads ?limit= (1..MaxLimit, default DefaultLimit) and ?offset= (0..).
func pageOf(c *fiber.Ctx) (Page, error) {
	var fields apperr.FieldList
	p := Page{Limit: DefaultLimit}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			fields.Add("limit", "must be between 1 and %d", MaxLimit)
		}
		p.Limit = n
	}
	if s := c.Query("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1_000_000 {
			fields.Add("offset", "must be between 0 and 1000000")
		}
		p.Offset = n
	}
	return p, fields.Err(apperr.Invalid, "bad paging parameters")
}
