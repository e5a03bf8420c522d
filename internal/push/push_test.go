package push_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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

func fastDispatcher(s push.Sender, onDead func(context.Context, string)) *push.Dispatcher {
	return push.NewDispatcher(s, push.DispatcherOptions{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), OnUnregistered: onDead,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond },
	})
}

func TestDispatcher_RetriesUnavailableAndForgetsDeadTokens(t *testing.T) {
	f := pushtest.Start(t)
	f.Answer(func(token string, n int) (int, string) {
		if token == "flaky" && n <= 2 {
			return 503, pushtest.Unavailable
		}
		if token == "dead" {
			return 404, pushtest.Unregistered
		}
		return 0, ""
	})
	var dead []string
	var mu sync.Mutex
	d := fastDispatcher(f.Sender(t), func(_ context.Context, tok string) { mu.Lock(); dead = append(dead, tok); mu.Unlock() })
	d.Start(context.Background())
	d.Enqueue([]string{"flaky", "dead"}, decision)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Calls("flaky") != 3 || len(f.Messages()) != 1 || f.Messages()[0]["token"] != "flaky" {
		t.Fatalf("flaky: %d calls, delivered %v", f.Calls("flaky"), f.Messages())
	}
	if f.Calls("dead") != 1 || len(dead) != 1 || dead[0] != "dead" {
		t.Fatalf("dead token: %d calls, forgotten %v", f.Calls("dead"), dead)
	}
}

type blockingSender struct{ release chan struct{} }

func (b blockingSender) Send(ctx context.Context, _ string, _ push.Notification) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

func TestDispatcher_EnqueueNeverBlocks(t *testing.T) {
	b := blockingSender{release: make(chan struct{})}
	d := push.NewDispatcher(b, push.DispatcherOptions{QueueSize: 2, Workers: 1, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	d.Start(context.Background())
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			d.Enqueue([]string{"a", "b", "c"}, decision)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Enqueue blocked on a full queue")
	}
	close(b.release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
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
