// Package push notifies the mobile app through Firebase Cloud Messaging (firebase.google.com/go/v4),
// and sends in the background with retries so that no request ever waits for, or fails because of, FCM.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"
)

// Notification is what the app shows, plus data for the app's own logic (ref_key, status_code).
type Notification struct {
	Title string
	Body  string
	Data  map[string]string
}

// Sender delivers one notification to one device token.
type Sender interface {
	Send(ctx context.Context, token string, n Notification) error
}

// ErrUnregistered means the token is dead (app uninstalled, token rotated): delete it, never retry.
var ErrUnregistered = errors.New("push: device token is no longer registered")

// errTemporary marks FCM answers worth retrying: 503, 500, quota and rate limits.
var errTemporary = errors.New("push: FCM is temporarily unable to deliver")

// IsRetryable reports whether trying again later may succeed.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, ErrUnregistered) {
		return false
	}
	var ne net.Error
	return errors.Is(err, errTemporary) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// FCMOptions lets tests reach a local server: HTTPClient carries both the OAuth token exchange and the
// FCM calls (its transport decides where they go).
type FCMOptions struct {
	HTTPClient *http.Client
}

type fcm struct{ client *messaging.Client }

// NewFCM sends with the service account in credentialsFile.
func NewFCM(ctx context.Context, credentialsFile string, o FCMOptions) (Sender, error) {
	raw, err := os.ReadFile(credentialsFile)
	if err != nil {
		return nil, fmt.Errorf("push: read FL_FCM_CREDENTIALS: %w", err)
	}
	creds, err := google.CredentialsFromJSONWithType(tokenContext(o), raw, google.ServiceAccount, "https://www.googleapis.com/auth/firebase.messaging")
	if err != nil {
		return nil, fmt.Errorf("push: service account: %w", err)
	}
	opts := []option.ClientOption{option.WithCredentials(creds)}
	if o.HTTPClient != nil {
		// With its own HTTP client the SDK adds no credentials: wrap it in the OAuth transport ourselves.
		opts = []option.ClientOption{option.WithHTTPClient(&http.Client{
			Transport: &oauth2.Transport{Source: creds.TokenSource, Base: o.HTTPClient.Transport},
			Timeout:   o.HTTPClient.Timeout,
		})}
	}
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: creds.ProjectID}, opts...)
	if err != nil {
		return nil, fmt.Errorf("push: firebase app: %w", err)
	}
	client, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("push: messaging client: %w", err)
	}
	return &fcm{client: client}, nil
}

// tokenContext makes the OAuth token exchange use the given client; it outlives NewFCM's ctx.
func tokenContext(o FCMOptions) context.Context {
	if o.HTTPClient == nil {
		return context.Background()
	}
	return context.WithValue(context.Background(), oauth2.HTTPClient, o.HTTPClient)
}

func (f *fcm) Send(ctx context.Context, token string, n Notification) error {
	_, err := f.client.Send(ctx, &messaging.Message{
		Token:        token,
		Notification: &messaging.Notification{Title: n.Title, Body: n.Body},
		Data:         n.Data,
		Android:      &messaging.AndroidConfig{Priority: "high"},
		APNS: &messaging.APNSConfig{Payload: &messaging.APNSPayload{Aps: &messaging.Aps{
			Alert: &messaging.ApsAlert{Title: n.Title, Body: n.Body}, Sound: "default",
		}}},
	})
	if messaging.IsUnregistered(err) {
		return fmt.Errorf("%w: %v", ErrUnregistered, err)
	}
	// Platform codes (UNAVAILABLE, INTERNAL, RESOURCE_EXHAUSTED) as well as FCM's own: not every answer has both.
	if errorutils.IsUnavailable(err) || errorutils.IsInternal(err) || errorutils.IsResourceExhausted(err) ||
		messaging.IsUnavailable(err) || messaging.IsInternal(err) || messaging.IsQuotaExceeded(err) {
		return fmt.Errorf("%w: %v", errTemporary, err)
	}
	if err != nil {
		return fmt.Errorf("push: fcm send: %w", err)
	}
	return nil
}

type logSender struct{ log *slog.Logger }

// NewLog only logs, for a service without FL_FCM_CREDENTIALS.
func NewLog(log *slog.Logger) Sender { return logSender{log: log} }

func (l logSender) Send(_ context.Context, token string, n Notification) error {
	keys := make([]string, 0, len(n.Data))
	for k := range n.Data {
		keys = append(keys, k)
	}
	l.log.Info("push not sent (FL_FCM_CREDENTIALS unset)", "token", Fingerprint(token), "title", n.Title, "data_keys", keys)
	return nil
}

// Fingerprint identifies a token in logs without revealing it.
func Fingerprint(token string) string {
	if len(token) <= 6 {
		return fmt.Sprintf("***(%d)", len(token))
	}
	return fmt.Sprintf("%s…(%d)", token[:6], len(token))
}
