package notify_test

import (
	"net/http"
	"testing"

	"github.com/forteleasing/inspections/internal/app"
	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/push/pushtest"
)

func newTask(ref string) []any {
	return []any{map[string]any{"ref_key": ref, "report_number": "000000077", "vehicle_guid": apptest.BINVehicle,
		"date_start": "2026-11-22T00:00:00", "date_finish": "2026-11-29T00:00:00", "status_code": 1}}
}

// A push queued while FCM is down is kept in the database: after a restart, the new process delivers
// it once FCM is back.
func TestPush_QueuedBeforeARestartIsDeliveredAfterIt(t *testing.T) {
	apptest.EachDatabase(t, func(t *testing.T, dbURL string) {
		fcm := pushtest.Start(t)
		fcm.Answer(func(string, int) (int, string) { return 503, pushtest.Unavailable })
		first := apptest.NewWith(t, dbURL, app.Deps{PushSender: fcm.Sender(t)})
		first.Login(apptest.DemoBIN, apptest.Director("restart-phone"))
		apptest.WantStatus(t, first.JSON(http.MethodPut, "/1c/reports", newTask("restart-task"), apptest.OneCAuth()...), 200, "")
		apptest.Eventually(t, func() bool {
			var state string
			return first.DB.Get(&state, `SELECT state FROM river_job WHERE kind = 'push'`) == nil && state == "retryable"
		}, "a first try of the push, failed")
		if n := len(fcm.Messages()); n != 0 {
			t.Fatalf("%d messages delivered while FCM is down", n)
		}
		first.Close() // the process ends with the push waiting for its retry

		fcm.Answer(func(string, int) (int, string) { return 0, "" })
		apptest.NewWith(t, dbURL, app.Deps{PushSender: fcm.Sender(t)})
		apptest.Eventually(t, func() bool { return len(fcm.Messages()) >= 1 }, "the push delivered after the restart")
		m := fcm.Messages()[0]
		n, d := m["notification"].(map[string]any), m["data"].(map[string]any)
		if m["token"] != "fcm-restart-phone" || n["title"] != "Новая задача: отчёт №000000077" || d["ref_key"] != "restart-task" {
			t.Fatalf("delivered %v", m)
		}
	})
}

// A dead token is forgotten at once and not retried; an unavailable FCM is retried until it answers.
func TestPush_RetriesUnavailableAndForgetsDeadTokens(t *testing.T) {
	fcm := pushtest.Start(t)
	fcm.Answer(func(token string, n int) (int, string) {
		switch {
		case token == "fcm-old-phone":
			return 404, pushtest.Unregistered
		case n == 1:
			return 503, pushtest.Unavailable
		}
		return 0, ""
	})
	ta := apptest.NewWith(t, "", app.Deps{PushSender: fcm.Sender(t)})
	ta.Login(apptest.DemoBIN, apptest.Director("old-phone"))
	ta.Login(apptest.DemoBIN, apptest.Director("new-phone"))
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", newTask("retry-task"), apptest.OneCAuth()...), 200, "")
	apptest.Eventually(t, func() bool { return len(fcm.Messages()) == 1 }, "the push delivered on its second try")
	if m := fcm.Messages()[0]; m["token"] != "fcm-new-phone" || fcm.Calls("fcm-new-phone") != 2 {
		t.Fatalf("delivered %v after %d calls", m, fcm.Calls("fcm-new-phone"))
	}
	var forgotten int
	apptest.Eventually(t, func() bool {
		return ta.DB.Get(&forgotten, `SELECT count(*) FROM sessions WHERE fcm_token = 'fcm-old-phone'`) == nil && forgotten == 0
	}, "the unregistered token forgotten")
	if c := fcm.Calls("fcm-old-phone"); c != 1 {
		t.Fatalf("a dead token was tried %d times", c)
	}
}
