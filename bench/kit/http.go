package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"time"
)

// StatusError is an answer that was not the expected status; the soak counts outcomes by its Status.
type StatusError struct {
	Status int
	Msg    string
}

func (e *StatusError) Error() string { return e.Msg }

// HTTPStatusError is a StatusError naming the request by what, with the head of the answer's body.
func HTTPStatusError(status int, what string, body []byte) error {
	return &StatusError{Status: status, Msg: fmt.Sprintf("%s: status %d %.300s", what, status, body)}
}

// DoJSON sends body as JSON (when not nil) and decodes the data of the service's envelope into out (when
// not nil); anything but a 2xx is a *StatusError. body and out are any value encoding/json takes.
func DoJSON(ctx context.Context, client *http.Client, method, url string, body any, auth string, out any) error {
	return doJSON(ctx, client, method, url, body, auth, out, true)
}

// DoJSONPlain is DoJSON for a server without the envelope (PocketBase): the whole answer goes into out.
func DoJSONPlain(ctx context.Context, client *http.Client, method, url string, body any, auth string, out any) error {
	return doJSON(ctx, client, method, url, body, auth, out, false)
}

func doJSON(ctx context.Context, client *http.Client, method, url string, body any, auth string, out any, envelope bool) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Status: resp.StatusCode, Msg: fmt.Sprintf("%s %s: %d %.500s", method, url, resp.StatusCode, raw)}
	}
	if out == nil {
		return nil
	}
	if !envelope {
		return json.Unmarshal(raw, out)
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	return json.Unmarshal(env.Data, out)
}

// NewLoadClient keeps one connection per client open, as a pool of app users would. It does not
// decompress, so that the shared CPU is not spent on the client's gunzip.
func NewLoadClient(clients int, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true,
	}}
}

// Getter returns a call that GETs url with the Authorization header auth and expects 200, reading the
// whole answer; any other status is a *StatusError with the head of the answer.
func Getter(client *http.Client, url, auth string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		// As the app's HTTP stack does; a load client does not decompress (DisableCompression), so it reads
		// what the server sends.
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
			return HTTPStatusError(resp.StatusCode, "GET "+url, body)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
}

// UploadFields are the form fields of an upload to the service, as the app sends them before the file.
func UploadFields(refKey string) [][2]string {
	return [][2]string{{"ref_key", refKey}, {"time_sent", time.Now().Format("2006-01-02 15:04:05")}, {"lat", "43.238949"}, {"long", "76.889709"}}
}

// PostMultipart sends fields and then file (size bytes, streamed) as one multipart POST with an exact
// Content-Length, the file in the part fileField, and expects the status want.
func PostMultipart(ctx context.Context, client *http.Client, url, auth, fileField string, fields [][2]string,
	file io.Reader, size int64, want int) error {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+fileField+`"; filename="inspection.mp4"`)
	h.Set("Content-Type", "video/mp4")
	if _, err := mw.CreatePart(h); err != nil {
		return err
	}
	prelude := bytes.Clone(head.Bytes())
	head.Reset()
	if err := mw.Close(); err != nil { // writes only the closing boundary
		return err
	}
	trailer := head.Bytes()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, io.MultiReader(bytes.NewReader(prelude), file, bytes.NewReader(trailer)))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(prelude)) + size + int64(len(trailer))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", auth)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	if resp.StatusCode != want {
		return HTTPStatusError(resp.StatusCode, "upload to "+url, answer)
	}
	return nil
}

// Profile saves a CPU profile of the service at admin (its admin address) over d, starting after delay,
// into path, in the background.
func Profile(ctx context.Context, admin string, delay, d time.Duration, path string) {
	go func() {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, max(1, int(d.Seconds())))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			Logf("pprof: %v", err)
			return
		}
		defer resp.Body.Close()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			Logf("pprof: %v", err)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			Logf("pprof: %v", err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
}
