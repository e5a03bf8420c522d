package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/push/pushtest"
)

// delivered waits until the fake FCM holds want messages.
func delivered(t *testing.T, f *pushtest.Server, want int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := f.Messages(); len(m) >= want {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("FCM received %d messages, want %d", len(f.Messages()), want)
	return nil
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
	ta := newTestAppWith(t, "", deps{PushSender: fcm.Sender(t)})
	emp := ta.login(demoBIN, employee("emp-phone", "87781578800", "Иван")).str("access_token")
	ta.login(demoBIN, director("dir-phone"))
	ta.login(demoIIN, director("other-company-phone"))

	// A new task (status 1) goes to every device of the company, and no other.
	wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "push-task", "report_number": "000000042",
		"vehicle_guid": binVehicle, "date_start": "2026-11-22T00:00:00", "date_finish": "2026-11-29T00:00:00", "status_code": 1}}, onecAuth()...), 200, "")
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
	ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "push-task", "report_number": "000000042",
		"vehicle_guid": binVehicle, "date_start": "2026-11-22T00:00:00", "date_finish": "2026-11-29T00:00:00", "status_code": 1}}, onecAuth()...)

	// The employee uploads; 1C rejects: the uploader and the director hear it, with the reason.
	wantStatus(t, ta.upload(emp, meta("push-task"), makeMP4(4096), false), 201, "")
	wantStatus(t, ta.jsonDo(http.MethodPost, "/1c/reports/push-task/decision",
		map[string]any{"status_code": 4, "reject_reason": "Не виден номер"}, onecAuth()...), 200, "")
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
	fcm.Answer(func(token string, n int) (int, string) {
		if token == "fcm-old-phone" {
			return 404, pushtest.Unregistered
		}
		return 503, pushtest.Unavailable // FCM down for everyone else
	})
	ta := newTestAppWith(t, "", deps{PushSender: fcm.Sender(t)})
	ta.login(demoBIN, director("old-phone"))
	start := time.Now()
	a := ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": "dead-token-task", "report_number": "7",
		"vehicle_guid": binVehicle, "date_start": "2026-11-22T00:00:00", "date_finish": "2026-11-29T00:00:00", "status_code": 1}}, onecAuth()...)
	wantStatus(t, a, 200, "")
	if time.Since(start) > 2*time.Second {
		t.Fatalf("the 1C request waited %v for FCM", time.Since(start))
	}
	deadline := time.Now().Add(10 * time.Second)
	for ta.count(t, `SELECT count(*) FROM sessions WHERE fcm_token = 'fcm-old-phone'`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the unregistered token was not forgotten")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = context.Background()
}
