package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeFCM plays FCM's HTTP v1 send endpoint and Google's OAuth token endpoint.
type fakeFCM struct {
	srv      *httptest.Server
	mu       sync.Mutex
	messages []map[string]any
	tokens   atomic.Int32
	// answer decides the reply per device token; nil answers 200.
	answer func(token string, n int) (int, string)
	calls  map[string]int
}

func newFakeFCM(t *testing.T) *fakeFCM {
	f := &fakeFCM{calls: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			_ = r.ParseForm()
			if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
				http.Error(w, `{"error":"invalid_grant"}`, 400)
				return
			}
			f.tokens.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
		case r.URL.Path == "/v1/projects/forte-test/messages:send":
			if r.Header.Get("Authorization") != "Bearer t" {
				http.Error(w, `{"error":{"code":401,"status":"UNAUTHENTICATED"}}`, 401)
				return
			}
			var body struct {
				Message map[string]any `json:"message"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			token, _ := body.Message["token"].(string)
			f.mu.Lock()
			f.calls[token]++
			n := f.calls[token]
			f.mu.Unlock()
			status, reply := 200, `{"name":"projects/forte-test/messages/1"}`
			if f.answer != nil {
				if s, b := f.answer(token, n); s != 0 {
					status, reply = s, b
				}
			}
			if status == 200 {
				f.mu.Lock()
				f.messages = append(f.messages, body.Message)
				f.mu.Unlock()
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, reply)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

const (
	unregistered = `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`
	unavailable  = `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`
	badArgument  = `{"error":{"code":400,"message":"Invalid value","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`
)

// toLocal sends every request, whatever its host, to the fake server.
type toLocal struct{ base *url.URL }

func (l toLocal) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = l.base.Scheme, l.base.Host
	return http.DefaultTransport.RoundTrip(r)
}

// serviceAccount writes a service-account JSON with a fresh RSA key whose token_uri is the fake server.
func serviceAccount(t *testing.T, tokenURI string) string {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "forte-test", "private_key_id": "k1", "private_key": string(pemKey),
		"client_email": "push@forte-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokenURI,
	})
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newTestFCM(t *testing.T, f *fakeFCM) Sender {
	u, _ := url.Parse(f.srv.URL)
	s, err := NewFCM(context.Background(), serviceAccount(t, f.srv.URL+"/token"),
		FCMOptions{HTTPClient: &http.Client{Transport: toLocal{u}, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var decision = Notification{Title: "Отчёт №000000001 отклонён", Body: "Причина: не виден VIN.", Data: map[string]string{"ref_key": "646ba713", "status_code": "4"}}

func TestFCM_SendsThePayloadThroughTheRealSDK(t *testing.T) {
	f := newFakeFCM(t)
	s := newTestFCM(t, f)
	for i := 0; i < 2; i++ {
		if err := s.Send(context.Background(), "device-token-1", decision); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokens.Load() != 1 {
		t.Fatalf("OAuth token fetched %d times, want once (cached)", f.tokens.Load())
	}
	m := f.messages[0]
	notif := m["notification"].(map[string]any)
	data := m["data"].(map[string]any)
	android := m["android"].(map[string]any)
	if m["token"] != "device-token-1" || notif["title"] != decision.Title || notif["body"] != decision.Body ||
		data["ref_key"] != "646ba713" || data["status_code"] != "4" || android["priority"] != "high" {
		t.Fatalf("message at FCM: %v", m)
	}
}

func TestFCM_ClassifiesErrors(t *testing.T) {
	f := newFakeFCM(t)
	f.answer = func(token string, _ int) (int, string) {
		switch token {
		case "dead":
			return 404, unregistered
		case "busy":
			return 503, unavailable
		case "bad":
			return 400, badArgument
		}
		return 0, ""
	}
	s := newTestFCM(t, f)
	ctx := context.Background()
	if err := s.Send(ctx, "dead", decision); !errors.Is(err, ErrUnregistered) || IsRetryable(err) {
		t.Fatalf("unregistered: %v", err)
	}
	if err := s.Send(ctx, "busy", decision); err == nil || !IsRetryable(err) {
		t.Fatalf("503: %v", err)
	}
	if err := s.Send(ctx, "bad", decision); err == nil || IsRetryable(err) {
		t.Fatalf("400: %v", err)
	}
}

func fastDispatcher(s Sender, onDead func(context.Context, string)) *Dispatcher {
	return NewDispatcher(s, DispatcherOptions{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), OnUnregistered: onDead,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond },
	})
}

func TestDispatcher_RetriesUnavailableAndForgetsDeadTokens(t *testing.T) {
	f := newFakeFCM(t)
	f.answer = func(token string, n int) (int, string) {
		if token == "flaky" && n <= 2 {
			return 503, unavailable
		}
		if token == "dead" {
			return 404, unregistered
		}
		return 0, ""
	}
	var dead []string
	var mu sync.Mutex
	d := fastDispatcher(newTestFCM(t, f), func(_ context.Context, tok string) { mu.Lock(); dead = append(dead, tok); mu.Unlock() })
	d.Start(context.Background())
	d.Enqueue([]string{"flaky", "dead"}, decision)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if f.calls["flaky"] != 3 || len(f.messages) != 1 || f.messages[0]["token"] != "flaky" {
		t.Fatalf("flaky: %d calls, delivered %v", f.calls["flaky"], f.messages)
	}
	if f.calls["dead"] != 1 || len(dead) != 1 || dead[0] != "dead" {
		t.Fatalf("dead token: %d calls, forgotten %v", f.calls["dead"], dead)
	}
}

type blockingSender struct{ release chan struct{} }

func (b blockingSender) Send(ctx context.Context, _ string, _ Notification) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

func TestDispatcher_EnqueueNeverBlocks(t *testing.T) {
	b := blockingSender{release: make(chan struct{})}
	d := NewDispatcher(b, DispatcherOptions{QueueSize: 2, Workers: 1, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
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
	if err := NewLog(slog.New(slog.NewJSONHandler(&buf, nil))).Send(context.Background(), token, decision); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), token) || !strings.Contains(buf.String(), "fcm-to") {
		t.Fatalf("log: %s", buf.String())
	}
}
