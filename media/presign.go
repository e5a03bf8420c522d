package media

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// linkSigner presigns GET links exactly as minio-go's signer.PreSignV4 does (AWS Signature V4, query
// form, only the host header signed), for one bucket at one address. minio-go derives the signing key
// (four HMACs), parses and re-encodes the query and validates the bucket name by regexp on every link,
// which was a third of a 1C feed page's CPU with ~90 links a page; this keeps the day's signing key and
// builds the canonical request directly. TestLinkSigner_MatchesMinioGo holds it to minio-go's output
// byte for byte.
type linkSigner struct {
	origin string // scheme://host, as minio-go addresses the bucket
	host   string // the signed Host header
	prefix string // the object's path before its key: "/BUCKET/" path-style, "/" virtual-host style
	region string
	access string
	secret string

	mu  sync.Mutex
	day string // yyyymmdd of key
	key []byte
}

// newLinkSigner learns the address, path style and region from one link minio-go signs, so that both
// agree on them by construction.
func newLinkSigner(ctx context.Context, c *minio.Client, bucket, access, secret string) (*linkSigner, error) {
	const probe = "probe"
	u, err := c.PresignedGetObject(ctx, bucket, probe, time.Minute, nil)
	if err != nil {
		return nil, err
	}
	prefix, ok := strings.CutSuffix(u.EscapedPath(), probe)
	if !ok {
		return nil, fmt.Errorf("media: presigned link %q does not end in its key", u.Redacted())
	}
	// X-Amz-Credential is ACCESS/yyyymmdd/REGION/s3/aws4_request.
	scope := strings.Split(u.Query().Get("X-Amz-Credential"), "/")
	if len(scope) != 5 {
		return nil, fmt.Errorf("media: presigned link has an unexpected credential scope %q", scope)
	}
	return &linkSigner{origin: u.Scheme + "://" + u.Host, host: u.Host, prefix: prefix, region: scope[2],
		access: access, secret: secret}, nil
}

// sign returns the link to key (already checked by checkKey: its bytes need no escaping) valid for ttl
// from now.
func (l *linkSigner) sign(key string, ttl time.Duration, now time.Time) string {
	now = now.UTC()
	day, stamp := now.Format("20060102"), now.Format("20060102T150405Z")
	scope := day + "/" + l.region + "/s3/aws4_request"
	// The canonical query, keys in byte order, values query-escaped ("/" of the scope becomes %2F).
	query := "X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=" + url.QueryEscape(l.access+"/"+scope) +
		"&X-Amz-Date=" + stamp +
		"&X-Amz-Expires=" + strconv.FormatInt(int64(ttl/time.Second), 10) +
		"&X-Amz-SignedHeaders=host"
	path := l.prefix + key
	canonical := sha256.Sum256([]byte("GET\n" + path + "\n" + query + "\nhost:" + l.host + "\n\nhost\nUNSIGNED-PAYLOAD"))
	toSign := "AWS4-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(canonical[:])
	mac := hmac.New(sha256.New, l.signingKey(day))
	mac.Write([]byte(toSign))
	return l.origin + path + "?" + query + "&X-Amz-Signature=" + hex.EncodeToString(mac.Sum(nil))
}

func (l *linkSigner) signingKey(day string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.day != day {
		k := []byte("AWS4" + l.secret)
		for _, part := range []string{day, l.region, "s3", "aws4_request"} {
			mac := hmac.New(sha256.New, k)
			mac.Write([]byte(part))
			k = mac.Sum(nil)
		}
		l.day, l.key = day, k
	}
	return l.key
}
