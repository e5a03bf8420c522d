package onec_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/testenv"
)

// TestReadme_OneCExamplesWorkAsWritten runs the curl examples of README's "Bodies as 1C sends them"
// section, as written, against the wired app with the demo data (what `serve --demo` serves), and checks
// every answer the README shows (the "# {...}" lines; "..." stands for the parts it leaves out).
func TestReadme_OneCExamplesWorkAsWritten(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "iconv"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (.ci/run installs curl): README example test skipped", tool)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Bodies as 1C sends them")
	if !ok {
		t.Fatal("README has no section \"Bodies as 1C sends them\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, script, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatal("the section has no sh example")
	}
	script, _, _ = strings.Cut(script, "```")

	// The wired app with the demo data loaded exactly as `serve --demo` loads it, and the development
	// credentials the README uses, on a real port.
	a := apptest.New(t, "", "FL_ONEC_USER", "admin_1C", "FL_ONEC_PASSWORD", "pass_1C")
	addr := strings.TrimPrefix(a.Listen(), "http://")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.ReplaceAll(script, "localhost:8080", addr))
	run.Dir = dir
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's commands failed: %v\n%s", err, out)
	}
	got := string(out)
	checked := 0
	for _, line := range strings.Split(script, "\n") {
		want, ok := strings.CutPrefix(strings.TrimSpace(line), "# {")
		if !ok {
			continue
		}
		checked++
		rest := got
		for _, piece := range strings.Split("{"+want, "...") {
			i := strings.Index(rest, piece)
			if i < 0 {
				t.Errorf("the README shows %s\nbut the answers were:\n%s", line, got)
				break
			}
			rest = rest[i+len(piece):]
		}
		// Answers come in the README's order: look for the next one after this one.
		if i := strings.Index(got, strings.Split("{"+want, "...")[0]); i >= 0 {
			got = got[i+1:]
		}
	}
	if checked < 5 {
		t.Fatalf("only %d answers shown in the README's examples", checked)
	}
}
