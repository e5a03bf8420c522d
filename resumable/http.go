package resumable

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/reports"
)

// Routes mounts the tus endpoint. Credentials are checked (requireUser) before tusd reads a body.
// BodyRules: tus creation (with data) and PATCH stream their bodies to the object store for as
// long as they keep moving; the upload's declared length bounds them.
func BodyRules() httpx.BodyRules {
	return httpx.BodyRules{{Path: Path, Prefix: true, Limit: httpx.Streamed, Long: []string{fiber.MethodPatch, fiber.MethodPost}}}
}

func (s *Service) Routes(r fiber.Router, requireUser fiber.Handler) {
	r.Options(Path, s.serve)
	r.Options(Path+"/:id", s.serve)
	r.Post(Path, requireUser, s.serve)
	r.Head(Path+"/:id", requireUser, s.serve)
	r.Patch(Path+"/:id", requireUser, s.serve)
	r.Delete(Path+"/:id", requireUser, s.serve)
}

var (
	errNotFound = apperr.New(apperr.NotFound, "upload_not_found", "no such upload")
	errExpired  = &apperr.Error{Code: apperr.NotFound, Reason: "upload_expired", Message: "this upload expired; start a new one"}
	errNotYours = apperr.New(apperr.Forbidden, "upload_of_another_user", "this upload belongs to another user of the company")
)

// serve hands the request to tusd. Fiber's own net/http adaptor reads the whole body into memory
// first (fasthttpadaptor.ConvertRequest takes PostBody()), so this bridge builds the http.Request on
// the streamed body instead, and a ResponseWriter whose deadline controls reach the connection: tusd
// extends the read deadline after every read, which makes the limit an idle one.
func (s *Service) serve(c *fiber.Ctx) error {
	p := auth.CurrentPrincipal(c)
	id := utils.CopyString(c.Params("id"))
	method := c.Method()
	var expires time.Time
	if id != "" && method != fiber.MethodOptions {
		r, err := s.rows.get(c.UserContext(), id)
		switch {
		case errors.Is(err, errNoRow) || (err == nil && r.CompanyID != p.CompanyID):
			return s.refuse(c, errNotFound)
		case err != nil:
			return s.refuse(c, err)
		case r.UploadID == nil && r.ExpiresAt.Before(s.now()):
			return s.refuse(c, errExpired)
		case method != fiber.MethodHead && r.UploaderID != p.UserID:
			return s.refuse(c, errNotYours)
		}
		if r.UploadID == nil {
			expires = r.ExpiresAt
		}
		if method == fiber.MethodHead || method == fiber.MethodPatch {
			st := &state{principal: p}
			if err := s.completeIfDue(withState(c.UserContext(), st), r); err != nil {
				if st.err != nil {
					err = st.err
				}
				return s.refuse(c, err)
			}
		}
	}

	if method == fiber.MethodPatch || method == fiber.MethodPost {
		// Before any byte of the body is read, as on the plain endpoint (a POST may carry the first bytes).
		release, err := reports.TakeUploadSlot(s.slots, p.UserID)
		if err != nil {
			return s.refuse(c, err)
		}
		defer release()
	}
	var body io.Reader = c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Request().Body()) // never c.Body(): it would decode a Content-Encoding
	}
	st := &state{principal: p}
	ctx, cancel := context.WithCancel(withState(c.UserContext(), st))
	defer cancel() // tusd's per-request goroutines end with this context
	req, err := http.NewRequestWithContext(ctx, method, "/"+url.PathEscape(id), io.NopCloser(body))
	if err != nil {
		return err
	}
	for k, v := range c.Request().Header.All() {
		req.Header.Add(string(k), string(v))
	}
	req.ContentLength = int64(c.Request().Header.ContentLength())
	if req.ContentLength < 0 {
		req.ContentLength = -1
	}
	req.Host = c.Hostname()
	req.RequestURI = c.OriginalURL()
	req.RemoteAddr = c.Context().RemoteAddr().String()
	if c.Protocol() == "https" {
		req.TLS = &tls.ConnectionState{}
	}
	w := &responseWriter{header: http.Header{}, conn: c.Context().Conn()}
	s.tus.Middleware(http.HandlerFunc(s.route)).ServeHTTP(w, req)

	if w.header.Get("Tus-Resumable") != "" {
		c.Set("Tus-Resumable", w.header.Get("Tus-Resumable"))
	}
	if st.err != nil {
		return s.refuse(c, st.err)
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	if status >= 400 {
		return s.refuse(c, tusError(status, w.body.String()))
	}
	for k, vs := range w.header {
		if k == "Content-Length" || k == "Content-Type" && len(w.body.Bytes()) == 0 {
			continue
		}
		for _, v := range vs {
			c.Set(k, v)
		}
	}
	switch {
	case method == fiber.MethodOptions:
		c.Set("Tus-Extension", Extensions)
		status = http.StatusNoContent
	case method == fiber.MethodPatch && status == http.StatusNoContent:
		c.Set("Upload-Expires", s.now().Add(TTL).UTC().Format(http.TimeFormat))
	case method == fiber.MethodHead && !expires.IsZero():
		c.Set("Upload-Expires", expires.UTC().Format(http.TimeFormat))
	}
	c.Status(status)
	return c.Send(w.body.Bytes())
}

func (s *Service) route(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		s.tus.PostFile(w, r)
	case http.MethodHead:
		s.tus.HeadFile(w, r)
	case http.MethodPatch:
		s.tus.PatchFile(w, r)
	case http.MethodDelete:
		s.tus.DelFile(w, r)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// refuse answers with the service's envelope. A body that was not read to its end is not parsed as
// the next request: the connection closes.
func (s *Service) refuse(c *fiber.Ctx, err error) error {
	c.Set("Tus-Resumable", "1.0.0")
	if c.Request().IsBodyStream() {
		c.Context().SetConnectionClose()
	}
	var te *protocolError
	if errors.As(err, &te) {
		return httpx.RespondError(c, te.status, te.reason, te.message)
	}
	if apperr.Is(err, apperr.TooLarge) || errors.Is(err, errTusTooLarge) {
		return s.uploads.TooLarge()
	}
	return err
}

// protocolError is one of tusd's own refusals, e.g. "ERR_MISMATCHED_OFFSET: mismatched offset".
type protocolError struct {
	status          int
	reason, message string
}

func (e *protocolError) Error() string { return e.reason + ": " + e.message }

var errTusTooLarge = errors.New("resumable: too large")

// tusReasons names tusd's refusals in the service's snake_case; others keep tusd's own code, lower-cased.
var tusReasons = map[string]string{
	"ERR_MISMATCHED_OFFSET":     "mismatched_offset",
	"ERR_UNSUPPORTED_VERSION":   "unsupported_version",
	"ERR_INVALID_CONTENT_TYPE":  "invalid_content_type",
	"ERR_INVALID_OFFSET":        "invalid_offset",
	"ERR_INVALID_UPLOAD_LENGTH": "invalid_upload_length",
	"ERR_UPLOAD_INTERRUPTED":    "upload_interrupted",
	"ERR_UNEXPECTED_EOF":        "unexpected_eof",
	"ERR_READ_TIMEOUT":          "read_timeout",
	"ERR_CONNECTION_RESET":      "connection_reset",
	"ERR_LOCK_TIMEOUT":          "lock_timeout",
	"ERR_UPLOAD_LOCKED":         "upload_locked",
	"ERR_UPLOAD_NOT_FOUND":      "upload_not_found",
	"ERR_NOT_IMPLEMENTED":       "not_implemented",
}

func tusError(status int, body string) error {
	code, msg, _ := strings.Cut(strings.TrimSpace(body), ": ")
	switch code {
	case "ERR_MAX_SIZE_EXCEEDED", "ERR_UPLOAD_SIZE_EXCEEDED":
		return errTusTooLarge
	case "ERR_INTERNAL_SERVER_ERROR":
		return errors.New("resumable: tusd: " + msg) // logged, answered as a generic 500
	}
	reason, ok := tusReasons[code]
	if !ok {
		reason = strings.ToLower(strings.TrimPrefix(code, "ERR_"))
	}
	if reason == "" {
		reason = "tus_error"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	// A 5xx (read timeout, connection reset, lock timeout) keeps its status: tus clients retry those.
	return &protocolError{status: status, reason: reason, message: msg}
}

// responseWriter collects tusd's answer for Fiber, and passes its deadline controls (found by
// http.ResponseController) on to the connection.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	conn   net.Conn
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *responseWriter) SetReadDeadline(t time.Time) error {
	if w.conn == nil {
		return nil
	}
	return w.conn.SetReadDeadline(t)
}

func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	if w.conn == nil {
		return nil
	}
	return w.conn.SetWriteDeadline(t)
}
