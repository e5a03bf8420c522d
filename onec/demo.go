package onec

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"time"

	"github.com/forteleasing/inspections/reports"
)

// Demo BINs of the seed document: the director's company (BIN) and a second company known by its IIN.
const (
	DemoBIN = "200940026146"
	DemoIIN = "790920300817"
	// DemoTaskRefKey is a report waiting for its video, so the upload can be tried against serve --demo.
	DemoTaskRefKey = "9f1c0c2e-0000-4000-8000-000000000001"
)

func boolPtr(b bool) *bool { return &b }

const (
	typeCar       = "b71e9ff8-1664-11ea-8dad-1831bf7dd029"
	typePassenger = "b71ea040-1664-11ea-8dad-1831bf7dd029"
	typeTruck     = "b71ea01f-1664-11ea-8dad-1831bf7dd029"
)

func demoCompanies() []Company {
	return []Company{
		{
			BIIN: DemoBIN, Name: "Alpha AJI Gruppe ТОО", Email: "email@mail.ru", Active: boolPtr(true),
			Director: Director{FirstName: "Нурмуханов", LastName: "Руслан", PatronicName: "Серикович", Mobile: "+77021234567"},
		},
		{
			BIIN: DemoIIN, Name: "ИП Демо", Email: "demo.iin@mail.kz", Active: boolPtr(true),
			Director: Director{FirstName: "Айгерим", LastName: "Садыкова", Mobile: "+77011234567"},
		},
	}
}

func demoTypes() []VehicleType {
	car := []string{
		"Сфотографировать лобовое стекло", "Обойти автомобиль справа, сфотографировать правое колесо",
		"Сфотографировать государтсвенный номер", "Сфотографировать ВИН код", "Сфотографировать пробег",
		"Сфотографировать салон", "Сфотографировать шины", "Сфотографировать уровень масла в двигателе",
		"Сфотографировать уровень охлаждающей жидкости", "Сфотографировать аккумулятор",
	}
	img := func(c color.RGBA) *string { s := demoPNG(c); return &s }
	return []VehicleType{
		{RefKey: typeCar, Title: "Легковой автомобиль", Instructions: car, ImagePNGBase64: img(color.RGBA{0x1e, 0x88, 0xe5, 0xff})},
		{RefKey: typePassenger, Title: "Пассажирский транспорт", Instructions: car[:3], ImagePNGBase64: img(color.RGBA{0x43, 0xa0, 0x47, 0xff})},
		{RefKey: typeTruck, Title: "Грузовой автомобиль", Instructions: []string{}, ImagePNGBase64: img(color.RGBA{0xfb, 0x8c, 0x00, 0xff})},
	}
}

// demoPNG draws a plain 64×64 square: the demo has no photos of real vehicle types.
func demoPNG(c color.RGBA) string {
	m := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			m.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, m)
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func demoVehicles() []Vehicle {
	vs := []Vehicle{
		{VehicleGUID: "4cac2fb0-3cc2-11ea-8db2-1831bf7dd028", BIIN: DemoBIN, VehicleTypeCode: typeCar, VINCode: "XWW212140K2365328",
			PlateNumber: "123456789", ContractNumber: "№36/20 (ДЛ)", ContractDateEnd: "2023-11-16T00:00:00"},
		{VehicleGUID: "63fdb8c8-3d06-11ea-8db2-1831bf7dd028", BIIN: DemoBIN, VehicleTypeCode: typePassenger, VINCode: "XUS23278DL0001749",
			ContractNumber: "№36/20 (ДЛ)", ContractDateEnd: "2023-11-16T00:00:00"},
		{VehicleGUID: "6b5c250a-3d2d-11ea-8db2-1831bf7dd028", BIIN: DemoIIN, VehicleTypeCode: typeTruck, VINCode: "X2FXXXESGXKM42757",
			PlateNumber: "264LE02", ContractNumber: "№27/19 (ДФЛ)"},
	}
	for i, guid := range []string{"6b5c24ef", "6b5c24f1", "6b5c24f3", "6b5c24f5"} {
		vs = append(vs, Vehicle{VehicleGUID: guid + "-3d2d-11ea-8db2-1831bf7dd028", BIIN: DemoIIN, VehicleTypeCode: typeCar,
			VINCode: fmt.Sprintf("MXC1PABD0KK01883%d", i+1), PlateNumber: fmt.Sprintf("%dYE02", 286-i), ContractNumber: "№27-5/19 (ДФЛ)"})
	}
	vs[4].PlateNumber, vs[5].PlateNumber, vs[6].PlateNumber = "284YE02", "283YE02", "285YE02"
	return vs
}

func demoReports(now time.Time) []Report {
	day := func(t time.Time) string { return t.In(reports.KZ()).Format("2006-01-02") + "T00:00:00" }
	rs := []Report{
		{RefKey: "646ba713-d1d7-11ec-9405-005056aaa4ae", ReportNumber: "000000001", ContractNumber: "№36/20 (ДЛ)",
			VehicleGUID: "4cac2fb0-3cc2-11ea-8db2-1831bf7dd028", DateStart: "2022-03-03T00:00:00", DateFinish: "2022-03-10T00:00:00", StatusCode: 2},
		{RefKey: "81578c98-d282-11ec-9405-005056aaa4ae", ReportNumber: "000000002", ContractNumber: "№36/20 (ДЛ)",
			VehicleGUID: "63fdb8c8-3d06-11ea-8db2-1831bf7dd028", DateStart: "2022-05-13T00:00:00", DateFinish: "2022-05-15T00:00:00", StatusCode: 3},
		{RefKey: DemoTaskRefKey, ReportNumber: "000000003", ContractNumber: "№36/20 (ДЛ)",
			VehicleGUID: "4cac2fb0-3cc2-11ea-8db2-1831bf7dd028", DateStart: day(now), DateFinish: day(now.AddDate(0, 0, 7)), StatusCode: 1},
		{RefKey: "d60ea4cb-e710-11ec-9405-005056aaa4ae", ReportNumber: "6", ContractNumber: "№27/19 (ДФЛ)",
			VehicleGUID: "6b5c250a-3d2d-11ea-8db2-1831bf7dd028", DateStart: "2022-06-08T00:00:00", DateFinish: "2022-06-13T00:00:00",
			StatusCode: 3, RejectReason: "89898989898989\nihghghghh"},
	}
	for i, ref := range []string{"ea3fa43e-f088", "4cd3be46-f089", "733bee3b-f089", "b1791e66-f089"} {
		rs = append(rs, Report{RefKey: ref + "-11ec-9405-005056aaa4ae", ReportNumber: fmt.Sprint(26 + i), ContractNumber: "№27-5/19 (ДФЛ)",
			VehicleGUID: []string{"6b5c24ef", "6b5c24f1", "6b5c24f3", "6b5c24f5"}[i] + "-3d2d-11ea-8db2-1831bf7dd028",
			DateStart:   "2022-06-20T00:00:00", DateFinish: "2022-06-30T00:00:00", StatusCode: 2})
	}
	rs[len(rs)-1].RejectReason = "Плохое качество видеоматериала"
	return rs
}

// LoadDemo writes the seed's demo data through the same upserts 1C uses. Running it again is harmless:
// only the demo task's dates move to the current week.
func (s *Service) LoadDemo(ctx context.Context) error {
	if _, err := s.UpsertCompanies(ctx, demoCompanies()); err != nil {
		return fmt.Errorf("demo companies: %w", err)
	}
	if _, err := s.UpsertVehicleTypes(ctx, demoTypes()); err != nil {
		return fmt.Errorf("demo vehicle types: %w", err)
	}
	if _, err := s.UpsertVehicles(ctx, demoVehicles()); err != nil {
		return fmt.Errorf("demo vehicles: %w", err)
	}
	if _, _, err := s.UpsertReports(ctx, demoReports(s.now())); err != nil {
		return fmt.Errorf("demo reports: %w", err)
	}
	return nil
}
