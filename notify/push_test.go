package notify_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/forteleasing/inspections/internal/app"
	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/push/pushtest"
)

// delivered waits until the fake FCM holds want messages.
func delivered(t *testing.T, f *pushtest.Server, want int) []map[string]any {
	t.Helper()
	apptest.Eventually(t, func() bool { return len(f.Messages()) >= want }, "FCM received fewer than %d messages", want)
	return f.Messages()
}

func byToken(msgs []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, m := range msgs {
		out[m["token"].(string)] = m
	}
	return out
}

func TestPush_NewTaskAndDecisionReachTheRightDevices(t *testing.T) {
	fcm := pushtest.Start(t)
	ta := apptest.NewWith(t, "", app.Deps{PushSender: fcm.Sender(t)})
	emp := ta.Login(apptest.DemoBIN, apptest.Employee("emp-phone", "87781578800", "Иван")).Str("access_token")
	ta.Login(apptest.DemoBIN, apptest.Director("dir-phone"))
	ta.Login(apptest.DemoIIN, apptest.Director("other-company-phone"))

	// A new task (status 1) goes to every device of the company, and no other.
	apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "push-task", "report_number": "000000042",
		"vehicle_guid": apptest.BINVehicle, "date_start": "2026-11-22T00:00:00", "date_finish": "2026-11-29T00:00:00", "status_code": 1}}, apptest.OneCAuth()...), 200, "")
	got := byToken(delivered(t, fcm, 2))
	for _, tok := range []string{"fcm-emp-phone", "fcm-dir-phone"} {
		m, ok := got[tok]
		if !ok {
			t.Fatalf("no push to %s: %v", tok, got)
		}
		n, d := m["notification"].(map[string]any), m["data"].(map[string]any)
		if n["title"] != "Новая задача: отчёт №000000042" || d["ref_key"] != "push-task" || d["status_code"] != "1" {
			t.Fatalf("task push: %v", m)
		}
	}
	if _, leaked := got["fcm-other-company-phone"]; leaked {
		t.Fatal("another company's device was told about the task")
	}
	// Replaying the batch is not a new task.
	ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "push-task", "report_number": "000000042",
		"vehicle_guid": apptest.BINVehicle, "date_start": "2026-11-22T00:00:00", "date_finish": "2026-11-29T00:00:00", "status_code": 1}}, apptest.OneCAuth()...)

	// The employee uploads; 1C rejects: the uploader and the director hear it, with the reason.
	apptest.WantStatus(t, ta.Upload(emp, apptest.Meta("push-task"), apptest.MP4(4096), false), 201, "")
	apptest.WantStatus(t, ta.JSON(http.MethodPost, "/1c/reports/push-task/decision",
		map[string]any{"status_code": 4, "reject_reason": "Не виден номер"}, apptest.OneCAuth()...), 200, "")
	msgs := delivered(t, fcm, 4)
	if len(msgs) != 4 {
		t.Fatalf("%d messages: the replayed batch pushed again?", len(msgs))
	}
	decision := byToken(msgs[2:])
	for _, tok := range []string{"fcm-emp-phone", "fcm-dir-phone"} {
		m := decision[tok]
		if m == nil {
			t.Fatalf("no decision push to %s", tok)
		}
		n, d := m["notification"].(map[string]any), m["data"].(map[string]any)
		if n["title"] != "Отчёт №000000042 отклонён" || n["body"] != "Причина: Не виден номер. Снимите видео заново." ||
			d["status_code"] != "4" || d["ref_key"] != "push-task" {
			t.Fatalf("decision push: %v", m)
		}
	}
}

func TestPush_DeadTokensAreForgottenAndFailuresNeverFailTheRequest(t *testing.T) {
	fcm := pushtest.Start(t)
	// FCM holds every send until the 1C request has been answered: the request cannot have waited for it.
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release)
	fcm.Answer(func(token string, n int) (int, string) {
		<-hold
		if token == "fcm-old-phone" {
			return 404, pushtest.Unregistered
		}
		return 503, pushtest.Unavailable // FCM down for everyone else
	})
	ta := apptest.NewWith(t, "", app.Deps{PushSender: fcm.Sender(t)})
	ta.Login(apptest.DemoBIN, apptest.Director("old-phone"))
	a := ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "dead-token-task", "report_number": "7",
		"vehicle_guid": apptest.BINVehicle, "date_start": "2026-11-22T00:00:00", "date_finish": "2026-11-29T00:00:00", "status_code": 1}}, apptest.OneCAuth()...)
	apptest.WantStatus(t, a, 200, "")
	release()
	apptest.Eventually(t, func() bool {
		return apptest.Count(t, ta, `SELECT count(*) FROM sessions WHERE fcm_token = 'fcm-old-phone'`) == 0
	}, "the unregistered token was not forgotten")
}
