package onec

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/bodytext"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/reports"
)

// Handler serves /1c/*.
type Handler struct {
	svc              *Service
	userSum, passSum [32]byte
	throttle         *Throttle // nil: failed logins are not counted
}

func NewHandler(svc *Service, user, password string, throttle *Throttle) *Handler {
	return &Handler{svc: svc, userSum: sha256.Sum256([]byte(user)), passSum: sha256.Sum256([]byte(password)), throttle: throttle}
}

// Routes registers the 1C endpoints under r, all behind HTTP Basic.
// BodyRules: 1C's batches may be large (vehicle types carry base64 PNGs); every 1C body is buffered
// under this limit after RequireOneC.
func BodyRules() httpx.BodyRules {
	return httpx.BodyRules{{Path: "/1c", Prefix: true, Limit: 32 << 20}}
}

func (h *Handler) Routes(r fiber.Router) {
	r.Put("/1c/companies", h.RequireOneC, h.putCompanies)
	r.Put("/1c/vehicle-types", h.RequireOneC, h.putVehicleTypes)
	r.Put("/1c/vehicles", h.RequireOneC, h.putVehicles)
	r.Put("/1c/reports", h.RequireOneC, h.putReports)
	r.Get("/1c/reports", h.RequireOneC, h.feed)
	r.Post("/1c/reports/:ref_key/decision", h.RequireOneC, h.decide)
}

// ReviewRoutes serves the review page of a report and its video. The link's signature is the
// credential: 1C shows the page in a form's HTML field, which sends no Authorization header.
// frameAncestors is the page's CSP frame-ancestors source list (FL_REVIEW_FRAME_ANCESTORS).
func (h *Handler) ReviewRoutes(r fiber.Router, frameAncestors string) {
	policy := "default-src 'none'; style-src 'unsafe-inline'; media-src 'self'; img-src 'self'; base-uri 'none'; " +
		"form-action 'none'; frame-ancestors " + frameAncestors
	headers := func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentSecurityPolicy, policy)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderReferrerPolicy, "no-referrer") // the link is a credential
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set("X-Robots-Tag", "noindex")
		return c.Next()
	}
	r.Get("/review/:ref_key", headers, h.reviewPage)
	r.Get("/review/:ref_key/video", headers, h.reviewVideo)
}

func reviewRef(c *fiber.Ctx) string {
	ref, err := url.PathUnescape(httpx.KeyParam(c, "ref_key")) // unescaping copies out of Fiber's buffer
	if err != nil {
		return ""
	}
	return strings.Clone(ref)
}

func (h *Handler) reviewPage(c *fiber.Ctx) error {
	p, err := h.svc.Review(c.UserContext(), reviewRef(c), c.Query("expires"), c.Query("signature"))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := RenderReview(&buf, p); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(buf.Bytes())
}

func (h *Handler) reviewVideo(c *fiber.Ctx) error {
	header := c.Get(fiber.HeaderRange)
	partial := false
	rc, size, off, n, err := h.svc.ReviewVideo(c.UserContext(), reviewRef(c), c.Query("expires"), c.Query("signature"),
		func(size int64) (int64, int64, error) {
			off, n, p, err := ParseRange(header, size)
			partial = p
			return off, n, err
		})
	if errors.Is(err, ErrRangeNotSatisfiable) {
		c.Set(fiber.HeaderContentRange, "bytes */"+strconv.FormatInt(size, 10))
		return fiber.NewError(fiber.StatusRequestedRangeNotSatisfiable, "the range asks for nothing inside the video")
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderContentType, "video/mp4")
	if partial {
		c.Status(fiber.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10)+"/"+strconv.FormatInt(size, 10))
	}
	return c.SendStream(rc, int(n))
}

// RequireOneC admits 1C's HTTP Basic credentials, from headers alone: no byte of the body is read
// before it has passed. It compares hashes of the credentials in constant time, so neither their content
// nor their length leaks, and an address with too many failures is refused (429) whatever it sends.
func (h *Handler) RequireOneC(c *fiber.Ctx) error {
	ctx, ip := c.UserContext(), c.IP()
	if h.throttle != nil {
		if err := h.throttle.Check(ctx, ip); err != nil {
			return err
		}
	}
	user, pass, ok := basicCredentials(c.Get(fiber.HeaderAuthorization))
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	userOK := subtle.ConstantTimeCompare(u[:], h.userSum[:])
	passOK := subtle.ConstantTimeCompare(p[:], h.passSum[:])
	if !ok || userOK&passOK != 1 {
		// A request without credentials guesses nothing (a client waiting for the challenge): not counted.
		if h.throttle != nil && ok {
			if err := h.throttle.Fail(ctx, ip); err != nil {
				return err
			}
		}
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="forteleasing-1c", charset="UTF-8"`)
		return apperr.New(apperr.Unauthorized, "invalid_credentials", "1C credentials are missing or wrong")
	}
	return c.Next()
}

func basicCredentials(header string) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

func (h *Handler) putCompanies(c *fiber.Ctx) error {
	body, err := httpx.Body(c)
	if err != nil {
		return err
	}
	items, err := decodeBatch[Company](body, c.Get(fiber.HeaderContentType))
	if err != nil {
		return err
	}
	res, err := h.svc.UpsertCompanies(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

func (h *Handler) putVehicleTypes(c *fiber.Ctx) error {
	body, err := httpx.Body(c)
	if err != nil {
		return err
	}
	items, err := decodeBatch[VehicleType](body, c.Get(fiber.HeaderContentType))
	if err != nil {
		return err
	}
	res, err := h.svc.UpsertVehicleTypes(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

func (h *Handler) putVehicles(c *fiber.Ctx) error {
	body, err := httpx.Body(c)
	if err != nil {
		return err
	}
	items, err := decodeBatch[Vehicle](body, c.Get(fiber.HeaderContentType))
	if err != nil {
		return err
	}
	res, err := h.svc.UpsertVehicles(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

func (h *Handler) putReports(c *fiber.Ctx) error {
	body, err := httpx.Body(c)
	if err != nil {
		return err
	}
	items, err := decodeBatch[Report](body, c.Get(fiber.HeaderContentType))
	if err != nil {
		return err
	}
	res, _, err := h.svc.UpsertReports(c.UserContext(), items)
	if err != nil {
		return err
	}
	return httpx.OK(c, res)
}

func (h *Handler) feed(c *fiber.Ctx) error {
	q, err := ParseFeedQuery(c.Query("status"), c.Query("after"), c.Query("limit"))
	if err != nil {
		return err
	}
	page, err := h.svc.Feed(c.UserContext(), q)
	if err != nil {
		return err
	}
	return httpx.OK(c, page)
}

// decisionBody names the keys of a decision, which must be spelt exactly (CONTRACT §8).
type decisionBody struct {
	StatusCode   int    `json:"status_code"`
	RejectReason string `json:"reject_reason"`
}

func (h *Handler) decide(c *fiber.Ctx) error {
	v, err := httpx.StrictBodyValues(c, bodytext.KeysOf[decisionBody]())
	if err != nil {
		return err
	}
	var fields apperr.FieldList
	status := v.Int("status_code", &fields)
	if err := fields.Err(apperr.Invalid, "bad decision"); err != nil {
		return err
	}
	d, err := ParseDecision(httpx.KeyParam(c, "ref_key"), status, v["reject_reason"])
	if err != nil {
		return err
	}
	res, err := h.svc.Decide(c.UserContext(), d)
	if err != nil {
		return err
	}
	return httpx.OK(c, fiber.Map{"ref_key": res.RefKey, "status_code": res.StatusCode,
		"status_title": reports.StatusTitle(res.StatusCode), "reject_reason": res.RejectReason})
}
