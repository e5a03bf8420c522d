package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// benchDevice is the device the scenarios that log in once use.
const benchDevice = "bench-device-000000001"

// rig is one scenario's service under test: its binary, its own database and bucket, its working directory.
type rig struct {
	o      options
	dir    string
	dbURL  string // the bench database, fresh for this run
	s3URL  string // the bench bucket
	svc    *kit.Service
	mb     *mailbox // the SMTP server the OTP codes go to, when the scenario measures logins (setupMailed)
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
	if r.dbURL, err = kit.FreshDatabase(ctx, o.pgURL, o.dbName); err != nil {
		r.close()
		return nil, err
	}
	if r.s3URL, err = kit.WithPath(o.s3URL, "/"+o.bucket); err != nil {
		r.close()
		return nil, err
	}
	if err := emptyBucket(ctx, r.s3URL, false); err != nil {
		r.close()
		return nil, err
	}
	// OTP limits for the logins a scenario makes; the suite and the soak lift them further and hostile
	// lowers the per-address one (extraEnv comes later and wins).
	env := append([]string{"FL_OTP_COOLDOWN=1ms", "FL_OTP_HOURLY_PER_BIN=1000", "FL_OTP_HOURLY_PER_IP=1000",
		"FL_OTP_DAILY_FAILURES=1000"}, extraEnv...)
	svc, err := kit.StartService(ctx, bin, dir, r.dbURL, r.s3URL, time.Minute, env...)
	if err != nil {
		r.close()
		return nil, err
	}
	r.svc = svc
	return r, nil
}

// build compiles ./cmd/forteleasing of the module the bench belongs to. When that fails and -overlay is set,
// it builds again with the overlay, leaving out the stubs of packages that exist by now (a stub beside the
// real package would declare its names twice).
func (r *rig) build(ctx context.Context, bin string) error {
	root, err := kit.RepoRoot()
	if err != nil {
		return err
	}
	err = kit.BuildService(ctx, root, bin)
	if err == nil {
		return nil
	}
	if r.o.overlay == "" {
		return fmt.Errorf("%w(a package another engineer is writing may be missing: try -overlay /tmp/overlay.json)", err)
	}
	overlay, stubbed, err := missingOnly(r.o.overlay, filepath.Join(r.dir, "overlay.json"))
	if err != nil {
		return err
	}
	if err := kit.BuildService(ctx, root, bin, "-overlay", overlay); err != nil {
		return err
	}
	kit.Logf("built the service with stubs from %s for: %s", r.o.overlay, strings.Join(stubbed, ", "))
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
			fmt.Fprintf(os.Stderr, "bench: service: %v (log: %s)\n", err, r.svc.LogPath())
		}
	}
	if r.mb != nil {
		r.mb.close()
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
		if err := kit.DropDatabase(ctx, r.o.pgURL, r.o.dbName); err != nil {
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
	return kit.DoJSON(ctx, r.client, method, r.svc.Base+path, body, auth, out)
}

// onec sends one 1C upsert batch.
func (r *rig) onec(ctx context.Context, path string, items any) error {
	return r.call(ctx, http.MethodPut, path, items, kit.OnecBasic(), nil)
}

// login logs in as the company's director and returns an access token.
func (r *rig) login(ctx context.Context, biin string) (string, error) {
	_, access, err := r.svc.Login(ctx, r.client, biin, benchDevice)
	return access, err
}

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
