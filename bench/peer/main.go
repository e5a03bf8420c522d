// Command peer measures the service side by side with PocketBase v0.36.8, the single-binary Go backend a
// small team would pick instead: the same data, the same client, interleaved rounds (service, PocketBase,
// service, PocketBase…) so that a noisy neighbour slows both. See bench/README.md ("bench peer").
//
// It is a module of its own (bench/peer/go.mod) so that PocketBase never enters the service's go.mod.
// Run it from the repository root with `go run ./bench peer [flags]`, or here with `go run . [flags]`.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

type options struct {
	conns                                       []int
	rounds, uploadRounds, uploads, uploadMiB, n int
	duration, warmup                            time.Duration
	kit.Sizes
	pgURL, s3URL, bin, pprofDir, skip, cache string
	keep                                     bool
}

func main() {
	if len(os.Args) >= 2 {
		switch os.Args[1] { // the PocketBase child processes (this same binary)
		case "pbserve":
			if err := pbServe(os.Args[2], os.Args[3]); err != nil {
				fmt.Fprintln(os.Stderr, "pocketbase:", err)
				os.Exit(1)
			}
			return
		case "pbsetup":
			o := parse(os.Args[4:])
			if err := pbSetup(os.Args[2], os.Args[3], newFleet(o.Sizes)); err != nil {
				fmt.Fprintln(os.Stderr, "pocketbase setup:", err)
				os.Exit(1)
			}
			return
		}
	}
	o := parse(os.Args[1:])
	if o.s3URL == "" {
		fmt.Fprintln(os.Stderr, "peer: set -s3 or FL_TEST_S3_URL (source /tmp/services.env); -pg or FL_TEST_POSTGRES_URL for the PostgreSQL refresh")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func parse(args []string) options {
	o := options{Sizes: kit.Sizes{Companies: 10, Vehicles: 2000, OtherVehicles: 100, Reports: 20_000, Total: 200_000}}
	fs := flag.NewFlagSet("peer", flag.ExitOnError)
	conns := fs.String("c", "16,64", "connections, comma-separated; every target runs at each")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds per target and connection count")
	fs.DurationVar(&o.duration, "d", 5*time.Second, "measured time of one side in one round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each measured run")
	fs.IntVar(&o.n, "n", 1_000_000, "at most this many requests per run")
	o.Sizes.Flags(fs)
	fs.IntVar(&o.uploads, "uploads", 8, "concurrent uploads per round")
	fs.IntVar(&o.uploadMiB, "mib", 64, "MiB per upload")
	fs.IntVar(&o.uploadRounds, "upload-rounds", 3, "interleaved upload rounds")
	fs.StringVar(&o.pgURL, "pg", os.Getenv("FL_TEST_POSTGRES_URL"), "PostgreSQL server for the service's PostgreSQL refresh (database fl_peer is created and dropped)")
	fs.StringVar(&o.s3URL, "s3", os.Getenv("FL_TEST_S3_URL"), "MinIO for both sides' videos (buckets fl-peer and fl-peer-pb are created and removed)")
	fs.StringVar(&o.bin, "bin", "", "run this service binary instead of building ../../cmd/forteleasing")
	fs.StringVar(&o.pprofDir, "pprof", "", "save a CPU profile of the service over its first round of each target into this directory")
	fs.StringVar(&o.skip, "skip", "", "leave out targets: comma-separated of refresh, pg, general, vehicle, writer, upload")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory, database and buckets")
	fs.StringVar(&o.cache, "cache", "", "keep the seeded SQLite data of both sides here and start from it next time (seeding 200,000 reports twice takes minutes)")
	_ = fs.Parse(args)
	for _, s := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "peer: -c wants positive numbers, e.g. 16,64")
			os.Exit(2)
		}
		o.conns = append(o.conns, n)
	}
	if o.rounds < 1 || o.duration <= 0 || o.uploads < 1 || o.uploadMiB < 1 || o.n < 1 || o.Companies < 2 {
		fmt.Fprintln(os.Stderr, "peer: -rounds, -d, -uploads, -mib, -n must be positive and -companies ≥ 2")
		os.Exit(2)
	}
	return o
}

func (o options) skipped(name string) bool { return slices.Contains(strings.Split(o.skip, ","), name) }

// side is one server of a target: what one operation is and, for the writer targets, the writes beside it.
type side struct {
	label string
	do    func(context.Context) error
	write func(ctx context.Context, n int64) error // nil: nothing writes during the run
	admin string                                   // the service's admin address, for -pprof
	runs  []kit.Stats
	wrote []string
}

// target is one row group: sides measured in turn, round after round.
type target struct {
	name  string
	conns int
	sides []*side
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "fl-peer-")
	if err != nil {
		return err
	}
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		if o.keep {
			kit.Logf("-keep: left %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	maxConns := slices.Max(o.conns)
	uploadSize := int64(o.uploadMiB) << 20
	f := newFleet(o.Sizes)

	// Buckets: one per side, on the same MinIO.
	mc, err := minioFor(o.s3URL)
	if err != nil {
		return err
	}
	ourBucket, pbBucket := "fl-peer", "fl-peer-pb"
	for _, b := range []string{ourBucket, pbBucket} {
		if err := emptyBucket(ctx, mc, b, false); err != nil {
			return err
		}
		if ok, _ := mc.BucketExists(ctx, b); !ok {
			if err := mc.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
				return fmt.Errorf("make bucket %s: %w", b, err)
			}
		}
		if !o.keep {
			closers = append(closers, func() { _ = emptyBucket(context.Background(), mc, b, true) })
		}
	}
	ourS3, _ := kit.WithPath(o.s3URL, "/"+ourBucket)
	pbS3, _ := kit.WithPath(o.s3URL, "/"+pbBucket)

	// Builds: the service, and PocketBase is this binary.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bin := o.bin
	if bin == "" {
		root, err := kit.RepoRoot()
		if err != nil {
			return err
		}
		bin = filepath.Join(dir, "forteleasing")
		kit.Logf("building the service…")
		if err := kit.BuildService(ctx, root, bin); err != nil {
			return err
		}
	}

	// PocketBase: set up (schema, data, users), then serve.
	pbDir := filepath.Join(dir, "pb_data")
	kit.Logf("PocketBase v0.36.8: collections and %d reports…", len(f.reports))
	var cacheDir string
	if o.cache != "" {
		cacheDir = filepath.Join(o.cache, fmt.Sprintf("c%d-v%d-o%d-r%d-t%d", o.Companies, o.Vehicles, o.OtherVehicles, o.Reports, o.Total))
	}
	if cacheDir != "" && exists(filepath.Join(cacheDir, "pb_data")) {
		kit.Logf("PocketBase: data from %s", cacheDir)
		if err := copyTree(filepath.Join(cacheDir, "pb_data"), pbDir); err != nil {
			return err
		}
	} else {
		setupArgs := append([]string{"pbsetup", pbDir, pbS3}, os.Args[1:]...)
		if p, err := kit.StartProc(self, setupArgs, nil, filepath.Join(dir, "pbsetup.log")); err != nil {
			return err
		} else if err := p.Wait(); err != nil {
			return fmt.Errorf("pocketbase setup: %v\n%s", err, kit.Tail(p.LogPath()))
		}
		if cacheDir != "" {
			if err := copyTree(pbDir, filepath.Join(cacheDir, "pb_data")); err != nil {
				return err
			}
		}
	}
	port, err := kit.FreePort()
	if err != nil {
		return err
	}
	pbAddr := fmt.Sprintf("127.0.0.1:%d", port)
	pb, err := kit.StartProc(self, []string{"pbserve", pbDir, pbAddr}, nil, filepath.Join(dir, "pocketbase.log"))
	if err != nil {
		return err
	}
	closers = append(closers, func() { _ = pb.Stop() })
	pbBase := "http://" + pbAddr
	if err := pb.WaitHTTP(ctx, pbBase+"/api/health", time.Minute); err != nil {
		return err
	}

	// The service on SQLite, and on PostgreSQL for the refresh.
	sqDir := filepath.Join(dir, "svc-sqlite")
	sqFile := filepath.Join(sqDir, "data", "fl.db")
	cached := cacheDir != "" && exists(filepath.Join(cacheDir, "fl.db"))
	if cached {
		kit.Logf("service on SQLite: data from %s (its migrations run on it at start)", cacheDir)
		if err := copyTree(filepath.Join(cacheDir, "fl.db"), sqFile); err != nil {
			return err
		}
	}
	ours, err := startService(ctx, "service (SQLite)", bin, sqDir, "sqlite://"+sqFile, ourS3, uploadSize)
	if err != nil {
		return err
	}
	closers = append(closers, func() { _ = ours.Stop() })
	if !cached {
		kit.Logf("service on SQLite: seeding %d reports…", len(f.reports))
		keep := ""
		if cacheDir != "" {
			keep = filepath.Join(cacheDir, "fl.db")
		}
		if err := ours.seed(ctx, f, keep); err != nil {
			return fmt.Errorf("seed the service: %w", err)
		}
	}
	var oursPG *svc
	if !o.skipped("pg") && !o.skipped("refresh") && o.pgURL != "" {
		pgURL, err := kit.FreshDatabase(ctx, o.pgURL, "fl_peer")
		if err != nil {
			return err
		}
		if !o.keep {
			closers = append(closers, func() { _ = kit.DropDatabase(context.Background(), o.pgURL, "fl_peer") })
		}
		pgDir := filepath.Join(dir, "svc-pg")
		if oursPG, err = startService(ctx, "service (PostgreSQL)", bin, pgDir, pgURL, ourS3, uploadSize); err != nil {
			return err
		}
		closers = append(closers, func() { _ = oursPG.Stop() })
		kit.Logf("service on PostgreSQL: seeding %d reports…", len(f.reports))
		if err := oursPG.seed(ctx, f, ""); err != nil {
			return fmt.Errorf("seed the service on PostgreSQL: %w", err)
		}
	}

	// Tokens: one refresh chain per connection on the service (each its own device session); PocketBase
	// tokens of the same director (PocketBase does not rotate, so one token per connection is the same).
	kit.Logf("logging in %d devices…", maxConns)
	chains := func(s *svc) ([]string, string, error) {
		var rts []string
		var access string
		for i := range maxConns {
			rt, at, err := s.login(ctx, f, fmt.Sprintf("peer-device-%04d", i))
			if err != nil {
				return nil, "", err
			}
			rts, access = append(rts, rt), at
		}
		return rts, access, nil
	}
	ourChains, ourAccess, err := chains(ours)
	if err != nil {
		return fmt.Errorf("service login: %w", err)
	}
	var pgChains []string
	if oursPG != nil {
		if pgChains, _, err = chains(oursPG); err != nil {
			return fmt.Errorf("service (PostgreSQL) login: %w", err)
		}
	}
	var pbAuth struct{ Token string }
	if err := kit.DoJSONPlain(ctx, http.DefaultClient, http.MethodPost, pbBase+"/api/collections/users/auth-with-password",
		map[string]string{"identity": pbUserEmail, "password": pbPassword}, "", &pbAuth); err != nil {
		return fmt.Errorf("pocketbase login: %w", err)
	}
	var pbSuper struct{ Token string }
	if err := kit.DoJSONPlain(ctx, http.DefaultClient, http.MethodPost, pbBase+"/api/collections/_superusers/auth-with-password",
		map[string]string{"identity": pbSuperEmail, "password": pbPassword}, "", &pbSuper); err != nil {
		return fmt.Errorf("pocketbase superuser login: %w", err)
	}
	pbTokens := make([]string, maxConns)
	for i := range pbTokens {
		pbTokens[i] = pbAuth.Token
	}

	// The writes beside the lists: 10 new reports a second of the big company, status 1, started an hour
	// ago, so that each lands in the measured list (status 1, last month). 1C's upsert on the service; a
	// superuser's record create on PocketBase.
	basic := kit.OnecBasic()
	ourWrite := func(ctx context.Context, n int64) error {
		v := f.vehicles[int(n)%o.Vehicles]
		start := time.Now().Add(-time.Hour).UTC()
		return kit.DoJSON(ctx, http.DefaultClient, http.MethodPut, ours.Base+"/1c/reports", []map[string]any{{
			"ref_key": fmt.Sprintf("peer-write-%d-%d", time.Now().UnixNano(), n), "report_number": fmt.Sprintf("W-%d", n),
			"contract_number": v.contract, "vehicle_guid": v.guid, "status_code": 1,
			"date_start": start.Format("2006-01-02T15:04:05"), "date_finish": start.Add(240 * time.Hour).Format("2006-01-02T15:04:05"),
		}}, basic, nil)
	}
	pbWrite := func(ctx context.Context, n int64) error {
		vi := int(n) % o.Vehicles
		v := f.vehicles[vi]
		start := time.Now().Add(-time.Hour).UTC()
		return kit.DoJSONPlain(ctx, http.DefaultClient, http.MethodPost, pbBase+"/api/collections/reports/records", map[string]any{
			"company": fmt.Sprintf(pbCompanyFmt, 0), "vehicle": fmt.Sprintf(pbVehicleFmt, vi),
			"ref_key": fmt.Sprintf("peer-write-%d-%d", time.Now().UnixNano(), n), "number": fmt.Sprintf("W-%d", n),
			"contract": v.contract, "status": 1, "date_start": start.Format(pbTime), "date_finish": start.Add(240 * time.Hour).Format(pbTime),
		}, pbSuper.Token, nil)
	}

	since := time.Now().UTC().AddDate(0, -1, 0).Format(pbTime)
	pbGeneral := pbBase + "/api/collections/reports/records?perPage=100&skipTotal=1&sort=-date_start,-id&filter=" +
		urlQuery(fmt.Sprintf("status = 1 && date_start >= '%s'", since))
	pbVehicles := pbBase + "/api/collections/vehicles/records?perPage=100&skipTotal=1&sort=plate,guid"

	var targets []*target
	for _, c := range o.conns {
		client, pbClient, pgClient := kit.NewLoadClient(c, 60*time.Second), kit.NewLoadClient(c, 60*time.Second), kit.NewLoadClient(c, 60*time.Second)
		if !o.skipped("refresh") {
			t := &target{name: "token refresh", conns: c}
			t.sides = append(t.sides, &side{label: "service SQLite: POST /refresh_token (rotates)", admin: ours.Admin,
				do: chainCall(client, ours.Base+"/refresh_token", "Bearer ", ourChains[:c], refreshTokenField)})
			t.sides = append(t.sides, &side{label: "PocketBase: POST …/users/auth-refresh",
				do: chainCall(pbClient, pbBase+"/api/collections/users/auth-refresh", "", pbTokens[:c], pbTokenField)})
			if oursPG != nil {
				t.sides = append(t.sides, &side{label: "service PostgreSQL: POST /refresh_token (rotates)", admin: oursPG.Admin,
					do: chainCall(pgClient, oursPG.Base+"/refresh_token", "Bearer ", pgChains[:c], refreshTokenField)})
			}
			targets = append(targets, t)
		}
		if !o.skipped("general") {
			targets = append(targets, &target{name: "list: status 1, last month", conns: c, sides: []*side{
				{label: "service: GET /reports/general/filter/1/1m", admin: ours.Admin,
					do: kit.Getter(client, ours.Base+"/reports/general/filter/1/1m", "Bearer "+ourAccess)},
				{label: "PocketBase: GET …/reports/records?filter=status=1&&date_start>=…", do: kit.Getter(pbClient, pbGeneral, pbAuth.Token)},
			}})
		}
		if !o.skipped("vehicle") {
			targets = append(targets, &target{name: "list: vehicle filter", conns: c, sides: []*side{
				{label: "service: GET /reports/vehicle/filter", admin: ours.Admin,
					do: kit.Getter(client, ours.Base+"/reports/vehicle/filter", "Bearer "+ourAccess)},
				{label: "PocketBase: GET …/vehicles/records?sort=plate", do: kit.Getter(pbClient, pbVehicles, pbAuth.Token)},
			}})
		}
		if !o.skipped("writer") {
			targets = append(targets, &target{name: "list: status 1, last month, 10 writes/s", conns: c, sides: []*side{
				{label: "service: the list while 1C PUTs /1c/reports", admin: ours.Admin, write: ourWrite,
					do: kit.Getter(client, ours.Base+"/reports/general/filter/1/1m", "Bearer "+ourAccess)},
				{label: "PocketBase: the list while a superuser creates records", write: pbWrite, do: kit.Getter(pbClient, pbGeneral, pbAuth.Token)},
			}})
		}
	}

	for _, t := range targets {
		for round := range o.rounds {
			for _, s := range t.sides {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				var w *writer
				if s.write != nil {
					w = startWriter(100*time.Millisecond, s.write)
				}
				if o.warmup > 0 {
					kit.Load{Clients: t.conns, Duration: o.warmup, Max: o.n, Finish: true}.Drive(ctx, s.do)
				}
				if o.pprofDir != "" && round == 0 && s.admin != "" {
					kit.Profile(ctx, s.admin, 0, o.duration, filepath.Join(o.pprofDir, fmt.Sprintf("%s-c%d-%s.pprof", kit.Slug(t.name), t.conns, kit.Slug(s.label))))
				}
				st := kit.Load{Clients: t.conns, Duration: o.duration, Max: o.n, Finish: true}.Drive(ctx, s.do)
				s.runs = append(s.runs, st)
				if w != nil {
					w.finish()
					note := fmt.Sprintf("%d", w.ok.Load())
					if e := w.firstErr.Load(); e != nil {
						note += fmt.Sprintf(" (%d failed: %v)", w.errs.Load(), *e)
					}
					s.wrote = append(s.wrote, note)
				}
				kit.Logf("%s, %d conns, round %d/%d: %s: %.0f/s, p99 %s, %d errors", t.name, t.conns, round+1, o.rounds, s.label,
					st.Rate(), kit.Ms(st.P99), st.Errs)
			}
		}
	}

	var up *uploadOutcome
	if !o.skipped("upload") {
		waiting := f.waiting(o.uploads * o.uploadRounds)
		if len(waiting) < o.uploads*o.uploadRounds {
			return fmt.Errorf("only %d reports wait for a video; lower -uploads or -upload-rounds", len(waiting))
		}
		up = measureUploads(ctx, o, f, waiting, ours, ourAccess, pb, pbBase, pbAuth.Token, mc, ourBucket)
	}
	printTable(o, targets, up)
	return nil
}

// chainCall is a refresh: each call takes a chain, refreshes it and puts the new token back.
func chainCall(client *http.Client, url, scheme string, tokens []string, field *regexp.Regexp) func(context.Context) error {
	pool := make(chan int, len(tokens))
	for i := range tokens {
		pool <- i
	}
	return func(ctx context.Context) error {
		i := <-pool
		defer func() { pool <- i }()
		next, err := refreshCall(ctx, client, url, scheme+tokens[i], field)
		if err == nil {
			tokens[i] = next
		}
		return err
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// copyTree copies a file or a directory (cp -a), creating dst's parent.
func copyTree(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %v %s", src, dst, err, out)
	}
	return nil
}

func minioFor(s3URL string) (*minio.Client, error) {
	u, err := parseURL(s3URL)
	if err != nil || u.Scheme != "s3" || u.User == nil {
		return nil, fmt.Errorf("bad s3 URL (want s3://KEY:SECRET@HOST:PORT/BUCKET?secure=false)")
	}
	secret, _ := u.User.Password()
	return minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(u.User.Username(), secret, ""), Secure: u.Query().Get("secure") == "true"})
}

func emptyBucket(ctx context.Context, c *minio.Client, bucket string, remove bool) error {
	if ok, err := c.BucketExists(ctx, bucket); err != nil || !ok {
		return err
	}
	for e := range c.RemoveObjects(ctx, bucket, c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}), minio.RemoveObjectsOptions{}) {
		if e.Err != nil {
			return e.Err
		}
	}
	if remove {
		return c.RemoveBucket(ctx, bucket)
	}
	return nil
}
