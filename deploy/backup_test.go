package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/testenv"
)

// newDatabase creates an empty database of its own on the server of FL_TEST_POSTGRES_URL (a backup is
// of a whole database, not of a schema), dropped at cleanup, and returns its URL.
func newDatabase(t *testing.T, name string) string {
	t.Helper()
	base := os.Getenv("FL_TEST_POSTGRES_URL")
	if base == "" {
		testenv.Missing(t, "FL_TEST_POSTGRES_URL is not set: the backup test needs PostgreSQL (bash .ci/run starts it)")
	}
	admin, err := database.Open(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	db := name + "_" + randomHex(5)
	if _, err := admin.Exec("CREATE DATABASE " + db); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)")
		admin.Close()
	})
	u, _ := url.Parse(base)
	u.Path = "/" + db
	return u.String()
}

// sh runs one of the README's backup commands and fails the test with its output if it fails.
func sh(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// feedItem is what 1C sees of one report, minus the presigned link (which differs per signing).
type feedItem struct {
	RefKey string `json:"ref_key"`
	Status int    `json:"status_code"`
	Upload *struct {
		VideoURL string  `json:"video_url"`
		Size     int64   `json:"size"`
		SHA256   string  `json:"sha256"`
		Lat      float64 `json:"lat"`
		TimeSent string  `json:"time_sent"`
		Uploader struct {
			UserID int64 `json:"user_id"`
		} `json:"uploader"`
	} `json:"upload"`
	History json.RawMessage `json:"history"`
}

func readFeed(t *testing.T, c *client) []feedItem {
	t.Helper()
	var all []feedItem
	after := ""
	for page := 0; page < 20; page++ {
		a := c.must(http.MethodGet, "/1c/reports?limit=100&after="+url.QueryEscape(after), nil, onec()...)
		if a.code != 200 {
			t.Fatalf("feed: %d %s", a.code, a.raw)
		}
		var d struct {
			Data struct {
				Reports    []feedItem `json:"reports"`
				NextCursor string     `json:"next_cursor"`
			} `json:"data"`
		}
		if err := json.Unmarshal(a.raw, &d); err != nil {
			t.Fatal(err)
		}
		all = append(all, d.Data.Reports...)
		if d.Data.NextCursor == "" {
			return all
		}
		after = d.Data.NextCursor
	}
	t.Fatal("the feed did not end in 20 pages")
	return nil
}

// videoSHA256 downloads a presigned link and hashes what arrives.
func videoSHA256(t *testing.T, link string) string {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", link, resp.Status)
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestBackup_RestoredCopyServesTheSameFeedVideosAndSessions runs the README's backup and restore commands
// against a populated deployment (the built binary on its own database and bucket), starts the service on
// the restored copy and compares what 1C and the apps see.
func TestBackup_RestoredCopyServesTheSameFeedVideosAndSessions(t *testing.T) {
	pgDump, pgRestore := needTool(t, "pg_dump"), needTool(t, "pg_restore")
	video := testVideo(t)
	srcDB, dstDB := newDatabase(t, "fl_backup_src"), newDatabase(t, "fl_backup_dst")
	srcBucket, dstBucket := testBucket(t), testBucket(t)
	outbox := t.TempDir()

	// The deployment in use: demo data, two sessions, three uploads (one checked against a second video).
	port := freePort(t)
	env := baseEnv(srcDB, srcBucket, fmt.Sprintf("http://127.0.0.1:%d", port), outbox)
	live := newInstance(t, "live", env)
	live.start()
	live.ready()
	demo := newInstance(t, "demo", maps.Clone(env))
	demo.run("demo")
	if err := demo.wait(time.Minute); err != nil {
		t.Fatalf("forteleasing demo: %v\n%s", err, demo.logTail())
	}
	c := &client{t: t, base: live.url(), outbox: outbox, http: &http.Client{Timeout: 30 * time.Second}}
	dir, _ := c.login(demoBIN, director("backup-dir-1"))
	emp, _ := c.login(demoBIN, employee("backup-emp-1", "87015550202", "Айгерим"))
	refs := c.newTasks("backup", 3)
	second := append(slices.Clone(video[:len(video)-16]), []byte("another-ending!!")...)
	for i, ref := range refs {
		v, token := video, dir.access
		if i == 2 {
			v, token = second, emp.access
		}
		if a, err := c.upload(token, ref, "k-"+ref, v); err != nil || a.code != 201 {
			t.Fatalf("upload %s: %v %d %s", ref, err, a.code, a.raw)
		}
	}
	before := readFeed(t, c)

	// Backup, as README "Backup and restore" says, taken while the service runs: the database first,
	// then the videos (an object newer than the dump is only an orphan the sweeper removes).
	backup := t.TempDir()
	sh(t, nil, pgDump, "--format=custom", "--file="+filepath.Join(backup, "forteleasing.dump"), srcDB)
	sh(t, nil, serviceBinary(t), "mirror", srcBucket, "file://"+filepath.Join(backup, "media"))

	// Restore into a new database and a new bucket.
	sh(t, nil, pgRestore, "--no-owner", "--no-privileges", "--exit-on-error", "--dbname="+dstDB, filepath.Join(backup, "forteleasing.dump"))
	sh(t, nil, serviceBinary(t), "mirror", "file://"+filepath.Join(backup, "media"), dstBucket)

	port2 := freePort(t)
	env2 := baseEnv(dstDB, dstBucket, fmt.Sprintf("http://127.0.0.1:%d", port2), outbox)
	copyIn := newInstance(t, "restored", env2)
	copyIn.start()
	copyIn.ready()
	rc := &client{t: t, base: copyIn.url(), outbox: outbox, http: &http.Client{Timeout: 30 * time.Second}}

	// 1C sees the same feed: every report, status, history and upload, with videos of the same SHA-256.
	after := readFeed(t, rc)
	if len(after) != len(before) || len(before) == 0 {
		t.Fatalf("feed has %d reports on the copy, %d before", len(after), len(before))
	}
	// Matched by ref_key, not position: the feed is ordered by change, and background jobs (the
	// authenticity re-evaluation after a VIN check) may move an item after the dump.
	byRef := make(map[string]int, len(after))
	for i, a := range after {
		byRef[a.RefKey] = i
	}
	uploads := 0
	for i := range before {
		j, ok := byRef[before[i].RefKey]
		if !ok {
			t.Errorf("feed item %s is missing on the copy", before[i].RefKey)
			continue
		}
		b, a := before[i], after[j]
		if b.RefKey != a.RefKey || b.Status != a.Status || string(b.History) != string(a.History) || (b.Upload == nil) != (a.Upload == nil) {
			t.Errorf("feed item %d: before %+v, after %+v", i, b, a)
			continue
		}
		if b.Upload == nil {
			continue
		}
		uploads++
		bu, au := *b.Upload, *a.Upload
		if bu.SHA256 != au.SHA256 || bu.Size != au.Size || bu.Lat != au.Lat || bu.TimeSent != au.TimeSent || bu.Uploader != au.Uploader {
			t.Errorf("upload of %s: before %+v, after %+v", b.RefKey, bu, au)
		}
		if u, _ := url.Parse(dstBucket); !strings.Contains(au.VideoURL, u.Path+"/") {
			t.Errorf("the copy links %s, not into its own bucket", au.VideoURL)
		}
		if got := videoSHA256(t, au.VideoURL); got != bu.SHA256 {
			t.Errorf("video of %s on the copy has SHA-256 %s, want %s", b.RefKey, got, bu.SHA256)
		}
	}
	if uploads != len(refs) {
		t.Errorf("%d uploads in the restored feed, want %d", uploads, len(refs))
	}

	// The apps' sessions survived: tokens issued before the backup work on the copy, and rotate there.
	for who, tk := range map[string]tokens{"director": dir, "employee": emp} {
		if a := rc.must(http.MethodGet, "/reports/general/filter", nil, bearer(tk.access)...); a.code != 200 {
			t.Errorf("the %s's access token on the copy: %d %s", who, a.code, a.raw)
		}
		r := rc.must(http.MethodPost, "/refresh_token", nil, bearer(tk.refresh)...)
		tokensOf(t, r)
	}
	// And the copy takes new work: the uploads' idempotency keys were restored with them.
	if a, err := rc.upload(dir.access, refs[0], "k-"+refs[0], video); err != nil || a.code != 201 {
		t.Errorf("a retried upload on the copy: %v %d %s", err, a.code, a.raw)
	}
	fresh := rc.newTasks("restored", 1)
	if a, err := rc.upload(dir.access, fresh[0], "k-"+fresh[0], video); err != nil || a.code != 201 {
		t.Errorf("a new upload on the copy: %v %d %s", err, a.code, a.raw)
	}
}
