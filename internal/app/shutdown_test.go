package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
)

func TestShutdown_FinishesAnUploadInFlight(t *testing.T) {
	ta := apptest.New(t, "", "FL_ADMIN_ADDR", "off")
	tok := ta.Login(apptest.DemoBIN, apptest.Director("shutdown")).Str("access_token")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ta.Serve(ctx, ln) }()

	body, ct := apptest.UploadBody(apptest.Meta(apptest.TaskRef), apptest.MP4(2<<20), false)
	all, _ := io.ReadAll(body)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/reports/upload", pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", ct)
	req.ContentLength = int64(len(all))
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("upload: %v", err)
			answered <- nil
			return
		}
		answered <- resp
	}()
	_, _ = pw.Write(all[:len(all)/2]) // half the video is on its way…
	p, err := ta.Auth.Authenticate(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, func() bool { return ta.UploadSlots.Held(p.UserID) == 1 }, "the upload inside the handler")
	stop() // …when SIGTERM arrives
	apptest.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "new connections refused while shutting down")
	_, _ = pw.Write(all[len(all)/2:])
	pw.Close()
	resp := <-answered
	if resp == nil || resp.StatusCode != 201 {
		t.Fatalf("the upload in flight did not complete: %v", resp)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after shutdown")
	}
	if s := reportStatus(t, ta, apptest.TaskRef); s != 2 {
		t.Fatalf("report status %d", s)
	}
}
