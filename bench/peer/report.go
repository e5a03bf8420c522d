package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/minio/minio-go/v7"

	"github.com/forteleasing/inspections/bench/kit"
)

// uploadSide is one side's upload rounds, with its peak resident memory.
type uploadSide struct {
	kit.Uploads
	label     string
	hwm       int64 // kB, the largest VmHWM of a round (reset at the start of each)
	rssBefore int64
}

type uploadOutcome struct{ raw, ours, pb uploadSide }

// measureUploads alternates rounds: o.uploads at once straight into MinIO (minio-go PutObject: the
// most any server in front of it can store), then as many to the service, then to PocketBase.
func measureUploads(ctx context.Context, o options, f *fleet, waiting []int, ours *svc, ourAccess string, pb *kit.Proc, pbBase, pbToken string,
	mc *minio.Client, bucket string) *uploadOutcome {
	size := int64(o.uploadMiB) << 20
	out := &uploadOutcome{raw: uploadSide{label: "baseline: minio-go PutObject into the same MinIO"},
		ours: uploadSide{label: "service: POST /reports/upload"}, pb: uploadSide{label: "PocketBase: POST …/videos/records"}}
	out.ours.rssBefore, out.pb.rssBefore = kit.ProcStatus(ours.PID(), "VmRSS"), kit.ProcStatus(pb.PID(), "VmRSS")
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: o.uploads, DisableCompression: true}}
	round := func(u *uploadSide, pid int, send func(i int) error) {
		kit.ResetHWM(pid)
		u.Round(o.uploads, size, send)
		u.hwm = max(u.hwm, kit.ProcStatus(pid, "VmHWM"))
	}
	for r := range o.uploadRounds {
		if ctx.Err() != nil {
			break
		}
		kit.Logf("upload round %d/%d: minio-go PutObject, %d × %d MiB…", r+1, o.uploadRounds, o.uploads, o.uploadMiB)
		out.raw.Round(o.uploads, size, func(i int) error {
			_, err := mc.PutObject(ctx, bucket, fmt.Sprintf("raw/%d-%d.mp4", r, i), kit.MP4(uint64(i), size), size,
				minio.PutObjectOptions{ContentType: "video/mp4"})
			return err
		})
		kit.Logf("upload round %d/%d: service, %d × %d MiB…", r+1, o.uploadRounds, o.uploads, o.uploadMiB)
		round(&out.ours, ours.PID(), func(i int) error {
			rep := f.reports[waiting[r*o.uploads+i]]
			return kit.PostMultipart(ctx, client, ours.Base+"/reports/upload", "Bearer "+ourAccess, "file",
				kit.UploadFields(rep.refKey), kit.MP4(uint64(i), size), size, http.StatusCreated)
		})
		kit.Logf("upload round %d/%d: PocketBase, %d × %d MiB…", r+1, o.uploadRounds, o.uploads, o.uploadMiB)
		round(&out.pb, pb.PID(), func(i int) error {
			return kit.PostMultipart(ctx, client, pbBase+"/api/collections/videos/records", pbToken, "video",
				[][2]string{{"report", fmt.Sprintf(pbReportFmt, waiting[r*o.uploads+i])}}, kit.MP4(uint64(i), size), size, http.StatusOK)
		})
	}
	return out
}

func printTable(o options, targets []*target, up *uploadOutcome) {
	fmt.Printf("\nbench peer: the service vs PocketBase v0.36.8, both on SQLite (and the service's refresh on PostgreSQL)\n")
	fmt.Printf("data: %d companies; the measured one has %d vehicles and %d reports of %d; rounds: %d interleaved (A, B, A, B…), %s each after %s warm-up\n",
		o.Companies, o.Vehicles, o.Reports, o.Total, o.rounds, o.duration, o.warmup)
	fmt.Printf("figures: median of the rounds [min–max]; ratio: the median of the per-round ratios to PocketBase [min–max]\n\n")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "target\tconns\tside\treq/s\tp50\tp99\terrors\t÷ PocketBase\t")
	readOnly := map[int][]float64{} // conns → the service's general list rates, for the writer rows
	for _, t := range targets {
		pb := t.sides[1]
		for i, s := range t.sides {
			rates := make([]float64, len(s.runs))
			var p50, p99 []float64
			errs := 0
			for j, r := range s.runs {
				rates[j] = r.Rate()
				p50 = append(p50, float64(r.P50.Microseconds())/1000)
				p99 = append(p99, float64(r.P99.Microseconds())/1000)
				errs += r.Errs
			}
			vs := "-"
			if i != 1 {
				var rs []float64
				for j := range min(len(s.runs), len(pb.runs)) {
					if pb.runs[j].Rate() > 0 {
						rs = append(rs, s.runs[j].Rate()/pb.runs[j].Rate())
					}
				}
				vs = spread(rs, "%.2f")
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%.2f ms\t%.2f ms\t%d\t%s\t\n", t.name, t.conns, s.label, spread(rates, "%.0f"), median(p50), median(p99), errs, vs)
			if t.name == "list: status 1, last month" && i == 0 {
				readOnly[t.conns] = rates
			}
		}
	}
	w.Flush()

	fmt.Println()
	for _, t := range targets {
		for _, s := range t.sides {
			for j, r := range s.runs {
				if r.FirstErr != nil {
					fmt.Printf("first error, %s %d conns round %d, %s: %v\n", t.name, t.conns, j+1, s.label, r.FirstErr)
					break
				}
			}
			if len(s.wrote) > 0 {
				fmt.Printf("writes during %s, %d conns, %s: %s per round\n", t.name, t.conns, s.label, strings.Join(s.wrote, ", "))
			}
		}
	}

	if up != nil {
		fmt.Printf("\nuploads: %d at once × %d MiB, %d interleaved rounds, both to MinIO (the service streams to it; PocketBase through its S3 storage); MB = 10^6 bytes\n\n",
			o.uploads, o.uploadMiB, o.uploadRounds)
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "side\tMB/s\tper round\terrors\t÷ PutObject\tVmRSS before\tpeak VmHWM\t")
		fmt.Fprintf(w, "%s\t%.1f\t%s\t%d\t-\t-\t-\t\n", up.raw.label, up.raw.MBps(), up.raw.PerRound(), up.raw.Errs)
		for _, u := range []*uploadSide{&up.ours, &up.pb} {
			fmt.Fprintf(w, "%s\t%.1f\t%s\t%d\t%.2f\t%s\t%s\t\n", u.label, u.MBps(), u.PerRound(), u.Errs,
				u.MBps()/max(up.raw.MBps(), 1e-9), kit.MiB(u.rssBefore), kit.MiB(u.hwm))
		}
		w.Flush()
		for _, u := range []*uploadSide{&up.raw, &up.ours, &up.pb} {
			if u.FirstErr != nil {
				fmt.Printf("first error, %s: %v\n", u.label, u.FirstErr)
			}
		}
	}

	fmt.Printf("\ntargets (issue 17; the machine is shared, so only the interleaved ratios mean something):\n")
	for _, t := range targets {
		ratioOf := func(i int) float64 {
			var rs []float64
			for j := range min(len(t.sides[i].runs), len(t.sides[1].runs)) {
				if t.sides[1].runs[j].Rate() > 0 {
					rs = append(rs, t.sides[i].runs[j].Rate()/t.sides[1].runs[j].Rate())
				}
			}
			return median(rs)
		}
		switch t.name {
		case "token refresh":
			fmt.Printf("  refresh, SQLite, %d conns: %.2f× PocketBase, want ≥ 1.0: %s\n", t.conns, ratioOf(0), kit.Verdict(ratioOf(0) >= 1.0))
			if len(t.sides) > 2 {
				fmt.Printf("  refresh, PostgreSQL, %d conns: %.2f× PocketBase, want ≥ 0.8: %s\n", t.conns, ratioOf(2), kit.Verdict(ratioOf(2) >= 0.8))
			}
		case "list: status 1, last month", "list: vehicle filter":
			fmt.Printf("  %s, %d conns: %.1f× PocketBase, want ≥ 10: %s\n", t.name, t.conns, ratioOf(0), kit.Verdict(ratioOf(0) >= 10))
		default:
			var rates []float64
			for _, r := range t.sides[0].runs {
				rates = append(rates, r.Rate())
			}
			if ro := median(readOnly[t.conns]); ro > 0 {
				own := median(rates) / ro
				fmt.Printf("  %s, %d conns: %.2f of its read-only figure, want ≥ 0.8: %s (%.1f× PocketBase under its writes)\n",
					t.name, t.conns, own, kit.Verdict(own >= 0.8), ratioOf(0))
			}
		}
	}
	if up != nil {
		r := up.ours.MBps() / max(up.pb.MBps(), 1e-9)
		m := float64(up.ours.hwm) / float64(max(up.pb.hwm, 1))
		fmt.Printf("  uploads: %.2f× PocketBase's MB/s (want ≥ 1.5) at %.3f of its peak RSS (want ≤ 0.1): %s\n", r, m,
			kit.Verdict(r >= 1.5 && m <= 0.1 && up.ours.Errs == 0))
		fmt.Printf("    (1.5× PocketBase is %.1f MB/s; minio-go's PutObject stored %.1f MB/s into the same MinIO)\n", 1.5*up.pb.MBps(), up.raw.MBps())
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is "median [min–max]".
func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf(format+" ["+format+"–"+format+"]", median(xs), slices.Min(xs), slices.Max(xs))
}

func urlQuery(s string) string { return url.QueryEscape(s) }

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }
