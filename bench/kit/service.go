package kit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Credentials the benchmarks give the service; nothing outside this machine ever sees them.
const (
	OnecUser  = "bench-1c"
	OnecPass  = "bench-1c-password"
	JWTSecret = "bench-secret-bench-secret-bench-secret"
)

// OnecBasic is the Authorization header of the 1C client the service is configured with.
func OnecBasic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(OnecUser+":"+OnecPass))
}

// Service is one instance of the service under test: its binary serving on a free port of 127.0.0.1 and
// its admin address (metrics, pprof) on another, with its data directory and e-mail outbox under Dir.
type Service struct {
	Base  string // http://127.0.0.1:PORT
	Admin string // http://127.0.0.1:PORT of the admin address
	Dir   string
	Proc  *Proc // the running process; Start replaces it

	bin  string
	env  []string
	wait time.Duration
}

// StartService starts bin serve with the bench's configuration — dbURL ("sqlite://…" or "postgres://…"),
// the bucket of mediaURL, the bench's JWT secret and 1C credentials, 2-hour access tokens, e-mails as files
// in Dir/outbox, one user's uploads 64 at once — then env, whose values win over those, and waits up to
// wait for it to answer.
func StartService(ctx context.Context, bin, dir, dbURL, mediaURL string, wait time.Duration, env ...string) (*Service, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr, adminAddr := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", adminPort)
	s := &Service{Base: "http://" + addr, Admin: "http://" + adminAddr, Dir: dir, bin: bin, wait: wait}
	s.env = append([]string{
		"FL_ADDR=" + addr, "FL_ADMIN_ADDR=" + adminAddr, "FL_PUBLIC_URL=" + s.Base, "FL_DATA_DIR=" + filepath.Join(dir, "data"),
		"FL_DATABASE_URL=" + dbURL, "FL_MEDIA_URL=" + mediaURL, "FL_MAIL_URL=file://" + filepath.Join(dir, "outbox"),
		"FL_JWT_SECRET=" + JWTSecret, "FL_ONEC_USER=" + OnecUser, "FL_ONEC_PASSWORD=" + OnecPass,
		"FL_ACCESS_TTL=2h", "FL_LOG_LEVEL=warn",
		// The uploads run as one user, -uploads at once: the per-user cap (2) would refuse most of them.
		"FL_UPLOAD_CONCURRENCY_PER_USER=64",
	}, env...)
	return s, s.Start(ctx)
}

// Start starts the service (again, after Stop) with the same configuration and waits for it to answer.
func (s *Service) Start(ctx context.Context) error {
	var err error
	if s.Proc, err = StartProc(s.bin, []string{"serve"}, s.env, s.LogPath()); err != nil {
		return err
	}
	if err := s.Proc.WaitHTTP(ctx, s.Base+"/", s.wait); err != nil {
		_ = s.Proc.Stop()
		return err
	}
	return nil
}

// Stop stops the service (see Proc.Stop).
func (s *Service) Stop() error { return s.Proc.Stop() }

// PID is the running process's.
func (s *Service) PID() int { return s.Proc.PID() }

// LogPath is the file the service writes its output to.
func (s *Service) LogPath() string { return filepath.Join(s.Dir, "service.log") }

var otpLine = regexp.MustCompile(`OTP: (\d+)`)

// Login logs device in as the director of company biin — the OTP request, the code from the e-mail the
// service writes to its outbox, POST /auth — and returns the refresh and access tokens.
func (s *Service) Login(ctx context.Context, client *http.Client, biin, device string) (refresh, access string, err error) {
	outbox := filepath.Join(s.Dir, "outbox")
	before := map[string]bool{}
	old, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	for _, p := range old {
		before[p] = true
	}
	body := map[string]any{"role_id": 1, "uuid": device, "FCM": "fcm-" + device}
	if err := DoJSON(ctx, client, http.MethodPost, s.Base+"/biin/"+biin, body, "", nil); err != nil {
		return "", "", err
	}
	var mail string
	for deadline := time.Now().Add(15 * time.Second); mail == "" && time.Now().Before(deadline); {
		files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
		for _, p := range files {
			if !before[p] {
				mail = p
			}
		}
		if mail == "" {
			time.Sleep(20 * time.Millisecond) // polling the outbox directory, not synchronising goroutines
		}
	}
	if mail == "" {
		return "", "", errors.New("login: no OTP e-mail within 15 s")
	}
	var m [][]byte
	for range 50 { // the file may still be being written
		b, _ := os.ReadFile(mail)
		if m = otpLine.FindSubmatch(b); m != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m == nil {
		return "", "", fmt.Errorf("login: no OTP in %s", mail)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(biin+"-"+device+":"+string(m[1])))
	var ans struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := DoJSON(ctx, client, http.MethodPost, s.Base+"/auth", nil, basic, &ans); err != nil {
		return "", "", err
	}
	if ans.RefreshToken == "" || ans.AccessToken == "" {
		return "", "", errors.New("login: no tokens in the answer")
	}
	return ans.RefreshToken, ans.AccessToken, nil
}

// RepoRoot is the directory of the service's module (github.com/forteleasing/inspections) at or above the
// working directory.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/forteleasing/inspections\n") {
			return d, nil
		}
	}
	return "", fmt.Errorf("run inside the repository (no go.mod of github.com/forteleasing/inspections above %s)", wd)
}

// BuildService compiles root's ./cmd/forteleasing into bin, with flags added to go build.
func BuildService(ctx context.Context, root, bin string, flags ...string) error {
	args := append(append([]string{"build", "-o", bin}, flags...), "./cmd/forteleasing")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(args[3:], " "), err, out)
	}
	return nil
}

// WithPath returns rawURL with its path replaced: another database or bucket on the same server.
func WithPath(rawURL, path string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("bad URL (check -pg / -s3)")
	}
	u.Path = path
	return u.String(), nil
}

// FreshDatabase drops and creates database name on the PostgreSQL server of adminURL and returns its URL.
// It opens the server with the database/sql driver "pgx", which the program registers by importing
// github.com/jackc/pgx/v5/stdlib (this module has no dependencies).
func FreshDatabase(ctx context.Context, adminURL, name string) (string, error) {
	if err := DropDatabase(ctx, adminURL, name); err != nil {
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
	return WithPath(adminURL, "/"+name)
}

// DropDatabase drops database name on the server of adminURL, if it exists, ending its connections.
func DropDatabase(ctx context.Context, adminURL, name string) error {
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
