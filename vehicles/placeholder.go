package vehicles

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"sync"
)

// The image a vehicle type without its own is shown with: the app puts image_path in an image view, and
// a 404 there is a broken-image icon. It is drawn once, in code, so the repository holds no binary: a
// light grey card with a darker grey outline of a car.
var placeholder = sync.OnceValue(func() Image {
	const w, h = 320, 200
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	bg, fg := color.NRGBA{0xee, 0xee, 0xee, 0xff}, color.NRGBA{0xbd, 0xbd, 0xbd, 0xff}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, bg)
		}
	}
	fill := func(x0, y0, x1, y1 int) {
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				m.SetNRGBA(x, y, fg)
			}
		}
	}
	disc := func(cx, cy, r int) {
		for y := cy - r; y <= cy+r; y++ {
			for x := cx - r; x <= cx+r; x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
					m.SetNRGBA(x, y, fg)
				}
			}
		}
	}
	fill(60, 100, 260, 135) // body
	fill(105, 70, 215, 100) // cabin
	disc(110, 140, 18)      // wheels
	disc(210, 140, 18)
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		panic(err) // encoding an in-memory image cannot fail
	}
	sum := sha256.Sum256(buf.Bytes())
	return Image{PNG: buf.Bytes(), ETag: `"placeholder-` + hex.EncodeToString(sum[:8]) + `"`}
})
