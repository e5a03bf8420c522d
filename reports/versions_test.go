package reports_test

import (
	"net/http"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// TestListVersions_AWriteMovesOnlyItsCompanysVersions: the lists' caches are checked against per-company
// versions, so a new report of one company keeps every other company's cached answers and its own
// cached fleet blocks; a vehicle type moves every company's fleet version; a vehicle that moves moves
// both companies'.
func TestListVersions_AWriteMovesOnlyItsCompanysVersions(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		type v struct{ reports, fleet int64 }
		companyID := func(biin string) int64 {
			var id int64
			if err := a.DB.Get(&id, `SELECT id FROM companies WHERE biin = $1`, biin); err != nil {
				t.Fatal(err)
			}
			return id
		}
		bin, iin := companyID(apptest.DemoBIN), companyID(apptest.DemoIIN)
		versions := func(id int64) v {
			var out v
			_ = a.DB.QueryRow(`SELECT reports, fleet FROM list_versions WHERE company_id = $1`, id).Scan(&out.reports, &out.fleet)
			return out
		}
		put := func(path string, items any) {
			t.Helper()
			apptest.WantStatus(t, a.JSON(http.MethodPut, path, items, apptest.OneCAuth()...), 200, "")
		}

		b0, i0 := versions(bin), versions(iin)
		put("/1c/reports", []any{map[string]any{"ref_key": "versions-new", "report_number": "78", "vehicle_guid": apptest.BINVehicle,
			"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}})
		b1, i1 := versions(bin), versions(iin)
		if b1.reports != b0.reports+1 || b1.fleet != b0.fleet {
			t.Fatalf("a new report of the BIN company: its versions %v → %v, want reports +1 and the same fleet", b0, b1)
		}
		if i1 != i0 {
			t.Fatalf("a new report of the BIN company moved the IIN company's versions: %v → %v", i0, i1)
		}

		put("/1c/vehicle-types", []any{map[string]any{"ref_key": apptest.CarType, "title": "Легковой автомобиль", "instructions": []string{"Сфотографировать пробег"}}})
		b2, i2 := versions(bin), versions(iin)
		if b2.fleet != b1.fleet+1 || i2.fleet != i1.fleet+1 {
			t.Fatalf("a vehicle type batch: fleet versions %v → %v and %v → %v, want both +1", b1, b2, i1, i2)
		}

		put("/1c/vehicles", []any{map[string]any{"vehicle_guid": apptest.BINVehicle, "biin": apptest.DemoIIN, "vehicle_type_code": apptest.CarType}})
		b3, i3 := versions(bin), versions(iin)
		if b3.fleet != b2.fleet+1 || i3.fleet != i2.fleet+1 {
			t.Fatalf("a vehicle moving from the BIN to the IIN company: fleet versions %v → %v and %v → %v, want both +1", b2, b3, i2, i3)
		}
	})
}
