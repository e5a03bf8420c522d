package media

import (
	"errors"
	"path"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// DownloadRoutes serves the disk store's signed, expiring URLs (an S3 store's URLs go to S3 itself).
func DownloadRoutes(r fiber.Router, d *Disk) {
	r.Get("/media/*", func(c *fiber.Ctx) error {
		key := utils.CopyString(c.Params("*"))
		if err := d.VerifyURL(key, c.Query("expires"), c.Query("signature")); err != nil {
			if errors.Is(err, ErrURLExpired) {
				return fiber.NewError(fiber.StatusForbidden, "this download link has expired; fetch the feed again for a fresh one")
			}
			return fiber.NewError(fiber.StatusForbidden, "this download link is not valid")
		}
		rc, obj, err := d.Open(c.UserContext(), key)
		if errors.Is(err, ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, "no such video")
		}
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, obj.ContentType)
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+path.Base(key)+`"`)
		c.Set(fiber.HeaderContentLength, strconv.FormatInt(obj.Size, 10))
		return c.SendStream(rc, int(obj.Size))
	})
}
