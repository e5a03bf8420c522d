package onec

import (
	"encoding/json"
	"fmt"
	"testing"
)

// A full batch of 1000 reports: what the strict reading (bodytext: BOM, UTF-8 by field, exact and unique
// keys) costs against encoding/json alone, run as the baseline in the same process.
func batchOfReports() []byte {
	items := make([]map[string]any, MaxBatch)
	for i := range items {
		items[i] = map[string]any{"ref_key": fmt.Sprintf("646ba713-d1d7-11ec-9405-%012d", i), "report_number": fmt.Sprint(i),
			"contract_number": "№36/20 (ДЛ)", "vehicle_guid": "4cac2fb0-3cc2-11ea-8db2-1831bf7dd028", "date_start": "2022-03-03T00:00:00",
			"date_finish": "2022-03-10T00:00:00", "status_code": 1, "reject_reason": "Плохое качество видеоматериала", "data_version": "AAAA0AAAAAA="}
	}
	b, _ := json.Marshal(items)
	return append([]byte("\xef\xbb\xbf"), b...)
}

func BenchmarkDecodeBatch(b *testing.B) {
	body := batchOfReports()
	b.Run("baseline_json_unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for i := 0; i < b.N; i++ {
			var items []Report
			if err := json.Unmarshal(body[3:], &items); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeBatch", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for i := 0; i < b.N; i++ {
			if _, err := decodeBatch[Report](body, "application/json; charset=utf-8"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
