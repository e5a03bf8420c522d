package auth_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// Two instances on one database: a session checked (and remembered) by instance b is refused by b on
// the very next request after instance a revokes it or deletes its user.
func TestSession_RevokedOrDeletedRefusedOnOtherInstanceAtOnce(t *testing.T) {
	apptest.EachDatabase(t, func(t *testing.T, dbURL string) {
		a := apptest.New(t, dbURL)
		b := apptest.New(t, dbURL)
		director := a.Login(apptest.DemoBIN, apptest.Director("lockout-director"))
		dirToken := director.Str("access_token")
		empToken := a.Token(apptest.DemoBIN, apptest.Employee("lockout-employee", "+77015550101", "Aigerim"))
		other := a.Token(apptest.DemoBIN, apptest.Employee("lockout-other", "+77015550102", "Bolat"))

		const list = "/reports/general/filter"
		for i := 0; i < 3; i++ { // b checks each session once, then trusts its auth version
			for _, tok := range []string{dirToken, empToken, other} {
				apptest.WantStatus(t, b.Get(list, tok), http.StatusOK, "")
			}
		}

		// The director deletes an employee on a: that employee is refused on b, the other is not.
		employees := a.Get("/employee/list", dirToken)
		apptest.WantStatus(t, employees, http.StatusOK, "")
		id := employeeID(t, employees, "+77015550101")
		apptest.WantStatus(t, a.Do(http.MethodDelete, fmt.Sprintf("/employee/delete/%d", id), nil,
			"Authorization", "Bearer "+dirToken), http.StatusOK, "")
		apptest.WantStatus(t, b.Get(list, empToken), http.StatusUnauthorized, "session_revoked")
		apptest.WantStatus(t, b.Get(list, other), http.StatusOK, "")
		apptest.WantStatus(t, b.Get(list, dirToken), http.StatusOK, "")

		// The director logs out on a: refused on b at once, and on a.
		apptest.WantStatus(t, a.Do(http.MethodPost, "/logout", nil, "Authorization", "Bearer "+dirToken), http.StatusOK, "")
		apptest.WantStatus(t, b.Get(list, dirToken), http.StatusUnauthorized, "session_revoked")
		apptest.WantStatus(t, a.Get(list, dirToken), http.StatusUnauthorized, "session_revoked")
		apptest.WantStatus(t, b.Get(list, other), http.StatusOK, "")

		// A new login on the same device ends the device's earlier session, on b too.
		again := a.Token(apptest.DemoBIN, apptest.Employee("lockout-other", "+77015550102", "Bolat"))
		apptest.WantStatus(t, b.Get(list, other), http.StatusUnauthorized, "session_revoked")
		apptest.WantStatus(t, b.Get(list, again), http.StatusOK, "")
	})
}

// A refresh token reused after its grace period revokes its whole family: the session's access token
// is refused at once on the other instance.
func TestSession_RefreshReuseRevokesFamilyOnOtherInstance(t *testing.T) {
	apptest.EachDatabase(t, func(t *testing.T, dbURL string) {
		a := apptest.New(t, dbURL, "FL_REFRESH_REUSE_GRACE", "1ms")
		b := apptest.New(t, dbURL)
		login := a.Login(apptest.DemoBIN, apptest.Director("reuse-director"))
		access, refresh := login.Str("access_token"), login.Str("refresh_token")
		apptest.WantStatus(t, b.Get("/reports/general/filter", access), http.StatusOK, "")

		first := a.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+refresh)
		apptest.WantStatus(t, first, http.StatusOK, "")
		newAccess := first.Str("access_token")
		apptest.WantStatus(t, b.Get("/reports/general/filter", newAccess), http.StatusOK, "")
		apptest.Eventually(t, func() bool {
			return a.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+refresh).Code == http.StatusUnauthorized
		}, "the reused refresh token is refused once the grace period is over")
		for _, tok := range []string{access, newAccess} {
			apptest.WantStatus(t, b.Get("/reports/general/filter", tok), http.StatusUnauthorized, "session_revoked")
		}
		apptest.WantStatus(t, a.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+first.Str("refresh_token")),
			http.StatusUnauthorized, "invalid_refresh_token")
	})
}

func employeeID(t *testing.T, a apptest.Answer, mobile string) int64 {
	t.Helper()
	list, _ := a.Body["data"].([]any)
	if m, ok := a.Body["data"].(map[string]any); ok {
		list, _ = m["employees"].([]any)
	}
	for _, e := range list {
		if m, _ := e.(map[string]any); m["mobile"] == mobile {
			return int64(m["id"].(float64))
		}
	}
	t.Fatalf("no employee %s in %s", mobile, a.Raw)
	return 0
}

// The director's refresh answer lists the employees as they are now, whichever instance changed
// them: each instance keeps the list under the company's auth version, which an employee's first
// login (or a changed name) and a deletion move.
func TestRefresh_EmployeeListFollowsLoginsAndDeletionsOnOtherInstance(t *testing.T) {
	apptest.EachDatabase(t, func(t *testing.T, dbURL string) {
		a := apptest.New(t, dbURL)
		b := apptest.New(t, dbURL)
		login := a.Login(apptest.DemoBIN, apptest.Director("cache-director"))
		dirToken, refresh := login.Str("access_token"), login.Str("refresh_token")
		refreshed := func() apptest.Answer {
			t.Helper()
			r := a.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+refresh)
			apptest.WantStatus(t, r, http.StatusOK, "")
			refresh = r.Str("refresh_token")
			return r
		}
		names := func(r apptest.Answer) map[string]string {
			t.Helper()
			out := map[string]string{}
			list, ok := r.Data()["employees"].([]any)
			if !ok {
				t.Fatalf("no employees list in the director's answer: %.300s", r.Raw)
			}
			for _, e := range list {
				m := e.(map[string]any)
				out[m["mobile"].(string)] = m["first_name"].(string)
			}
			return out
		}
		refreshed() // a has the list cached now
		if got := names(refreshed()); len(got) != 0 {
			t.Fatalf("employees before any logged in: %v", got)
		}

		b.Token(apptest.DemoBIN, apptest.Employee("cache-employee", "+77015550201", "Dana"))
		if got := names(refreshed()); got["+77015550201"] != "Dana" || len(got) != 1 {
			t.Fatalf("after an employee logged in on b, the director's refresh on a lists %v", got)
		}
		b.Token(apptest.DemoBIN, apptest.Employee("cache-employee-2", "+77015550201", "Dana K."))
		if got := names(refreshed()); got["+77015550201"] != "Dana K." {
			t.Fatalf("after the employee logged in again under a new name, the list is %v", got)
		}

		id := employeeID(t, b.Get("/employee/list", dirToken), "+77015550201")
		apptest.WantStatus(t, b.Do(http.MethodDelete, fmt.Sprintf("/employee/delete/%d", id), nil,
			"Authorization", "Bearer "+dirToken), http.StatusOK, "")
		if got := names(refreshed()); len(got) != 0 {
			t.Fatalf("after the deletion on b, the director's refresh on a still lists %v", got)
		}
	})
}
