// Package pushtest plays Firebase Cloud Messaging for tests: a local server with FCM HTTP v1's send
// endpoint and Google's OAuth token endpoint, and a real SDK sender pointed at it.
package pushtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/push"
)

// FCM error bodies as the service sends them.
const (
	Unregistered = `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`
	Unavailable  = `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`
	BadArgument  = `{"error":{"code":400,"message":"Invalid value","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`
)

// Server is the fake FCM.
type Server struct {
	URL      string
	mu       sync.Mutex
	messages []map[string]any
	calls    map[string]int
	tokens   int
	answer   func(token string, n int) (int, string)
}

// Start serves until the test ends.
func Start(t testing.TB) *Server {
	s := &Server{calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Answer decides the reply for a device token on its n-th call; status 0 means 200.
func (s *Server) Answer(fn func(token string, n int) (status int, body string)) {
	s.mu.Lock()
	s.answer = fn
	s.mu.Unlock()
}

// Messages returns the delivered messages.
func (s *Server) Messages() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.messages...)
}

// Calls counts send attempts for token.
func (s *Server) Calls(token string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls[token] }

// TokenFetches counts OAuth token exchanges.
func (s *Server) TokenFetches() int { s.mu.Lock(); defer s.mu.Unlock(); return s.tokens }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		_ = r.ParseForm()
		if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.tokens++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
	case "/v1/projects/forte-test/messages:send":
		if r.Header.Get("Authorization") != "Bearer t" {
			http.Error(w, `{"error":{"code":401,"status":"UNAUTHENTICATED"}}`, http.StatusUnauthorized)
			return
		}
		var body struct {
			Message map[string]any `json:"message"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		token, _ := body.Message["token"].(string)
		s.mu.Lock()
		s.calls[token]++
		n, answer := s.calls[token], s.answer
		s.mu.Unlock()
		status, reply := 0, ""
		if answer != nil {
			status, reply = answer(token, n)
		}
		if status == 0 {
			status, reply = http.StatusOK, `{"name":"projects/forte-test/messages/1"}`
			s.mu.Lock()
			s.messages = append(s.messages, body.Message)
			s.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, reply)
	default:
		http.NotFound(w, r)
	}
}

// Sender is the real FCM sender (firebase SDK) with a generated service account, reaching this server.
func (s *Server) Sender(t testing.TB) push.Sender {
	t.Helper()
	u, _ := url.Parse(s.URL)
	sender, err := push.NewFCM(context.Background(), s.serviceAccount(t),
		push.FCMOptions{HTTPClient: &http.Client{Transport: toLocal{u}, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return sender
}

func (s *Server) serviceAccount(t testing.TB) string {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "forte-test", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "push@forte-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": s.URL + "/token",
	})
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// toLocal sends every request, whatever its host (fcm.googleapis.com), to the fake server.
type toLocal struct{ base *url.URL }

func (l toLocal) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = l.base.Scheme, l.base.Host
	return http.DefaultTransport.RoundTrip(r)
}
