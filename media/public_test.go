package media

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestS3_PresignedURLsAreSignedForThePublicAddress(t *testing.T) {
	// The public address is only known once the proxy listens, so reserve its port first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	s := openTestS3With(t, Options{PublicStoreURL: public})
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(s.client.EndpointURL()))
	proxy.Listener.Close()
	proxy.Listener = ln
	proxy.Start()
	t.Cleanup(proxy.Close)

	const key, n = "reports/c1/r1/public.mp4", 2*mib + 7
	mustPut(t, s, key, 17, n, "video/mp4")
	link, err := s.URL(testContext(t), key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, public+"/"+s.bucket+"/"+key+"?") {
		t.Fatalf("link %s is not path-style on the public address %s", link, public)
	}
	client := &http.Client{Timeout: time.Minute}

	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sumOf(t, strings.NewReader(string(body))) != sumOf(t, randomBody(17, n)) {
		t.Fatalf("GET through the public address = %s, %d bytes", resp.Status, len(body))
	}

	// A player seeks with Range; the store answers it.
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("Range", "bytes=1048576-1048675")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := io.ReadAll(randomBody(17, n))
	if resp.StatusCode != http.StatusPartialContent || string(part) != string(want[1048576:1048676]) {
		t.Fatalf("Range GET = %s, %d bytes", resp.Status, len(part))
	}

	// The signature covers the host: the same link sent to the store's own address is refused.
	direct, _ := url.Parse(link)
	direct.Host = s.client.EndpointURL().Host
	resp, err = client.Get(direct.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the public link at the store's own host = %s, want 403", resp.Status)
	}
}

func TestS3_PublicStoreURLDropsTheDefaultPortAndRefusesPaths(t *testing.T) {
	// Signing is local once the region is known, so no store needs to run here.
	s, err := Open(context.Background(), "s3://k:secret@127.0.0.1:1/videos?secure=false&region=kz-1",
		Options{PublicStoreURL: "https://api.example.kz:443/"})
	if err != nil {
		t.Fatal(err)
	}
	// URL first checks the bucket exists; the signing step alone needs no store.
	signer, err := s.(*S3).presigner(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := signer.sign("reports/a.mp4", time.Minute, time.Now()); !strings.HasPrefix(got, "https://api.example.kz/videos/reports/a.mp4?") {
		t.Fatalf("link = %s", got)
	}
	for _, bad := range []string{"api.example.kz", "ftp://api.example.kz", "https://api.example.kz/media",
		"https://api.example.kz?x=1", "https://user:pw@api.example.kz", "https://"} {
		if _, err := Open(context.Background(), "s3://k:secret@127.0.0.1:1/videos?secure=false&region=kz-1",
			Options{PublicStoreURL: bad}); err == nil {
			t.Errorf("PublicStoreURL %q accepted", bad)
		}
	}
}
