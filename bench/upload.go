package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
	"github.com/minio/minio-go/v7"
)

// uploadResult is one path's figures over its rounds, with the service's VmHWM and largest sampled VmRSS.
type uploadResult struct {
	kit.Uploads
	hwm, peak int64
}

// uploadOutcome is what measureUploads measured.
type uploadOutcome struct {
	raw, svc uploadResult
	tus      uploadResult // the same files as resumable (tus) uploads in 8 MiB PATCHes
	// resume is the time from a connection cut mid-PATCH to the resumed upload's finish, next to
	// undisturbed, what the same bytes took without a cut.
	resume, undisturbed time.Duration
	resumeErr           error
	stored              int
	rssBefore           int64
	minioHost           string
	serviceLog          string
}

func runUpload(ctx context.Context, o options) error {
	up, err := measureUploads(ctx, o)
	if err != nil {
		return err
	}
	size, n := o.uploadSize(), o.uploads
	raw, svc := up.raw, up.svc
	fmt.Printf("\nupload: %d concurrent uploads of %d MiB (ftyp + random mdat) to MinIO at %s, %d alternating rounds; MB = 10^6 bytes\n\n",
		n, size>>20, up.minioHost, o.rounds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "path\ttotal MB/s\tMB/s per round\twall\terrors\tVmHWM\tmax VmRSS\t÷ raw\t")
	fmt.Fprintf(w, "baseline: minio-go PutObject\t%.1f\t%s\t%s\t%d\t-\t-\t-\t\n",
		raw.MBps(), raw.PerRound(), raw.Wall.Round(time.Millisecond), raw.Errs)
	fmt.Fprintf(w, "service: POST /reports/upload\t%.1f\t%s\t%s\t%d\t%s\t%s\t%s\t\n", svc.MBps(), svc.PerRound(),
		svc.Wall.Round(time.Millisecond), svc.Errs, kit.MiB(svc.hwm), kit.MiB(svc.peak), ratio(svc.MBps(), raw.MBps()))
	tus := up.tus
	fmt.Fprintf(w, "service: tus /reports/uploads, 8 MiB PATCHes\t%.1f\t%s\t%s\t%d\t%s\t%s\t%s\t\n", tus.MBps(), tus.PerRound(),
		tus.Wall.Round(time.Millisecond), tus.Errs, kit.MiB(svc.hwm), kit.MiB(svc.peak), ratio(tus.MBps(), raw.MBps()))
	w.Flush()
	fmt.Println("(VmHWM and max VmRSS are of the service process over all its rounds, plain and tus.)")
	if up.resumeErr != nil {
		fmt.Printf("resume after a cut: %v\n", up.resumeErr)
	} else {
		fmt.Printf("resume after a cut: a %d MiB tus upload cut mid-PATCH at half-way finished %s after the cut (HEAD, then the rest); the same bytes took %s undisturbed\n",
			size>>20, up.resume.Round(time.Millisecond), up.undisturbed.Round(time.Millisecond))
	}
	for name, res := range map[string]uploadResult{"raw": raw, "service": svc, "tus": tus} {
		if res.FirstErr != nil {
			fmt.Printf("first error of %s: %v\n", name, res.FirstErr)
		}
	}
	fmt.Printf("\nthe service stored %d of %d videos at full size (videos/ and tus/)\n", up.stored, n*(len(svc.Rounds)+len(tus.Rounds))+1)
	fmt.Printf("target: service/raw ≥ 0.8 and service VmHWM < 100 MiB during the uploads: %s\n",
		kit.Verdict(svc.Errs == 0 && raw.Errs == 0 && svc.MBps() >= 0.8*raw.MBps() && svc.hwm < 100*1024))
	fmt.Printf("target: tus/raw ≥ 0.8 and service VmHWM < 100 MiB during the uploads: %s\n",
		kit.Verdict(tus.Errs == 0 && raw.Errs == 0 && tus.MBps() >= 0.8*raw.MBps() && svc.hwm < 100*1024))
	if svc.Errs > 0 {
		fmt.Printf("service log: %s\n", up.serviceLog)
	}
	return nil
}

// measureUploads starts its own service and alternates raw PutObject rounds with rounds through the service.
func measureUploads(ctx context.Context, o options) (*uploadOutcome, error) {
	size, n := o.uploadSize(), o.uploads
	if size < 64 || o.rounds < 1 {
		return nil, fmt.Errorf("-mib and -rounds must be positive")
	}
	r, err := setup(ctx, o, fmt.Sprintf("FL_UPLOAD_MAX_BYTES=%d", max(size, 64<<20)))
	if err != nil {
		return nil, err
	}
	defer r.close()
	biin, refKeys, err := seedUpload(ctx, r, 2*n*o.rounds+1) // plain, tus, and the cut upload
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	token, err := r.login(ctx, biin)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	mc, bucket, err := minioFor(r.s3URL)
	if err != nil {
		return nil, err
	}
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		if ok, _ := mc.BucketExists(ctx, bucket); !ok { // the service usually created it already
			return nil, fmt.Errorf("make bucket: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(o.rounds)*10*time.Minute)
	defer cancel()

	// Raw and service rounds alternate, so that a noisy neighbour slows both rather than one.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, DisableCompression: true}}
	var raw, svc, tus uploadResult
	rss := sampleRSS(r.svc.PID())
	for round := range o.rounds {
		kit.Logf("round %d/%d: minio-go PutObject, %d × %d MiB…", round+1, o.rounds, n, size>>20)
		raw.Round(n, size, func(i int) error {
			_, err := mc.PutObject(ctx, bucket, fmt.Sprintf("raw/%d-%d.mp4", round, i), kit.MP4(uint64(i), size), size,
				minio.PutObjectOptions{ContentType: "video/mp4"})
			return err
		})
		kit.Logf("round %d/%d: service POST /reports/upload, %d × %d MiB…", round+1, o.rounds, n, size>>20)
		profile(ctx, o, r, round, "upload-plain")
		svc.Round(n, size, func(i int) error {
			return postUpload(ctx, client, r.svc.Base, token, refKeys[round*n+i], kit.MP4(uint64(i), size), size)
		})
		kit.Logf("round %d/%d: service tus /reports/uploads, %d × %d MiB in 8 MiB PATCHes…", round+1, o.rounds, n, size>>20)
		profile(ctx, o, r, round, "upload-tus")
		tus.Round(n, size, func(i int) error {
			return tusUpload(ctx, client, r.svc.Base, token, refKeys[(o.rounds+round)*n+i], kit.MP4(uint64(i), size), size)
		})
		if ctx.Err() != nil {
			break
		}
	}
	kit.Logf("resume after a cut: one %d MiB tus upload…", size>>20)
	resume, undisturbed, resumeErr := resumeAfterCut(ctx, client, r.svc.Base, token, refKeys[2*n*o.rounds], 99, size)
	svc.hwm, svc.peak = rss.finish()
	kit.Logf("service VmRSS before the uploads: %s", kit.MiB(rss.before))

	stored := 0
	for _, prefix := range []string{"videos/", "tus/"} {
		for obj := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err == nil && obj.Size == size {
				stored++
			}
		}
	}

	return &uploadOutcome{raw: raw, svc: svc, tus: tus, resume: resume, undisturbed: undisturbed, resumeErr: resumeErr, stored: stored, rssBefore: rss.before, minioHost: mc.EndpointURL().Host,
		serviceLog: filepath.Join(r.dir, "service.log")}, nil
}

// postUpload sends one multipart upload as the app does: the form fields first, then the file, with an exact
// Content-Length, streaming the file from its generator.
func postUpload(ctx context.Context, client *http.Client, base, token, refKey string, file io.Reader, size int64) error {
	return kit.PostMultipart(ctx, client, base+"/reports/upload", "Bearer "+token, "file", kit.UploadFields(refKey), file, size, http.StatusCreated)
}

// profile saves a CPU profile of the service over the first 4 s of the first round's uploads of one
// kind into -pprof DIR.
func profile(ctx context.Context, o options, r *rig, round int, name string) {
	if o.pprofDir != "" && round == 0 {
		kit.Profile(ctx, r.svc.Admin, 0, 4*time.Second, filepath.Join(o.pprofDir, name+".pprof"))
	}
}
