package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpServer is a real SMTP server (emersion/go-smtp) on loopback that keeps what it receives.
type smtpServer struct {
	mu       sync.Mutex
	user     string
	pass     string
	rejectTo string
	received []received
	authed   bool
	sawTLS   bool
	addr     string
	srv      *smtp.Server
}

type received struct {
	from string
	to   []string
	data []byte
}

type session struct {
	s   *smtpServer
	c   *smtp.Conn
	cur received
}

func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.user || pass != ss.s.pass {
			return errors.New("invalid credentials")
		}
		ss.s.mu.Lock()
		ss.s.authed = true
		ss.s.mu.Unlock()
		return nil
	}), nil
}
func (ss *session) Mail(from string, _ *smtp.MailOptions) error { ss.cur.from = from; return nil }
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == ss.s.rejectTo {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	ss.cur.to = append(ss.cur.to, to)
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.cur.data = b
	ss.s.received = append(ss.s.received, ss.cur)
	ss.s.sawTLS = ss.s.sawTLS || isTLS
	return nil
}
func (ss *session) Reset()        { ss.cur = received{} }
func (ss *session) Logout() error { return nil }

// startSMTP serves on 127.0.0.1; tlsCfg offers STARTTLS, implicit wraps the listener in TLS (smtps).
func startSMTP(t *testing.T, tlsCfg *tls.Config, implicit bool) *smtpServer {
	t.Helper()
	s := &smtpServer{user: "mailer", pass: "s3cret-pass"}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		ln = tls.NewListener(ln, tlsCfg)
	} else {
		srv.TLSConfig = tlsCfg
	}
	s.addr, s.srv = ln.Addr().String(), srv
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

// selfSigned returns a server certificate for 127.0.0.1 and a client config that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

var otpMessage = Message{To: "email@mail.ru", Subject: "ForteLeasing: код для входа", Text: "Здравствуйте!\n\nOTP: 0588\n"}

// parse reads a received message back: headers, decoded subject and body.
func parse(t *testing.T, raw []byte) (*netmail.Message, string, string) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	body, _ := io.ReadAll(r)
	return m, subject, strings.ReplaceAll(string(body), "\r\n", "\n")
}

func TestSMTP_DeliversWithAuthAndStartTLS(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	srv := startSMTP(t, serverTLS, false)
	s, err := Open("smtp://mailer:s3cret-pass@"+srv.addr, Options{From: "ForteLeasing <noreply@forteleasing.kz>", TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), otpMessage); err != nil {
		t.Fatal(err)
	}
	if len(srv.received) != 1 || !srv.authed || !srv.sawTLS {
		t.Fatalf("received %d, authed %v, tls %v", len(srv.received), srv.authed, srv.sawTLS)
	}
	got := srv.received[0]
	m, subject, body := parse(t, got.data)
	if got.from != "noreply@forteleasing.kz" || got.to[0] != "email@mail.ru" || subject != otpMessage.Subject {
		t.Fatalf("envelope %s → %v, subject %q", got.from, got.to, subject)
	}
	if !strings.Contains(strings.ToLower(m.Header.Get("Content-Type")), "utf-8") || !strings.Contains(string(got.data), "OTP: 0588") {
		t.Fatalf("headers %v\n%s", m.Header, got.data)
	}
	if body != otpMessage.Text {
		t.Fatalf("decoded body %q", body)
	}
}

func TestSMTPS_ImplicitTLS(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	srv := startSMTP(t, serverTLS, true)
	s, err := Open("smtps://mailer:s3cret-pass@"+srv.addr, Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), otpMessage); err != nil {
		t.Fatal(err)
	}
	if len(srv.received) != 1 {
		t.Fatalf("received %d", len(srv.received))
	}
}

func TestSMTP_Failures(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	srv := startSMTP(t, serverTLS, false)
	srv.rejectTo = "gone@mail.ru"
	ctx := context.Background()

	s, _ := Open("smtp://mailer:s3cret-pass@"+srv.addr, Options{TLSConfig: clientTLS})
	if err := s.Send(ctx, Message{To: "gone@mail.ru", Subject: "x", Text: "y"}); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("rejected recipient: %v", err)
	}
	bad, _ := Open("smtp://mailer:wrong-pass@"+srv.addr, Options{TLSConfig: clientTLS})
	err := bad.Send(ctx, otpMessage)
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	if strings.Contains(err.Error(), "wrong-pass") {
		t.Fatalf("the password leaked into the error: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	down, _ := Open("smtp://"+closed, Options{})
	start := time.Now()
	if err := down.Send(ctx, otpMessage); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("server down: %v after %v", err, time.Since(start))
	}

	// A server that accepts the connection and never speaks: the timeout ends the send.
	mute, _ := net.Listen("tcp", "127.0.0.1:0")
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	slow, _ := Open("smtp://"+mute.Addr().String(), Options{Timeout: 300 * time.Millisecond})
	start = time.Now()
	if err := slow.Send(ctx, otpMessage); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("mute server: %v after %v", err, time.Since(start))
	}
	if len(srv.received) != 0 {
		t.Fatalf("%d messages delivered by failing sends", len(srv.received))
	}
}

func TestFile_WritesAParseableEMLAndNoTempFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	var logs bytes.Buffer
	s, err := Open("file://"+dir, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Send(context.Background(), otpMessage); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("files: %v", entries)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") || strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("unexpected file %s", e.Name())
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	m, subject, _ := parse(t, raw)
	if subject != otpMessage.Subject || m.Header.Get("To") != "<email@mail.ru>" && m.Header.Get("To") != "email@mail.ru" {
		t.Fatalf("subject %q to %q", subject, m.Header.Get("To"))
	}
	if !strings.Contains(string(raw), "OTP: 0588") {
		t.Fatalf("the code is not greppable in the .eml:\n%s", raw)
	}
	if strings.Contains(logs.String(), "0588") {
		t.Fatal("the body reached the log")
	}
}

func TestLog_NeverLogsTheBody(t *testing.T) {
	var logs bytes.Buffer
	s, _ := Open("log://", Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err := s.Send(context.Background(), otpMessage); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "0588") || !strings.Contains(logs.String(), "e****l@mail.ru") {
		t.Fatalf("log: %s", logs.String())
	}
}

func TestOpen_RejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "smtp://nohostport", "smtp://h:port", "file://", "::"} {
		if _, err := Open(u, Options{}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	_, err := Open("smtp://u:topsecret@h:99999999999", Options{})
	if err != nil && strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("password in error: %v", err)
	}
}

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{
		"email@mail.ru": "e****l@mail.ru", "a@x.kz": "a****a@x.kz", "иван@почта.kz": "и****н@почта.kz",
		"": "****", "no-at-sign": "****", "@x.kz": "****", "a@": "****",
	} {
		if got := MaskAddress(in); got != want {
			t.Errorf("MaskAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
