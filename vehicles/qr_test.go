package vehicles_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

func TestQR_EncodesTheVehicleGUID(t *testing.T) {
	ta := apptest.New(t, "")
	a := ta.Do(http.MethodGet, "/vehicle/qr/"+apptest.BINVehicle+"?size=512", nil, apptest.OneCAuth()...)
	if a.Code != 200 || a.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr: %d %s", a.Code, a.Header)
	}
	img, err := png.Decode(bytes.NewReader(a.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 512 {
		t.Fatalf("size %v", b)
	}
	if got := decodeQR(t, img); got != apptest.BINVehicle {
		t.Fatalf("decoded %q", got)
	}
	def := ta.Do(http.MethodGet, "/vehicle/qr/"+apptest.BINVehicle, nil, apptest.OneCAuth()...)
	if img, _ := png.Decode(bytes.NewReader(def.Raw)); img == nil || img.Bounds().Dx() != 256 {
		t.Fatal("default size is not 256")
	}
	apptest.WantStatus(t, ta.Do(http.MethodGet, "/vehicle/qr/unknown-guid", nil, apptest.OneCAuth()...), 404, "vehicle_not_found")
	apptest.WantStatus(t, ta.Do(http.MethodGet, "/vehicle/qr/"+apptest.BINVehicle+"?size=50", nil, apptest.OneCAuth()...), 400, "invalid")
	apptest.WantStatus(t, ta.Do(http.MethodGet, "/vehicle/qr/"+apptest.BINVehicle, nil), 401, "invalid_credentials")
}

func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("the PNG is not a readable QR code: %v", err)
	}
	return res.GetText()
}
