// Command bench measures the service against baselines taken in the same run: the report filter on a
// database of a million reports, and concurrent video uploads to MinIO. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
)

const usage = `usage: go run ./bench <scenario> [flags]

scenarios:
  filter   the report filters of a company with 10,000 vehicles in 1,000,000 reports, at -c clients;
           baselines: a bare Fiber route and the same list query over database/sql
  suite    one table: login, refresh, general and vehicle filter, 1C feed and upload, each next to its
           same-run baseline (bare Fiber route, raw SQL, raw minio-go PutObject)
  soak     -d of mixed traffic (logins, refreshes, lists, feed, 1C tasks, uploads, decisions) at -c clients,
           sampling the service's RSS and goroutines every 10 s and judging the trend; its defaults differ:
           -c 8 -d 10m -vehicles 2000 -reports 20000 -total 100000
  peer     the service side by side with PocketBase v0.36.8 (refresh, lists, lists under 1C writes, uploads),
           interleaved rounds at 16 and 64 connections; a module of its own in bench/peer (its flags: peer -h)
  hostile  the attacks of issue 12 (gzip bomb, unauthenticated 31 MiB 1C bodies, 1C password guessing,
           X-Forwarded-For rotation against the OTP cap, ambiguous framing): statuses, peak RSS growth,
           guesses per second; run it with -bin of an older build for the before figures
  upload   -uploads concurrent uploads of -mib MiB through POST /reports/upload to MinIO, -rounds times;
           baseline: minio-go PutObject of the same files, in rounds alternating with the service's

flags:`

// options are the command line; every loop of the bench is bounded by them.
type options struct {
	clients     int
	duration    time.Duration
	warmup      time.Duration
	maxRequests int

	kit.Sizes

	uploads, uploadMiB, rounds int

	pgURL, s3URL, dbName, bucket, overlay, bin, pprofDir string
	only                                                 string
	keep                                                 bool
}

func (o options) uploadSize() int64 { return int64(o.uploadMiB) << 20 }

func main() {
	if len(os.Args) == 3 && os.Args[1] == fiberBaselineCmd {
		if err := serveFiberBaseline(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "fiber baseline:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) >= 2 && os.Args[1] == "peer" {
		os.Exit(runPeer(os.Args[2:]))
	}
	o := options{Sizes: kit.Sizes{Companies: 100, Vehicles: 10_000, OtherVehicles: 100, Reports: 100_000, Total: 1_000_000}}
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, usage); fs.PrintDefaults() }
	fs.IntVar(&o.clients, "c", 64, "concurrent clients (filter, suite; soak: 8)")
	fs.DurationVar(&o.duration, "d", 20*time.Second, "measured duration per target (filter, suite); the whole run (soak: 10m)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up per target (filter)")
	fs.IntVar(&o.maxRequests, "n", 2_000_000, "at most this many requests per target and phase (filter)")
	o.Sizes.Flags(fs)
	fs.IntVar(&o.uploads, "uploads", 8, "concurrent uploads, one report each (upload)")
	fs.IntVar(&o.uploadMiB, "mib", 64, "size of each uploaded video in MiB (upload)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of raw then service uploads, alternating (upload)")
	fs.StringVar(&o.pgURL, "pg", os.Getenv("FL_TEST_POSTGRES_URL"), "PostgreSQL URL the bench database is created from")
	fs.StringVar(&o.s3URL, "s3", os.Getenv("FL_TEST_S3_URL"), "MinIO URL s3://KEY:SECRET@HOST:PORT/BUCKET?secure=false; its bucket is replaced by -bucket")
	fs.StringVar(&o.dbName, "db", "fl_bench", "database to create, use and drop")
	fs.StringVar(&o.bucket, "bucket", "fl-bench", "bucket to create, use and remove")
	fs.StringVar(&o.overlay, "overlay", "", "go build -overlay file for the service build (stubs of packages being written)")
	fs.StringVar(&o.bin, "bin", "", "run this service binary instead of building ./cmd/forteleasing (another branch, a profiling build)")
	fs.StringVar(&o.pprofDir, "pprof", "", "write a CPU profile of the service during each service target of suite (upload: of its first plain and tus rounds) into this directory")
	fs.StringVar(&o.only, "only", "", "suite: only these rows, comma-separated, of login, refresh, filters, feed, upload (the Fiber baseline always runs)")
	fs.BoolVar(&o.keep, "keep", false, "keep the database, bucket and working directory at the end")
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fs.Usage()
		os.Exit(2)
	}
	scenario := os.Args[1]
	_ = fs.Parse(os.Args[2:])
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if scenario == "soak" {
		soakDefaults(&o, set)
	}
	if o.pgURL == "" || o.s3URL == "" {
		fmt.Fprintln(os.Stderr, "bench: set -pg and -s3, or FL_TEST_POSTGRES_URL and FL_TEST_S3_URL (source /tmp/services.env)")
		os.Exit(2)
	}
	if o.clients < 1 || o.duration <= 0 || o.maxRequests < 1 || o.uploads < 1 {
		fmt.Fprintln(os.Stderr, "bench: -c, -d, -n and -uploads must be positive")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch scenario {
	case "filter":
		err = runFilter(ctx, o)
	case "upload":
		err = runUpload(ctx, o)
	case "suite":
		err = runSuite(ctx, o)
	case "soak":
		err = runSoak(ctx, o)
	case "hostile":
		err = runHostile(ctx, o)
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1) // the scenario has already stopped the service and cleaned up
	}
}

// runPeer runs the nested module bench/peer (its own go.mod, so that PocketBase never enters the service's)
// with go run, from the module root this bench belongs to, and returns its exit code.
func runPeer(args []string) int {
	root, err := kit.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench peer:", err)
		return 2
	}
	cmd := exec.Command("go", append([]string{"run", "."}, args...)...)
	cmd.Dir = filepath.Join(root, "bench", "peer")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signal.Ignore(os.Interrupt) // Ctrl-C reaches the child too, which cleans up and exits
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bench peer:", err)
		return 1
	}
	return 0
}
