package media

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestLinkSigner_MatchesMinioGo holds linkSigner to minio-go's own presigning, byte for byte, for
// path-style and virtual-host addresses, default and explicit ports, and keys of every allowed byte.
// Signing is local once the region is known, so no store runs here.
func TestLinkSigner_MatchesMinioGo(t *testing.T) {
	const access, secret = "AKIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	cases := []struct {
		name, endpoint, region string
		secure                 bool
		lookup                 minio.BucketLookupType
	}{
		{"path-style, explicit port", "127.0.0.1:9000", "us-east-1", false, minio.BucketLookupPath},
		{"path-style, https default port", "api.example.kz", "kz-1", true, minio.BucketLookupPath},
		{"virtual-host (AWS)", "s3.eu-central-1.amazonaws.com", "eu-central-1", true, minio.BucketLookupAuto},
	}
	keys := []string{"reports/646ba713-d1d7-11ec-9405-005056aaa4ae/7.mp4", "a", "A-Z_a.z/0-9/x_y-z.mp4"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, err := minio.New(c.endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""),
				Secure: c.secure, Region: c.region, BucketLookup: c.lookup})
			if err != nil {
				t.Fatal(err)
			}
			l, err := newLinkSigner(context.Background(), client, "videos", access, secret)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range keys {
				for _, ttl := range []time.Duration{time.Second, time.Hour, 7 * 24 * time.Hour} {
					// minio-go reads the clock itself: sign within the same second as it, or try again.
					for try := 0; ; try++ {
						before := time.Now()
						want, err := client.PresignedGetObject(context.Background(), "videos", key, ttl, nil)
						if err != nil {
							t.Fatal(err)
						}
						got := l.sign(key, ttl, before)
						if time.Now().Unix() != before.Unix() && try < 5 {
							continue
						}
						if got != want.String() {
							t.Fatalf("key %q ttl %s:\n got %s\nwant %s", key, ttl, got, want)
						}
						break
					}
				}
			}
		})
	}
}

// The day's signing key is kept, and a link signed after midnight (UTC) uses the new day's key: the same
// link as a signer that never signed before gives.
func TestLinkSigner_SigningKeyFollowsTheDay(t *testing.T) {
	fresh := func() *linkSigner {
		return &linkSigner{origin: "http://127.0.0.1:9000", host: "127.0.0.1:9000", prefix: "/videos/",
			region: "us-east-1", access: "k", secret: "s"}
	}
	day1 := time.Date(2026, 12, 1, 23, 59, 59, 0, time.UTC)
	day2 := day1.Add(time.Second).In(time.FixedZone("Almaty", 5*3600))
	l := fresh()
	first := l.sign("x.mp4", time.Minute, day1)
	if again := l.sign("x.mp4", time.Minute, day1); again != first {
		t.Fatalf("the same second signed twice differs:\n%s\n%s", first, again)
	}
	if got, want := l.sign("x.mp4", time.Minute, day2), fresh().sign("x.mp4", time.Minute, day2); got != want {
		t.Fatalf("after midnight:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(first, "X-Amz-Credential=k%2F20261201%2Fus-east-1%2Fs3%2Faws4_request") {
		t.Fatalf("scope of %s", first)
	}
}
