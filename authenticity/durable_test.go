package authenticity_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/app"
	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/deptest"
	"github.com/forteleasing/inspections/media/mp4meta/mp4test"
)

// jobs counts River's jobs of a kind (and, for the analysis, a trigger) in the given states.
func jobs(t *testing.T, ta *apptest.App, kind, trigger string, states ...string) int {
	t.Helper()
	q := `SELECT COUNT(*) FROM river_job WHERE kind = $1`
	args := []any{kind}
	if trigger != "" {
		if ta.DB.Dialect == database.Postgres {
			q += ` AND args->>'trigger' = $2`
		} else {
			q += ` AND json_extract(args, '$.trigger') = $2`
		}
		args = append(args, trigger)
	}
	if len(states) > 0 {
		q += ` AND state IN ('` + strings.Join(states, "', '") + `')`
	}
	return apptest.Count(t, ta, q, args...)
}

// logJobsOnFailure logs River's jobs when the test fails.
func logJobsOnFailure(t *testing.T, ta *apptest.App) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var rows []struct {
			Kind    string `db:"kind"`
			State   string `db:"state"`
			Attempt int    `db:"attempt"`
			Errors  string `db:"errors"`
		}
		if err := ta.DB.Select(&rows, `SELECT kind, state, attempt, COALESCE(CAST(errors AS TEXT), '') AS errors FROM river_job ORDER BY id`); err != nil {
			t.Logf("jobs: %v", err)
		}
		for _, r := range rows {
			t.Logf("job %s %s attempt %d: %q", r.Kind, r.State, r.Attempt, r.Errors)
		}
	})
}

// failedTries reports whether a job of kind has failed a try and is to be tried again.
func failedTries(t *testing.T, ta *apptest.App, kind string) bool {
	t.Helper()
	return apptest.Count(t, ta, `SELECT COUNT(*) FROM river_job WHERE kind = $1 AND errors IS NOT NULL
		AND state IN ('available', 'retryable', 'running', 'scheduled')`, kind) > 0
}

// failReevaluationInserts makes the database refuse to queue an analysis re-evaluation (trigger
// vin_check): a fault inside the transaction that stores the VIN check, after the result is written,
// before the commit. It returns the statement that lifts it.
func failReevaluationInserts(t *testing.T, ta *apptest.App) (lift string) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER fail_reevaluation BEFORE INSERT ON river_job
		WHEN NEW.kind = 'authenticity' AND json_extract(NEW.args, '$.trigger') = 'vin_check'
		BEGIN SELECT RAISE(ABORT, 'injected fault: the re-evaluation cannot be queued'); END`}
	lift = `DROP TRIGGER fail_reevaluation`
	if ta.DB.Dialect == database.Postgres {
		stmts = []string{`CREATE FUNCTION fail_reevaluation() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.kind = 'authenticity' AND NEW.args->>'trigger' = 'vin_check' THEN
					RAISE EXCEPTION 'injected fault: the re-evaluation cannot be queued';
				END IF;
				RETURN NEW;
			END $$`,
			`CREATE TRIGGER fail_reevaluation BEFORE INSERT ON river_job FOR EACH ROW EXECUTE FUNCTION fail_reevaluation()`}
		lift = `DROP TRIGGER fail_reevaluation ON river_job`
	}
	for _, q := range stmts {
		if _, err := ta.DB.Exec(q); err != nil {
			t.Fatalf("install the fault: %v", err)
		}
	}
	return lift
}

// TestAuthenticity_VINResultAndReevaluationCommitTogether: the VIN check's result and the analysis's
// re-evaluation job are written in one transaction. While queueing the re-evaluation fails, the
// result is rolled back with it (the feed still shows the check pending, no re-evaluation is queued)
// and River retries the check; once the fault is gone both commit, and the feed shows vin_mismatch.
// At every moment a stored result has its re-evaluation.
func TestAuthenticity_VINResultAndReevaluationCommitTogether(t *testing.T) {
	mp4test.RequireFFmpeg(t)
	okpock := fakeOkpock(t, map[string]string{"444DDD02": "XTA21099000000999"})
	video := mp4test.Make(t, mp4test.Spec{Style: mp4test.Android, Seconds: 6, Recorded: time.Now().Add(-time.Hour), Location: &point, Clean: true})
	apptest.EachDatabase(t, func(t *testing.T, dbURL string) {
		// Two seconds between tries: the test looks at the rolled-back state and lifts the fault well
		// before the check's eight tries are spent.
		ta := apptest.NewWith(t, dbURL, app.Deps{VINRetry: func(int) time.Duration { return 2 * time.Second }},
			"FL_OKPOCK_URL", okpock.URL, "FL_OKPOCK_USER", "fl", "FL_OKPOCK_PASSWORD", "okpock-pass",
			"FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION", "0.5")
		lift := failReevaluationInserts(t, ta)
		authTask(t, ta, "444DDD02", "XTA21099000000004", "auth-vintx")
		upload(t, ta, ta.Token(apptest.DemoBIN, apptest.Director("vintx")), sendFields("auth-vintx", time.Now(), ""), video)

		vinStatus := func() string {
			var s string
			if err := ta.DB.Get(&s, `SELECT c.status FROM vin_checks c JOIN reports r ON r.id = c.report_id WHERE r.ref_key = 'auth-vintx'`); err != nil {
				t.Fatal(err)
			}
			return s
		}
		// A stored result always has its re-evaluation: checked on every look, fault or not.
		consistent := func() {
			t.Helper()
			if st := vinStatus(); st != "pending" && jobs(t, ta, "authenticity", "vin_check") == 0 {
				t.Fatalf("the VIN check is stored (%s) without its re-evaluation", st)
			}
		}

		logJobsOnFailure(t, ta)
		apptest.Eventually(t, func() bool {
			consistent()
			return failedTries(t, ta, "vin_check") && jobs(t, ta, "authenticity", "upload", "completed") == 1
		}, "a try of the VIN check failed on the fault, and the upload's analysis ran")
		if st := vinStatus(); st != "pending" {
			t.Fatalf("the VIN check's result was kept (%s) though its transaction failed", st)
		}
		if n := jobs(t, ta, "authenticity", "vin_check"); n != 0 {
			t.Fatalf("%d re-evaluations queued by a rolled-back VIN check", n)
		}
		for _, it := range feed(t, ta) {
			if it["ref_key"] == "auth-vintx" {
				if v := it["vin_check"].(map[string]any); v["status"] != "pending" {
					t.Fatalf("the feed shows the rolled-back VIN check: %v", v)
				}
				if got := reasonCodes(it); slices.Contains(got, "vin_mismatch") {
					t.Fatalf("vin_mismatch without a stored VIN check: %v", got)
				}
			}
		}

		if _, err := ta.DB.Exec(lift); err != nil {
			t.Fatal(err)
		}
		item := analysed(t, ta, "auth-vintx")
		consistent()
		if got := reasonCodes(item); !slices.Equal(got, []string{"vin_mismatch"}) {
			t.Fatalf("after the VIN check committed: reasons %v (vin_check %v)", got, item["vin_check"])
		}
		if v := item["vin_check"].(map[string]any); v["status"] != "mismatch" {
			t.Fatalf("vin_check %v", v)
		}
		if n := jobs(t, ta, "authenticity", "vin_check", "completed"); n != 1 {
			t.Fatalf("%d re-evaluations completed, want 1", n)
		}
		var attempts int
		if err := ta.DB.Get(&attempts, `SELECT attempt FROM river_job WHERE kind = 'vin_check'`); err != nil || attempts < 2 {
			t.Fatalf("the VIN check ran %d times (%v): want the failed try and the one that committed", attempts, err)
		}
		if n := jobs(t, ta, "vin_check", "", "completed"); n != 1 {
			t.Fatalf("the VIN check's job is not completed (%d)", n)
		}
	})
}

// reasonMetrics are the reason counters of the app's /metrics, by code.
func reasonMetrics(t *testing.T, ta *apptest.App) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, code := range []string{"duplicate_video", "recorded_before_task", "odometer_rollback", "vin_mismatch",
		"recorded_long_before_sent", "location_mismatch", "no_capture_metadata", "edited_video", "too_short", "clock_skew"} {
		out[code] = metricValue(t, ta, "forteleasing_authenticity_reasons_total", "code", code)
	}
	return out
}

// wantOncePerReason wants each of codes counted once on the app's /metrics and every other reason not at all.
func wantOncePerReason(t *testing.T, ta *apptest.App, codes ...string) {
	t.Helper()
	for code, n := range reasonMetrics(t, ta) {
		want := 0.0
		if slices.Contains(codes, code) {
			want = 1
		}
		if n != want {
			t.Errorf("forteleasing_authenticity_reasons_total{code=%q} = %v, want %v", code, n, want)
		}
	}
}

// privateStore starts a MinIO of the test's own (to hang it) and returns a bucket URL on it per call.
func privateStore(t *testing.T) (*deptest.Server, func(name string) string) {
	t.Helper()
	m := deptest.MinIO(t, "auth")
	t.Cleanup(m.Resume)
	return m, func(name string) string { return strings.Replace(m.URL, "/auth?", "/auth-"+name+"?", 1) }
}

// TestAnalysis_RetriedAfterStoreFaultOnceEachReason hangs the object store (a private MinIO,
// SIGSTOP) before the analysis's first try: the try fails on its read deadline, nothing is stored
// (the feed shows pending), and River tries again once the store is back. The upload ends with one
// analysis, evaluated once per trigger (upload, VIN check), and each reason counted once.
func TestAnalysis_RetriedAfterStoreFaultOnceEachReason(t *testing.T) {
	mp4test.RequireFFmpeg(t)
	store, bucket := privateStore(t)
	// An encoder's file, sent with the phone's clock 40 minutes ahead: edited_video and clock_skew.
	video := mp4test.Make(t, mp4test.Spec{Style: mp4test.Plain, Seconds: 6, Recorded: time.Now().Add(-time.Hour), Location: &point})
	apptest.EachDatabase(t, func(t *testing.T, dbURL string) {
		ta := apptest.NewStopped(t, dbURL, app.Deps{}, "FL_MEDIA_URL", bucket(dbURL[:6]), "FL_STORE_IDLE_TIMEOUT", "1s",
			"FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION", "0.5")
		logJobsOnFailure(t, ta)
		authTask(t, ta, "555EEE02", "XTA21099000000005", "auth-retry")
		upload(t, ta, ta.Token(apptest.DemoBIN, apptest.Director("retry")), sendFields("auth-retry", time.Now().Add(40*time.Minute), ""), video)

		t.Cleanup(store.Resume)
		store.Hang(t)
		if err := ta.Jobs.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		apptest.Eventually(t, func() bool { return failedTries(t, ta, "authenticity") }, "a try of the analysis failed on the hung store")
		if a := okFeedItem(t, ta, "auth-retry")["authenticity"].(map[string]any); a["verdict"] != "pending" {
			t.Fatalf("a failed try stored an analysis: %v", a)
		}
		if runs := apptest.Count(t, ta, `SELECT runs FROM authenticity_checks a JOIN reports r ON r.id = a.report_id WHERE r.ref_key = 'auth-retry'`); runs != 0 {
			t.Fatalf("%d evaluations stored while the store was hung", runs)
		}

		store.Resume()
		item := analysed(t, ta, "auth-retry")
		apptest.Eventually(t, func() bool { return jobs(t, ta, "authenticity", "", "completed") == 2 }, "both analyses completed")
		if got := reasonCodes(item); !slices.Equal(got, []string{"clock_skew", "edited_video"}) {
			t.Fatalf("reasons %v", got)
		}
		var retried int
		if err := ta.DB.Get(&retried, `SELECT COUNT(*) FROM river_job WHERE kind = 'authenticity' AND attempt >= 2`); err != nil || retried == 0 {
			t.Fatalf("no analysis was tried again (%v)", err)
		}
		if n := apptest.Count(t, ta, `SELECT COUNT(*) FROM authenticity_checks a JOIN reports r ON r.id = a.report_id WHERE r.ref_key = 'auth-retry'`); n != 1 {
			t.Fatalf("%d analyses of one upload", n)
		}
		if runs := apptest.Count(t, ta, `SELECT runs FROM authenticity_checks a JOIN reports r ON r.id = a.report_id WHERE r.ref_key = 'auth-retry'`); runs != 2 {
			t.Fatalf("%d evaluations stored, want 2 (upload, VIN check)", runs)
		}
		wantOncePerReason(t, ta, "clock_skew", "edited_video")
		if n := metricValue(t, ta, "forteleasing_authenticity_analyses_total", "verdict", "warn"); n != 2 {
			t.Errorf("%v evaluations counted, want 2", n)
		}
	})
}

// TestAnalysis_OnceAcrossRestarts runs one upload's analysis across three instances on one database
// and object store: the first closes with the jobs queued, the second is closed mid-job (its read
// hangs on a stopped store), the third finishes them. Each job stores its evaluation once: one
// analysis row, two evaluations (upload, VIN check), two moves of the report in the feed, each
// reason counted once.
func TestAnalysis_OnceAcrossRestarts(t *testing.T) {
	mp4test.RequireFFmpeg(t)
	store, bucket := privateStore(t)
	video := mp4test.Make(t, mp4test.Spec{Style: mp4test.Plain, Seconds: 6, Recorded: time.Now().Add(-time.Hour), Location: &point})
	apptest.EachDatabase(t, func(t *testing.T, dbURL string) {
		env := []string{"FL_MEDIA_URL", bucket(dbURL[:6]), "FL_STORE_IDLE_TIMEOUT", "1m", "FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION", "0.5"}

		first := apptest.NewStopped(t, dbURL, app.Deps{}, env...)
		authTask(t, first, "666FFF02", "XTA21099000000006", "auth-restart")
		upload(t, first, first.Token(apptest.DemoBIN, apptest.Director("restart")), sendFields("auth-restart", time.Now().Add(40*time.Minute), ""), video)
		first.Close() // the jobs queued, never started

		second := apptest.NewStopped(t, dbURL, app.Deps{}, env...)
		t.Cleanup(store.Resume)
		store.Hang(t)
		if err := second.Jobs.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		apptest.Eventually(t, func() bool { return jobs(t, second, "authenticity", "upload", "running") == 1 },
			"the analysis is running, its read hung on the stopped store")
		second.Close() // mid-job: the try is cancelled and left to try again
		store.Resume()

		third := apptest.NewStopped(t, dbURL, app.Deps{}, env...)
		logJobsOnFailure(t, third)
		if runs := apptest.Count(t, third, `SELECT runs FROM authenticity_checks a JOIN reports r ON r.id = a.report_id WHERE r.ref_key = 'auth-restart'`); runs != 0 {
			t.Fatalf("%d evaluations stored before the third instance", runs)
		}
		var before int64
		if err := third.DB.Get(&before, `SELECT value FROM change_counter WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
		if err := third.Jobs.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		item := analysed(t, third, "auth-restart")
		apptest.Eventually(t, func() bool { return jobs(t, third, "authenticity", "", "completed") == 2 }, "both analyses completed")
		if got := reasonCodes(item); !slices.Equal(got, []string{"clock_skew", "edited_video"}) {
			t.Fatalf("reasons %v", got)
		}
		if n := apptest.Count(t, third, `SELECT COUNT(*) FROM authenticity_checks a JOIN reports r ON r.id = a.report_id WHERE r.ref_key = 'auth-restart'`); n != 1 {
			t.Fatalf("%d analyses of one upload", n)
		}
		if runs := apptest.Count(t, third, `SELECT runs FROM authenticity_checks a JOIN reports r ON r.id = a.report_id WHERE r.ref_key = 'auth-restart'`); runs != 2 {
			t.Fatalf("%d evaluations stored, want 2 (upload, VIN check)", runs)
		}
		var after, seq int64
		if err := third.DB.Get(&after, `SELECT value FROM change_counter WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
		if err := third.DB.Get(&seq, `SELECT change_seq FROM reports WHERE ref_key = 'auth-restart'`); err != nil {
			t.Fatal(err)
		}
		if after-before != 2 || seq != after {
			t.Fatalf("the report moved in the feed %d times (change %d → %d, report at %d), want 2", after-before, before, after, seq)
		}
		wantOncePerReason(t, third, "clock_skew", "edited_video")
		wantOncePerReason(t, second)
	})
}

func okFeedItem(t *testing.T, ta *apptest.App, ref string) map[string]any {
	t.Helper()
	for _, it := range feed(t, ta) {
		if it["ref_key"] == ref {
			return it
		}
	}
	t.Fatalf("%s is not in the feed", ref)
	return nil
}
