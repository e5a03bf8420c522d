package provider

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxBody caps what we read from a provider; the largest documented answer (Okpock /report) is a few KB.
const maxBody = 4 << 20

// newHTTPClient gives each client its own pool; the call's context sets the real deadline,
// the client timeout only backs it up.
func newHTTPClient(opts Options) *http.Client {
	timeout := opts.withDefaults().Timeout
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	t.TLSHandshakeTimeout = 5 * time.Second
	return &http.Client{Timeout: timeout, Transport: t}
}

// response is one provider answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send performs one exchange. A failure to get an answer comes back as *Error of kind ErrUnavailable.
func (g *guard) send(client *http.Client, op string, req *http.Request) (response, error) {
	resp, err := client.Do(req)
	if err != nil {
		return response{}, g.transportError(op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return response{}, g.transportError(op, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// transportError describes a failed exchange without the URL's query string, which carries
// REGNUM's seccode, nor its user info.
func (g *guard) transportError(op string, err error) *Error {
	code := "connection"
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		code = "timeout"
	}
	msg := err.Error()
	if ue, ok := errors.AsType[*url.Error](err); ok {
		msg = ue.Op + " " + redactURL(ue.URL) + ": " + ue.Err.Error()
	}
	return g.fail(op, 0, code, msg, ErrUnavailable, true)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// endpoint joins a configured root with a path, keeping any path the root already has.
func endpoint(root, path string) (*url.URL, error) {
	u, err := url.Parse(root)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	return u, nil
}

// configError reports a URL we cannot even parse; no request is sent.
func (g *guard) configError(op string, err error) *Error {
	return g.fail(op, 0, "bad_config", "invalid URL: "+err.Error(), ErrNotConfigured, false)
}
