package kit

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
)

// VehicleType is one item of 1C's PUT /1c/vehicle-types.
type VehicleType struct {
	RefKey       string   `json:"ref_key"`
	Title        string   `json:"title"`
	Instructions []string `json:"instructions"`
}

// VehicleTypes are the vehicle types every seeded fleet uses; 1C's real keys are GUIDs like these.
var VehicleTypes = []VehicleType{
	{RefKey: "b71e9ff8-1664-11ea-8dad-1831bf7dd029", Title: "Легковой автомобиль",
		Instructions: []string{"Сфотографировать лобовое стекло", "Сфотографировать ВИН код", "Сфотографировать пробег"}},
	{RefKey: "b71ea040-1664-11ea-8dad-1831bf7dd029", Title: "Пассажирский транспорт",
		Instructions: []string{"Сфотографировать салон", "Сфотографировать шины"}},
	{RefKey: "b71ea01f-1664-11ea-8dad-1831bf7dd029", Title: "Грузовой автомобиль", Instructions: []string{}},
}

// Company is one item of 1C's PUT /1c/companies.
type Company struct {
	BIIN        string   `json:"biin"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	Director    Director `json:"director"`
	Active      bool     `json:"active"`
	DataVersion string   `json:"data_version"`
}

// Director is a company's director, as 1C sends it.
type Director struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Mobile    string `json:"mobile"`
}

// SeedCompany is the i-th company of a seeded fleet; company 0 is the big one.
func SeedCompany(i int) Company {
	return Company{
		BIIN: BIIN(i), Name: fmt.Sprintf("Бенч Лизинг %03d ТОО", i), Email: fmt.Sprintf("fleet%03d@bench.kz", i),
		Director: Director{FirstName: "Директор", LastName: fmt.Sprintf("Бенч-%03d", i), Mobile: "+77010000000"},
		Active:   true, DataVersion: "1",
	}
}

// BIIN returns the i-th of a series of valid 12-digit BINs (the service checks the check digit).
func BIIN(i int) string {
	for n := 990100000000 + i*10; ; n++ {
		s := fmt.Sprintf("%012d", n)[:11]
		if d, ok := biinCheckDigit(s); ok {
			return s + string(rune('0'+d))
		}
	}
}

// biinCheckDigit is Kazakhstan's BIN/IIN control digit (as auth.ValidBIIN checks it).
func biinCheckDigit(first11 string) (int, bool) {
	sum := 0
	for i := range 11 {
		sum += (i + 1) * int(first11[i]-'0')
	}
	if sum%11 != 10 {
		return sum % 11, true
	}
	weights := [11]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2}
	sum = 0
	for i := range 11 {
		sum += weights[i] * int(first11[i]-'0')
	}
	return sum % 11, sum%11 != 10
}

// MP4 streams a size-byte minimal valid MP4 — a 24-byte ftyp box (isom, 0x200, isom mp41), then an mdat
// box of random bytes from a generator seeded with seed — so the same file can be produced twice (for a
// baseline and for the server) without keeping it in memory.
func MP4(seed uint64, size int64) io.Reader {
	h := make([]byte, 0, 32)
	h = binary.BigEndian.AppendUint32(h, 24)
	h = append(h, "ftypisom"...)
	h = binary.BigEndian.AppendUint32(h, 0x00000200)
	h = append(h, "isommp41"...)
	h = binary.BigEndian.AppendUint32(h, uint32(size-24))
	h = append(h, "mdat"...)
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return io.MultiReader(bytes.NewReader(h), io.LimitReader(rand.NewChaCha8(s), size-32))
}
