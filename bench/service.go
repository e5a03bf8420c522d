package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Credentials the bench gives the service; nothing outside this machine ever sees them.
const (
	onecUser    = "bench-1c"
	onecPass    = "bench-1c-password"
	jwtSecret   = "bench-secret-bench-secret-bench-secret"
	benchDevice = "bench-device-000000001"
)

// rig is one scenario's service under test: its binary, its own database and bucket, its working directory.
type rig struct {
	o      options
	dir    string
	dbURL  string // the bench database, fresh for this run
	s3URL  string // the bench bucket
	svc    *proc
	base   string // http://127.0.0.1:PORT of the service
	admin  string // http://127.0.0.1:PORT of its admin address (metrics, pprof)
	client *http.Client
	closed bool
}

// setup builds the service, gives it a fresh database and bucket and starts it.
func setup(ctx context.Context, o options, extraEnv ...string) (*rig, error) {
	dir, err := os.MkdirTemp("", "fl-bench-")
	if err != nil {
		return nil, err
	}
	r := &rig{o: o, dir: dir, client: &http.Client{Timeout: time.Minute}}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "forteleasing")
		if err := r.build(ctx, bin); err != nil {
			r.close()
			return nil, err
		}
	}
	if r.dbURL, err = freshDatabase(ctx, o.pgURL, o.dbName); err != nil {
		r.close()
		return nil, err
	}
	if r.s3URL, err = withPath(o.s3URL, "/"+o.bucket); err != nil {
		r.close()
		return nil, err
	}
	if err := emptyBucket(ctx, r.s3URL, false); err != nil {
		r.close()
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		r.close()
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	r.base = "http://" + addr
	adminPort, err := freePort()
	if err != nil {
		r.close()
		return nil, err
	}
	r.admin = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	env := append([]string{
		"FL_ADDR=" + addr, "FL_ADMIN_ADDR=" + strings.TrimPrefix(r.admin, "http://"), "FL_PUBLIC_URL=" + r.base, "FL_DATA_DIR=" + filepath.Join(dir, "data"),
		"FL_DATABASE_URL=" + r.dbURL, "FL_MEDIA_URL=" + r.s3URL, "FL_MAIL_URL=file://" + filepath.Join(dir, "outbox"),
		"FL_JWT_SECRET=" + jwtSecret, "FL_ONEC_USER=" + onecUser, "FL_ONEC_PASSWORD=" + onecPass,
		"FL_ACCESS_TTL=2h", "FL_OTP_COOLDOWN=1ms", "FL_OTP_HOURLY_PER_BIN=1000", "FL_OTP_HOURLY_PER_IP=1000",
		"FL_OTP_DAILY_FAILURES=1000", "FL_LOG_LEVEL=warn",
		// The uploads run as one user, -uploads at once: the per-user cap (2) would refuse most of them.
		"FL_UPLOAD_CONCURRENCY_PER_USER=64",
	}, extraEnv...)
	r.svc, err = startProc(bin, []string{"serve"}, env, filepath.Join(dir, "service.log"))
	if err != nil {
		r.close()
		return nil, err
	}
	if err := r.svc.WaitHTTP(ctx, r.base+"/", time.Minute); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// build compiles ./cmd/forteleasing of the module the bench belongs to. When that fails and -overlay is set,
// it builds again with the overlay, leaving out the stubs of packages that exist by now (a stub beside the
// real package would declare its names twice).
func (r *rig) build(ctx context.Context, bin string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		return fmt.Errorf("find the module root (run from inside the repository): %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	goBuild := func(extra ...string) ([]byte, error) {
		args := append([]string{"build", "-o", bin}, extra...)
		cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/forteleasing")...)
		cmd.Dir = root
		return cmd.CombinedOutput()
	}
	out, err := goBuild()
	if err == nil {
		return nil
	}
	if r.o.overlay == "" {
		return fmt.Errorf("go build ./cmd/forteleasing: %v\n%s(a package another engineer is writing may be missing: try -overlay /tmp/overlay.json)", err, out)
	}
	overlay, stubbed, err := missingOnly(r.o.overlay, filepath.Join(r.dir, "overlay.json"))
	if err != nil {
		return err
	}
	if out, err := goBuild("-overlay", overlay); err != nil {
		return fmt.Errorf("go build -overlay ./cmd/forteleasing: %v\n%s", err, out)
	}
	logf("built the service with stubs from %s for: %s", r.o.overlay, strings.Join(stubbed, ", "))
	return nil
}

// missingOnly copies a go build overlay file to path, keeping only the files whose package directory
// holds no other .go file yet, and names the directories it keeps stubs for.
func missingOnly(src, path string) (string, []string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", nil, err
	}
	var ov struct{ Replace map[string]string }
	if err := json.Unmarshal(b, &ov); err != nil {
		return "", nil, fmt.Errorf("overlay %s: %w", src, err)
	}
	keep := map[string]string{}
	var stubbed []string
	for target, stub := range ov.Replace {
		dir := filepath.Dir(target)
		real, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(real) == 0 || (len(real) == 1 && real[0] == target) {
			keep[target] = stub
			stubbed = append(stubbed, dir)
		}
	}
	b, err = json.Marshal(map[string]any{"Replace": keep})
	if err != nil {
		return "", nil, err
	}
	return path, stubbed, os.WriteFile(path, b, 0o600)
}

// close stops the service and, unless -keep, drops the database, the bucket and the working directory.
func (r *rig) close() {
	if r.closed {
		return
	}
	r.closed = true
	if r.svc != nil {
		if err := r.svc.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: service: %v (log: %s)\n", err, filepath.Join(r.dir, "service.log"))
		}
	}
	if r.o.keep {
		fmt.Fprintf(os.Stderr, "bench: -keep: left %s", r.dir)
		if r.dbURL != "" {
			fmt.Fprintf(os.Stderr, ", database %s and bucket %s", r.o.dbName, r.o.bucket)
		}
		fmt.Fprintln(os.Stderr)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if r.dbURL != "" {
		if err := dropDatabase(ctx, r.o.pgURL, r.o.dbName); err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop database: %v\n", err)
		}
	}
	if r.s3URL != "" {
		if err := emptyBucket(ctx, r.s3URL, true); err != nil {
			fmt.Fprintf(os.Stderr, "bench: remove bucket: %v\n", err)
		}
	}
	os.RemoveAll(r.dir)
}

// call sends one request to the service and decodes the envelope's data into out (when not nil).
func (r *rig) call(ctx context.Context, method, path string, body any, auth string, out any) error {
	return doJSON(ctx, r.client, method, r.base+path, body, auth, out)
}

// doJSON sends body as JSON (when not nil) and decodes the envelope's data into out (when not nil);
// anything but a 2xx is an error.
func doJSON(ctx context.Context, client *http.Client, method, url string, body any, auth string, out any) error {
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
		return &statusError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s: %d %.500s", method, url, resp.StatusCode, raw)}
	}
	if out == nil {
		return nil
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	return json.Unmarshal(env.Data, out)
}

// statusError is an answer that was not the expected 2xx; the soak counts outcomes by its status.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// httpStatusError builds a statusError for what to name the request by.
func httpStatusError(status int, what string, body []byte) error {
	return &statusError{status: status, msg: fmt.Sprintf("%s: status %d %.300s", what, status, body)}
}

// onec sends one 1C upsert batch.
func (r *rig) onec(ctx context.Context, path string, items any) error {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(onecUser+":"+onecPass))
	return r.call(ctx, http.MethodPut, path, items, basic, nil)
}

var otpLine = regexp.MustCompile(`OTP: (\d+)`)

// login asks for an OTP as the company's director, reads it from the newest e-mail and returns an access token.
func (r *rig) login(ctx context.Context, biin string) (string, error) {
	body := map[string]any{"role_id": 1, "uuid": benchDevice, "FCM": "bench-fcm-token"}
	if err := r.call(ctx, http.MethodPost, "/biin/"+biin, body, "", nil); err != nil {
		return "", err
	}
	otp, err := newestOTP(filepath.Join(r.dir, "outbox"))
	if err != nil {
		return "", err
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(biin+"-"+benchDevice+":"+otp))
	var ans struct {
		AccessToken string `json:"access_token"`
	}
	if err := r.call(ctx, http.MethodPost, "/auth", nil, basic, &ans); err != nil {
		return "", err
	}
	if ans.AccessToken == "" {
		return "", errors.New("login: no access_token in the answer")
	}
	return ans.AccessToken, nil
}

func newestOTP(outbox string) (string, error) {
	files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	var newest string
	var newestTime time.Time
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && (newest == "" || !st.ModTime().Before(newestTime)) {
			newest, newestTime = f, st.ModTime()
		}
	}
	if newest == "" {
		return "", fmt.Errorf("no e-mail in %s", outbox)
	}
	b, err := os.ReadFile(newest)
	if err != nil {
		return "", err
	}
	m := otpLine.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("no OTP line in %s", newest)
	}
	return string(m[1]), nil
}

// withPath returns rawURL with its path replaced, e.g. another database or bucket on the same server.
func withPath(rawURL, path string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("bad URL (check -pg / -s3)")
	}
	u.Path = path
	return u.String(), nil
}

// freshDatabase drops and creates database name on the server of adminURL and returns its URL.
func freshDatabase(ctx context.Context, adminURL, name string) (string, error) {
	if err := dropDatabase(ctx, adminURL, name); err != nil {
		return "", err
	}
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+quoteIdent(name)); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return withPath(adminURL, "/"+name)
}

func dropDatabase(ctx context.Context, adminURL, name string) error {
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(name)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// minioFor opens a minio-go client from an s3://KEY:SECRET@HOST:PORT/BUCKET?secure=false URL.
func minioFor(s3URL string) (*minio.Client, string, error) {
	u, err := url.Parse(s3URL)
	if err != nil || u.Scheme != "s3" || u.User == nil {
		return nil, "", errors.New("bad s3 URL (want s3://KEY:SECRET@HOST:PORT/BUCKET?secure=false)")
	}
	secret, _ := u.User.Password()
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(u.User.Username(), secret, ""),
		Secure: u.Query().Get("secure") == "true",
		Region: u.Query().Get("region"),
	})
	return c, strings.Trim(u.Path, "/"), err
}

// emptyBucket removes every object of the bucket and, when remove is set, the bucket itself.
func emptyBucket(ctx context.Context, s3URL string, remove bool) error {
	c, bucket, err := minioFor(s3URL)
	if err != nil {
		return err
	}
	exists, err := c.BucketExists(ctx, bucket)
	if err != nil || !exists {
		return err
	}
	objects := c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range c.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		if e.Err != nil {
			return e.Err
		}
	}
	if remove {
		return c.RemoveBucket(ctx, bucket)
	}
	return nil
}

// profile fetches a CPU profile of the service over the next d (after a delay) into path, in the background.
func (r *rig) profile(ctx context.Context, delay, d time.Duration, path string) {
	go func() {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", r.admin, max(1, int(d.Seconds())))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			logf("pprof: %v", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			logf("pprof: %v", err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
}

// benchDB opens the bench database with the service's pool size (internal/database), for SQL baselines.
func benchDB(url string) (*sql.DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	return db, nil
}
