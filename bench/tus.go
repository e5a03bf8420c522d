package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
)

// tusChunk is the PATCH size of the resumable path: the README's advice, one S3 part per PATCH.
const tusChunk = 8 << 20

// tusMetadata is the Upload-Metadata of an upload: the fields of a plain upload, each value in base64.
func tusMetadata(refKey string) string {
	var pairs []string
	for _, f := range kit.UploadFields(refKey) {
		pairs = append(pairs, f[0]+" "+base64.StdEncoding.EncodeToString([]byte(f[1])))
	}
	return strings.Join(pairs, ",")
}

// tusCreate starts a resumable upload and returns its URL on base (Location names FL_PUBLIC_URL).
func tusCreate(ctx context.Context, client *http.Client, base, token, refKey string, size int64) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/reports/uploads", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", tusMetadata(refKey))
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", kit.HTTPStatusError(resp.StatusCode, "tus create "+refKey, answer)
	}
	_, id, _ := strings.Cut(resp.Header.Get("Location"), "/reports/uploads/")
	return base + "/reports/uploads/" + id, nil
}

// tusPatch sends one chunk at offset and returns the new offset.
func tusPatch(ctx context.Context, client *http.Client, u, token string, offset int64, chunk []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(chunk))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return 0, kit.HTTPStatusError(resp.StatusCode, "tus PATCH", answer)
	}
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

func tusOffset(ctx context.Context, client *http.Client, u, token string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("tus HEAD: %d", resp.StatusCode)
	}
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

// tusUpload sends file (size bytes) as a resumable upload in tusChunk PATCHes, as the app would.
func tusUpload(ctx context.Context, client *http.Client, base, token, refKey string, file io.Reader, size int64) error {
	u, err := tusCreate(ctx, client, base, token, refKey, size)
	if err != nil {
		return err
	}
	return tusSend(ctx, client, u, token, file, 0, size)
}

// tusSend PATCHes what file still holds from offset on.
func tusSend(ctx context.Context, client *http.Client, u, token string, file io.Reader, offset, size int64) error {
	buf := make([]byte, tusChunk)
	for offset < size {
		n, err := io.ReadFull(file, buf[:min(int64(tusChunk), size-offset)])
		if err != nil {
			return err
		}
		if offset, err = tusPatch(ctx, client, u, token, offset, buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

// resumeAfterCut measures what a dropped link costs a resumable upload: half the file goes up, then a
// PATCH is cut off mid-body (the connection closes); the clock runs from the cut to the final 204 of
// HEAD and the PATCHes that resume. It returns that time and the time the same remaining bytes took
// when nothing was cut (the plain PATCHes of the first half, per byte).
func resumeAfterCut(ctx context.Context, client *http.Client, base, token, refKey string, seed uint64, size int64) (resume, undisturbed time.Duration, err error) {
	if size < 2*tusChunk {
		return 0, 0, fmt.Errorf("needs -mib ≥ %d (half the file in whole %d MiB PATCHes, then one cut)", 2*tusChunk>>20, tusChunk>>20)
	}
	u, err := tusCreate(ctx, client, base, token, refKey, size)
	if err != nil {
		return 0, 0, err
	}
	data, err := io.ReadAll(kit.MP4(seed, size))
	if err != nil {
		return 0, 0, err
	}
	half := size / 2 / tusChunk * tusChunk
	start := time.Now()
	if err := tusSend(ctx, client, u, token, bytes.NewReader(data[:half]), 0, half); err != nil {
		return 0, 0, err
	}
	perByte := time.Since(start) / time.Duration(half)
	// The cut: a PATCH of one chunk whose connection dies after half of it.
	parsed, _ := url.Parse(u)
	conn, err := net.Dial("tcp", parsed.Host)
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		parsed.Path, parsed.Host, token, half, tusChunk)
	_, _ = conn.Write(data[half : half+tusChunk/2])
	conn.Close()
	cut := time.Now()
	// As tus clients do: HEAD, PATCH from there; a 409 (the cut PATCH reached the server after the
	// HEAD and moved the offset) means HEAD again.
	for try := 0; ; try++ {
		var off int64
		if off, err = tusOffset(ctx, client, u, token); err == nil {
			if err = tusSend(ctx, client, u, token, bytes.NewReader(data[off:]), off, size); err == nil {
				break
			}
		}
		if try == 10 || ctx.Err() != nil {
			return 0, 0, err
		}
	}
	return time.Since(cut), perByte * time.Duration(size-half), nil
}
