// Package mail sends the service's e-mails (one-time passwords, lockout notices) through one interface,
// with the transport chosen by URL: smtp://, smtps://, file://DIR (.eml files, the dev default) or log://.
package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one plain-text e-mail.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

type Options struct {
	From      string // e.g. "ForteLeasing <noreply@forteleasing.kz>"
	Logger    *slog.Logger
	Timeout   time.Duration // per send; default 15 s
	TLSConfig *tls.Config   // lets tests trust a self-signed server
}

// Open picks the transport from rawURL. Errors never repeat the password.
func Open(rawURL string, o Options) (Sender, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.From == "" {
		o.From = "ForteLeasing <noreply@forteleasing.kz>"
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mail: FL_MAIL_URL is not a URL")
	}
	switch u.Scheme {
	case "file":
		dir := u.Host + u.Path // file://./data/outbox parses as host "." and path "/data/outbox"
		if u.Host == "" {
			dir = u.Path
		}
		if dir == "" {
			return nil, fmt.Errorf("mail: file:// needs a directory")
		}
		return &fileSender{dir: dir, from: o.From, log: o.Logger}, nil
	case "log":
		return &logSender{log: o.Logger}, nil
	case "smtp", "smtps":
		return newSMTP(u, o)
	default:
		return nil, fmt.Errorf("mail: FL_MAIL_URL must be smtp://, smtps://, file:// or log://, got %q", u.Scheme+"://")
	}
}

// build turns m into a MIME message: UTF-8, quoted-printable, so ASCII lines such as "OTP: 0588" stay readable.
func build(from string, m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP))
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail: sender %q: %w", from, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail: recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

type smtpSender struct {
	host, user string
	client     *gomail.Client
	from       string
	timeout    time.Duration
}

func newSMTP(u *url.URL, o Options) (*smtpSender, error) {
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("mail: %s:// needs HOST:PORT", u.Scheme)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("mail: bad port %q", portStr)
	}
	tlsCfg := o.TLSConfig
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsCfg = tlsCfg.Clone()
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = host
	}
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(o.Timeout), gomail.WithTLSConfig(tlsCfg)}
	if u.Scheme == "smtps" {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	user := u.User.Username()
	if user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(user), gomail.WithPassword(pass))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp client for %s: %w", u.Host, err)
	}
	return &smtpSender{host: u.Host, user: user, client: c, from: o.From, timeout: o.Timeout}, nil
}

func (s *smtpSender) String() string { return "smtp://" + s.user + ":***@" + s.host }

func (s *smtpSender) Send(ctx context.Context, m Message) error {
	msg, err := build(s.from, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: smtp send via %s: %w", s.host, err)
	}
	return nil
}

type fileSender struct {
	dir, from string
	log       *slog.Logger
}

// Send writes one .eml file, atomically (temp file + rename), named so that files sort by time.
func (f *fileSender) Send(_ context.Context, m Message) error {
	msg, err := build(f.from, m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	tmp, err := os.CreateTemp(f.dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("mail: write .eml: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail: write .eml: %w", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := filepath.Join(f.dir, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+hex.EncodeToString(suffix)+".eml")
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("mail: write .eml: %w", err)
	}
	f.log.Info("mail written to the outbox", "path", name, "to", MaskAddress(m.To), "subject", m.Subject)
	return nil
}

type logSender struct{ log *slog.Logger }

// Send logs who would have been e-mailed. Never the body: it holds one-time passwords.
func (l *logSender) Send(_ context.Context, m Message) error {
	l.log.Info("mail not sent (FL_MAIL_URL=log://)", "to", MaskAddress(m.To), "subject", m.Subject, "body_bytes", len(m.Text))
	return nil
}

// MaskAddress keeps the first and last character of the local part: email@mail.ru → e****l@mail.ru.
func MaskAddress(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 {
		return "****"
	}
	local := []rune(email[:at])
	return string(local[0]) + "****" + string(local[len(local)-1]) + email[at:]
}
