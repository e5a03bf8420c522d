package reports

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/forteleasing/inspections"
	"github.com/forteleasing/inspections/auth"
	"github.com/forteleasing/inspections/internal/apperr"
	"github.com/forteleasing/inspections/internal/bodytext"
	"github.com/forteleasing/inspections/internal/httpx"
	"github.com/forteleasing/inspections/internal/limits"
)

// Limits on the non-file parts of an upload.
const (
	maxUploadFields = 16
	maxFieldBytes   = 1024
	formOverhead    = 64 << 10
	uploadReadSize  = 128 << 10 // per upload in flight, which the per-user and per-instance caps bound
)

// UploadHandler serves POST /reports/upload, reading the multipart body as a stream.
type UploadHandler struct {
	uploads *Uploads
	slots   *limits.Slots
}

// NewUploadHandler serves uploads, at most slots.Per() at once per user (nil: no cap).
func NewUploadHandler(u *Uploads, slots *limits.Slots) *UploadHandler {
	return &UploadHandler{uploads: u, slots: slots}
}

// UploadRetryAfter is what a user at the concurrent-upload cap is told to wait.
const UploadRetryAfter = 10 * time.Second

// TakeUploadSlot claims one of the user's concurrent-upload slots before any byte of the body is
// read; past the cap it answers 429 with Retry-After. Plain uploads and tus PATCHes share the slots.
func TakeUploadSlot(slots *limits.Slots, userID int64) (release func(), err error) {
	if slots == nil {
		return func() {}, nil
	}
	release, ok := slots.Acquire(userID)
	if !ok {
		return nil, &apperr.Error{Code: apperr.RateLimited, Reason: "upload_concurrency_limit", RetryAfter: UploadRetryAfter,
			Message: fmt.Sprintf("at most %d uploads at once per user; wait for one to finish", slots.Per())}
	}
	return release, nil
}

// UploadBodyRules: the upload streams its body under Uploads' own limit, for as long as it keeps moving.
func UploadBodyRules() httpx.BodyRules {
	return httpx.BodyRules{{Path: "/reports/upload", Limit: httpx.Streamed, Long: []string{fiber.MethodPost}}}
}

func (h *UploadHandler) Routes(r fiber.Router, requireUser fiber.Handler) {
	r.Post("/reports/upload", requireUser, h.upload)
}

func (h *UploadHandler) upload(c *fiber.Ctx) error {
	ctx, p := c.UserContext(), auth.CurrentPrincipal(c)
	started := h.uploads.now() // time_sent is compared with the receipt's start, not its end
	release, err := TakeUploadSlot(h.slots, p.UserID)
	if err != nil {
		return err
	}
	defer release()
	// With streaming on, the body has not been read yet: take it as it arrives. c.Body() would read it
	// whole (and decode any Content-Encoding).
	body := c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Request().Body())
	}
	// No deadline of its own here: the server's listener (httpx.IdleBodyListener) cuts a body that
	// stops moving for FL_BODY_IDLE_TIMEOUT, however long a moving one takes.
	defer finishBody(c, body)
	idemKey := utils.CopyString(c.Get("Idempotency-Key"))
	if idemKey != "" {
		if !ValidIdempotencyKey(idemKey) {
			return apperr.New(apperr.Invalid, "invalid_idempotency_key", "Idempotency-Key must be 1 to 128 visible ASCII characters")
		}
		done, err := h.uploads.AlreadyStored(ctx, p, idemKey)
		if err != nil {
			return err
		}
		if done {
			return saved(c)
		}
	}
	limit := h.uploads.MaxBytes() + formOverhead
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > limit {
		return h.uploads.TooLarge()
	}
	mediaType, params, perr := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if perr != nil || mediaType != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return apperr.New(apperr.Invalid, "multipart_required", "send multipart/form-data with the fields file, ref_key, time_sent, lat, long")
	}

	total := &limitedReader{r: body, max: limit}
	// The multipart reader reads a few KB at a time; through this buffer the connection is read in
	// large pieces (reading the request was a fifth of the service's CPU during concurrent uploads).
	mr := multipart.NewReader(bufio.NewReaderSize(total, uploadReadSize), params["boundary"])
	vals := map[string]string{}
	var stored *Stored
	fail := func(err error) error {
		if stored != nil {
			h.uploads.Discard(*stored)
		}
		if errors.Is(err, errTooLarge) {
			return h.uploads.TooLarge()
		}
		return err
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(malformed(err))
		}
		name := part.FormName()
		if name == "file" {
			if stored != nil {
				return fail(apperr.New(apperr.Invalid, "duplicate_file", "send one file per upload"))
			}
			if ref := inspections.CanonicalKey(vals["ref_key"]); ref != "" {
				if err := h.uploads.CheckTarget(ctx, p, ref); err != nil {
					if idemKey != "" && apperr.Is(err, apperr.Conflict) {
						// The report may have left status 1 because a racing retry of this very upload won.
						if done, derr := h.uploads.AlreadyStored(ctx, p, idemKey); derr == nil && done {
							return saved(c)
						}
					}
					return fail(err)
				}
			}
			s, err := h.uploads.Receive(ctx, p, part)
			if err != nil {
				return fail(err)
			}
			stored = &s
			continue
		}
		if len(vals) >= maxUploadFields {
			return fail(apperr.New(apperr.Invalid, "too_many_fields", "at most %d form fields", maxUploadFields))
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return fail(malformed(err))
		}
		if len(b) > maxFieldBytes {
			return fail(apperr.New(apperr.Invalid, "field_too_long", "form field %q is longer than %d bytes", name, maxFieldBytes))
		}
		vals[name] = string(b)
	}
	// The text fields as the phone sent them: a BOM dropped, a declared charset read, bad bytes named.
	text, err := bodytext.Values(vals, c.Get(fiber.HeaderContentType))
	if err != nil {
		return fail(err)
	}
	meta, err := ParseMeta(text)
	if stored == nil {
		var fields apperr.FieldList
		fields.Add("file", "is required (an MP4 video)")
		var ae *apperr.Error
		if errors.As(err, &ae) {
			fields = append(fields, ae.Fields...)
		}
		return fields.Err(apperr.Invalid, "some fields are missing or invalid")
	}
	if err != nil {
		return fail(err)
	}
	meta.StartedAt = started
	if err := h.uploads.Commit(ctx, p, meta, *stored, idemKey); err != nil {
		return err // Commit removed the video itself
	}
	return saved(c)
}

// finishBody leaves the connection ready for the next request: a short rest of the body (the multipart
// epilogue) is read away; a long one (the client is still sending a video we refused) closes the
// connection instead of reading it all.
func finishBody(c *fiber.Ctx, body io.Reader) {
	n, _ := io.Copy(io.Discard, io.LimitReader(body, 64<<10+1))
	if n > 64<<10 {
		c.Context().SetConnectionClose()
	}
}

func malformed(err error) error {
	if errors.Is(err, errTooLarge) {
		return err
	}
	return apperr.Wrap(apperr.Invalid, err, "the multipart body is malformed or was cut off")
}

func saved(c *fiber.Ctx) error {
	return httpx.Respond(c, fiber.StatusCreated, "Report has been successfully saved.", nil)
}
