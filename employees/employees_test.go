package employees_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func TestTenantIsolation_AnotherCompanysIDsAreNotFound(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		bin := ta.Login(apptest.DemoBIN, apptest.Director("iso-bin")).Str("access_token")
		ta.Login(apptest.DemoIIN, apptest.Employee("iso-emp", "87010000001", "Чужой"))
		var otherEmployee int
		if err := ta.DB.Get(&otherEmployee, `SELECT id FROM users WHERE mobile = '87010000001'`); err != nil {
			t.Fatal(err)
		}
		apptest.WantStatus(t, ta.Get("/reports/vehicle/select/"+apptest.IINVehicle, bin), 404, "vehicle_not_found")
		apptest.WantStatus(t, ta.Get("/reports/general/filter/null/null/"+apptest.IINVehicle, bin), 404, "vehicle_not_found")
		apptest.WantStatus(t, ta.Do(http.MethodDelete, "/employee/delete/"+strconv.Itoa(otherEmployee), nil, "Authorization", "Bearer "+bin), 404, "employee_not_found")
		var active bool
		if err := ta.DB.Get(&active, `SELECT active FROM users WHERE id = $1`, otherEmployee); err != nil || !active {
			t.Fatalf("the other company's employee was touched: active=%v %v", active, err)
		}
		// Nothing of the IIN company leaks into the BIN company's lists.
		for _, path := range []string{"/reports/general/filter", "/reports/vehicle/filter", "/employee/list"} {
			a := ta.Get(path, bin)
			for _, leak := range []string{apptest.IINVehicle, "264LE02", "Чужой", "d60ea4cb"} {
				if strings.Contains(string(a.Raw), leak) {
					t.Errorf("%s shows %s of another company", path, leak)
				}
			}
		}
	})
}

func TestEmployees_DirectorOnlyAndDeletionLocksOutAtOnce(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		emp := ta.Login(apptest.DemoBIN, apptest.Employee("del-emp", "87781578800", "Иван"))
		dir := ta.Login(apptest.DemoBIN, apptest.Director("del-dir")).Str("access_token")
		apptest.WantStatus(t, ta.Get("/employee/list", emp.Str("access_token")), 403, "director_only")
		apptest.WantStatus(t, ta.Do(http.MethodDelete, "/employee/delete/1", nil, "Authorization", "Bearer "+emp.Str("access_token")), 403, "director_only")
		apptest.WantStatus(t, ta.Do(http.MethodDelete, "/employee/delete/abc", nil, "Authorization", "Bearer "+dir), 404, "employee_not_found")
		var id int
		if err := ta.DB.Get(&id, `SELECT id FROM users WHERE role = 2`); err != nil {
			t.Fatal(err)
		}
		var dirID int
		if err := ta.DB.Get(&dirID, `SELECT id FROM users WHERE role = 1 AND company_id = (SELECT id FROM companies WHERE biin = $1)`, apptest.DemoBIN); err != nil {
			t.Fatal(err)
		}
		apptest.WantStatus(t, ta.Do(http.MethodDelete, "/employee/delete/"+strconv.Itoa(dirID), nil, "Authorization", "Bearer "+dir), 404, "employee_not_found")
		apptest.WantStatus(t, ta.Do(http.MethodDelete, "/employee/delete/"+strconv.Itoa(id), nil, "Authorization", "Bearer "+dir), 200, "")
		apptest.WantStatus(t, ta.Get("/reports/general/filter", emp.Str("access_token")), 401, "session_revoked")
		apptest.WantStatus(t, ta.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+emp.Str("refresh_token")), 401, "invalid_refresh_token")
		var tokens int
		if err := ta.DB.Get(&tokens, `SELECT count(*) FROM sessions WHERE user_id = $1 AND fcm_token <> ''`, id); err != nil || tokens != 0 {
			t.Fatalf("push tokens left for the deleted employee: %d %v", tokens, err)
		}
		if n := len(ta.Get("/employee/list", dir).Data()["employees"].([]any)); n != 0 {
			t.Fatalf("deleted employee still listed (%d)", n)
		}
	})
}
