// Command forteleasing runs the ForteLeasing inspections backend: `serve [--demo]`, `demo`, `migrate up|down|status`.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/forteleasing/inspections/internal/app"
	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/media"
	"github.com/pressly/goose/v3"
)

const usage = `usage: forteleasing <command>

commands:
  serve [--demo]          run the API (--demo loads the seed's demo company first)
  demo                    load the seed's demo data and exit
  migrate up|down|status  run the database migrations
  mirror FROM TO          copy the videos of one store to another (file://DIR or s3://...): backup and restore

configuration comes from FL_* environment variables; see README.md.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	log := newLogger(stderr, getenv("FL_LOG_LEVEL"))
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "configuration: %v\n", err)
		return 2
	}
	switch cmd := args[0]; cmd {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		demo := fs.Bool("demo", false, "load the seed's demo data before serving")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		err = serve(ctx, cfg, log, *demo)
	case "demo":
		err = loadDemo(ctx, cfg, log)
	case "migrate":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: forteleasing migrate up|down|status")
			return 2
		}
		err = migrate(ctx, cfg, args[1], stderr)
	case "mirror":
		if len(args) != 3 {
			fmt.Fprintln(stderr, "usage: forteleasing mirror FROM TO   (each file://DIR or s3://KEY:SECRET@HOST:PORT/BUCKET?secure=false)")
			return 2
		}
		err = mirror(ctx, args[1], args[2], log)
	case "help", "-h", "--help":
		fmt.Fprintln(stderr, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s\n", cmd, usage)
		return 2
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("exit", "err", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil || level == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger, demo bool) error {
	a, err := app.Open(ctx, cfg, log, app.Deps{})
	if err != nil {
		return err
	}
	defer a.Close()
	if demo {
		if err := a.OneC.LoadDemo(ctx); err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
		log.Info("demo data loaded", "biin", "200940026146", "iin", "790920300817")
	}
	return a.Run(ctx)
}

func loadDemo(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := app.Open(ctx, cfg, log, app.Deps{})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.OneC.LoadDemo(ctx); err != nil {
		return err
	}
	log.Info("demo data loaded", "database", database.Redact(cfg.DatabaseURL))
	return nil
}

func migrate(ctx context.Context, cfg config.Config, direction string, out io.Writer) error {
	db, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrating(func(p *goose.Provider) error { return runMigrations(ctx, p, direction, out) })
}

func runMigrations(ctx context.Context, p *goose.Provider, direction string, out io.Writer) error {
	switch direction {
	case "up":
		res, err := p.Up(ctx)
		for _, r := range res {
			fmt.Fprintf(out, "applied %s\n", r.Source.Path)
		}
		return err
	case "down":
		r, err := p.Down(ctx)
		if r != nil {
			fmt.Fprintf(out, "rolled back %s\n", r.Source.Path)
		}
		return err
	case "status":
		st, err := p.Status(ctx)
		for _, s := range st {
			applied := "pending"
			if !s.AppliedAt.IsZero() {
				applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(out, "%-45s %s\n", s.Source.Path, applied)
		}
		return err
	default:
		return fmt.Errorf("migrate: want up, down or status, got %q", direction)
	}
}

// mirror copies the videos of one store to another. Disk stores need a signing key and public URL only
// to hand out links, which a mirror never does.
func mirror(ctx context.Context, from, to string, log *slog.Logger) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	opts := media.Options{PublicURL: "http://localhost", SigningKey: key}
	src, err := media.Open(ctx, from, opts)
	if err != nil {
		return err
	}
	dst, err := media.Open(ctx, to, opts)
	if err != nil {
		return err
	}
	st, err := media.Mirror(ctx, src, dst, nil)
	log.Info("mirror", "from", fmt.Sprint(src), "to", fmt.Sprint(dst), "copied", st.Copied, "bytes", st.Bytes, "already_present", st.Present)
	return err
}
