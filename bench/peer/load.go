package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

var (
	refreshTokenField = regexp.MustCompile(`"refresh_token":"([^"]+)"`)
	pbTokenField      = regexp.MustCompile(`"token":"([^"]+)"`)
)

// refreshCall POSTs to url with the token and returns the next token found by field in the answer; the
// answer is read whole, only its head decompressed.
func refreshCall(ctx context.Context, client *http.Client, url, auth string, field *regexp.Regexp) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %d %.300s", url, resp.StatusCode, raw)
	}
	head := raw
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return "", err
		}
		head, _ = io.ReadAll(io.LimitReader(zr, 8192))
	}
	m := field.FindSubmatch(head)
	if m == nil {
		return "", fmt.Errorf("POST %s: no token in the first 8 KB of the answer", url)
	}
	return string(m[1]), nil
}

// writer starts one write every interval until stopped, as 1C's upserts would arrive; up to 8 run at
// once, so that a write slower than the interval (a loaded machine) does not lower the rate.
type writer struct {
	stop     chan struct{}
	done     chan struct{}
	ok, errs atomic.Int64
	firstErr atomic.Pointer[error] // of any type: atomic.Value would panic on a second type
}

func startWriter(interval time.Duration, write func(ctx context.Context, n int64) error) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		slots := make(chan struct{}, 8)
		t := time.NewTicker(interval)
		defer t.Stop()
		for n := int64(0); ; n++ {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			select {
			case slots <- struct{}{}:
			default:
				w.errs.Add(1) // 8 writes still running: this one is skipped and counted as failed
				skipped := fmt.Errorf("8 writes in flight: one skipped")
				w.firstErr.CompareAndSwap(nil, &skipped)
				continue
			}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := write(ctx, n); err != nil {
					w.errs.Add(1)
					w.firstErr.CompareAndSwap(nil, &err)
				} else {
					w.ok.Add(1)
				}
			}()
		}
	}()
	return w
}

func (w *writer) finish() { close(w.stop); <-w.done }
