package app_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
)

// smallDisk mounts a tmpfs of size bytes for the test (root only), so that "disk full" is a real
// ENOSPC from a real filesystem; it skips with the reason otherwise.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if os.Getuid() != 0 {
		t.Skip("mounting a small tmpfs to fill needs root: full-disk test skipped")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): full-disk test skipped", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes to path until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			return
		}
	}
}

func ready(t *testing.T, ta *apptest.App) (int, string) {
	t.Helper()
	resp, err := ta.HTTP.Test(httptest.NewRequest(http.MethodGet, "/readyz", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 12: with the disk full, SQLite writes answered 500 and /readyz stayed 200. SQLite and the disk
// media store now live on a 24 MiB tmpfs that the test fills: uploads and database writes answer 503
// "unavailable", /readyz reports the disk, and both recover once space is freed.
func TestDisk_FullDiskAnswers503AndReadyzReportsIt(t *testing.T) {
	disk := smallDisk(t, "24m")
	ta := apptest.New(t, "", "FL_DATABASE_URL", "sqlite://"+filepath.Join(disk, "db", "forteleasing.db"),
		"FL_MEDIA_URL", "file://"+filepath.Join(disk, "media"), "FL_MIN_FREE_BYTES", "1048576")
	token := ta.Login(apptest.DemoBIN, apptest.Director("full")).Str("access_token")
	if code, body := ready(t, ta); code != 200 {
		t.Fatalf("ready before: %d %s", code, body)
	}

	filler := filepath.Join(disk, "filler")
	fill(t, filler)
	up := ta.Upload(token, apptest.Meta(apptest.TaskRef), apptest.MP4(256<<10), false)
	t.Logf("upload on a full disk: %d %s", up.Code, up.Raw)
	apptest.WantStatus(t, up, 503, "unavailable")
	// A database write: a new device's code (the ledger and the code are rows in SQLite). SQLite may
	// still fit a few pages into its WAL, so write until the disk says no.
	var otp apptest.Answer
	for i := 0; i < 50; i++ {
		otp = ta.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("full-"+string(rune('a'+i%26))+string(rune('a'+i/26))))
		if otp.Code != 200 {
			break
		}
	}
	t.Logf("database write on a full disk: %d %s", otp.Code, otp.Raw)
	apptest.WantStatus(t, otp, 503, "unavailable")
	code, body := ready(t, ta)
	t.Logf("/readyz on a full disk: %d %s", code, body)
	if code != 503 || !strings.Contains(body, `"disk"`) || strings.Contains(body, `"disk":"ok"`) {
		t.Fatalf("/readyz on a full disk: %d %s", code, body)
	}
	if reportStatus(t, ta, apptest.TaskRef) != 1 {
		t.Fatal("the report changed although the upload failed")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, body := ready(t, ta); code != 200 {
		t.Fatalf("ready after freeing space: %d %s", code, body)
	}
	apptest.WantStatus(t, ta.Upload(token, apptest.Meta(apptest.TaskRef), apptest.MP4(256<<10), false), 201, "")
	if reportStatus(t, ta, apptest.TaskRef) != 2 {
		t.Fatal("the upload after freeing space did not move the report")
	}
}

// Issue 12: .tmp-* files left by a crash in the middle of a disk write were never removed (List skips
// dot-files). The sweeper now removes those older than an hour, and only those.
func TestDisk_TempFilesOlderThanAnHourAreSwept(t *testing.T) {
	ta := apptest.New(t, "")
	token := ta.Login(apptest.DemoBIN, apptest.Director("sweep")).Str("access_token")
	apptest.WantStatus(t, ta.Upload(token, apptest.Meta(apptest.TaskRef), apptest.MP4(64<<10), false), 201, "")
	dir := filepath.Join(ta.Dir, "media", "videos")
	old := filepath.Join(dir, ".tmp-crashed")
	fresh := filepath.Join(dir, ".tmp-in-progress")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	twoHoursAgo := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, twoHoursAgo, twoHoursAgo); err != nil {
		t.Fatal(err)
	}
	before := len(ta.Videos())
	if err := ta.Uploads.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("the old temp file is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("a fresh temp file (a write in progress) was removed: %v", err)
	}
	if after := len(ta.Videos()); after != before || after != 1 {
		t.Fatalf("videos before %d, after %d", before, after)
	}
}
