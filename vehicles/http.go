package vehicles

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/forteleasing/inspections/internal/httpx"
)

// Handler serves vehicle-type images (public: the app shows them in image views without headers).
type Handler struct{ store *Store }

func NewHandler(store *Store) *Handler { return &Handler{store: store} }

func (h *Handler) Routes(r fiber.Router) {
	r.Get("/images/:vehicle_type_code/image.png", h.image)
}

func (h *Handler) image(c *fiber.Ctx) error {
	img, err := h.store.TypeImage(c.UserContext(), httpx.KeyParam(c, "vehicle_type_code"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	c.Set(fiber.HeaderETag, img.ETag)
	c.Set(fiber.HeaderLastModified, img.UpdatedAt.UTC().Format(http.TimeFormat))
	if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && match == img.ETag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, "image/png")
	return c.Send(img.PNG)
}
