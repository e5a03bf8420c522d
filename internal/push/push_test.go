package push_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/push"
	"github.com/forteleasing/inspections/internal/push/pushtest"
)

var decision = push.Notification{Title: "Отчёт №000000001 отклонён", Body: "Причина: не виден VIN.", Data: map[string]string{"ref_key": "646ba713", "status_code": "4"}}

func TestFCM_SendsThePayloadThroughTheRealSDK(t *testing.T) {
	f := pushtest.Start(t)
	s := f.Sender(t)
	for i := 0; i < 2; i++ {
		if err := s.Send(context.Background(), "device-token-1", decision); err != nil {
			t.Fatal(err)
		}
	}
	if f.TokenFetches() != 1 {
		t.Fatalf("OAuth token fetched %d times, want once (cached)", f.TokenFetches())
	}
	m := f.Messages()[0]
	notif := m["notification"].(map[string]any)
	data := m["data"].(map[string]any)
	android := m["android"].(map[string]any)
	if m["token"] != "device-token-1" || notif["title"] != decision.Title || notif["body"] != decision.Body ||
		data["ref_key"] != "646ba713" || data["status_code"] != "4" || android["priority"] != "high" {
		t.Fatalf("message at FCM: %v", m)
	}
}

func TestFCM_ClassifiesErrors(t *testing.T) {
	f := pushtest.Start(t)
	f.Answer(func(token string, _ int) (int, string) {
		switch token {
		case "dead":
			return 404, pushtest.Unregistered
		case "busy":
			return 503, pushtest.Unavailable
		case "bad":
			return 400, pushtest.BadArgument
		}
		return 0, ""
	})
	s := f.Sender(t)
	ctx := context.Background()
	if err := s.Send(ctx, "dead", decision); !errors.Is(err, push.ErrUnregistered) || push.IsRetryable(err) {
		t.Fatalf("unregistered: %v", err)
	}
	if err := s.Send(ctx, "busy", decision); err == nil || !push.IsRetryable(err) {
		t.Fatalf("503: %v", err)
	}
	if err := s.Send(ctx, "bad", decision); err == nil || push.IsRetryable(err) {
		t.Fatalf("400: %v", err)
	}
}

func TestLogSender_NeverLogsTheToken(t *testing.T) {
	var buf bytes.Buffer
	token := "fcm-token-abcdefghijklmnopqrstuvwxyz-0123456789"
	if err := push.NewLog(slog.New(slog.NewJSONHandler(&buf, nil))).Send(context.Background(), token, decision); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), token) || !strings.Contains(buf.String(), "fcm-to") {
		t.Fatalf("log: %s", buf.String())
	}
}
