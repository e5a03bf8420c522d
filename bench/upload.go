package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/minio/minio-go/v7"
)

// mp4Header is a minimal valid MP4 start: a 24-byte ftyp box; an mdat box of size-24 bytes follows.
func mp4Header(size int64) []byte {
	h := make([]byte, 0, 32)
	h = binary.BigEndian.AppendUint32(h, 24)
	h = append(h, "ftypisom"...)
	h = binary.BigEndian.AppendUint32(h, 0x00000200)
	h = append(h, "isommp41"...)
	h = binary.BigEndian.AppendUint32(h, uint32(size-24))
	return append(h, "mdat"...)
}

// mp4File streams a size-byte MP4 whose mdat is random bytes from a seeded generator, so the same
// file can be produced twice (for the raw baseline and for the service) without keeping it in memory.
func mp4File(seed uint64, size int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return io.MultiReader(bytes.NewReader(mp4Header(size)), io.LimitReader(rand.NewChaCha8(s), size-32))
}

// uploadResult is one path's figures over its rounds; each round sends all files at once and is timed
// from the first byte to the last answer.
type uploadResult struct {
	bytes     int64
	wall      time.Duration
	rounds    []string // MB/s of each round
	errs      int
	firstErr  error
	hwm, peak int64
}

func (u uploadResult) mbps() float64 { return float64(u.bytes) / 1e6 / u.wall.Seconds() }

// round runs send for 0..n-1 at once and adds the round to u.
func (u *uploadResult) round(n int, size int64, send func(i int) error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := send(i); err != nil {
				mu.Lock()
				u.errs++
				if u.firstErr == nil {
					u.firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	u.bytes += int64(n) * size
	u.wall += wall
	u.rounds = append(u.rounds, fmt.Sprintf("%.0f", float64(int64(n)*size)/1e6/wall.Seconds()))
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
		raw.mbps(), strings.Join(raw.rounds, " "), raw.wall.Round(time.Millisecond), raw.errs)
	fmt.Fprintf(w, "service: POST /reports/upload\t%.1f\t%s\t%s\t%d\t%s\t%s\t%s\t\n", svc.mbps(), strings.Join(svc.rounds, " "),
		svc.wall.Round(time.Millisecond), svc.errs, mib(svc.hwm), mib(svc.peak), ratio(svc.mbps(), raw.mbps()))
	tus := up.tus
	fmt.Fprintf(w, "service: tus /reports/uploads, 8 MiB PATCHes\t%.1f\t%s\t%s\t%d\t%s\t%s\t%s\t\n", tus.mbps(), strings.Join(tus.rounds, " "),
		tus.wall.Round(time.Millisecond), tus.errs, mib(svc.hwm), mib(svc.peak), ratio(tus.mbps(), raw.mbps()))
	w.Flush()
	fmt.Println("(VmHWM and max VmRSS are of the service process over all its rounds, plain and tus.)")
	if up.resumeErr != nil {
		fmt.Printf("resume after a cut: %v\n", up.resumeErr)
	} else {
		fmt.Printf("resume after a cut: a %d MiB tus upload cut mid-PATCH at half-way finished %s after the cut (HEAD, then the rest); the same bytes took %s undisturbed\n",
			size>>20, up.resume.Round(time.Millisecond), up.undisturbed.Round(time.Millisecond))
	}
	for name, res := range map[string]uploadResult{"raw": raw, "service": svc, "tus": tus} {
		if res.firstErr != nil {
			fmt.Printf("first error of %s: %v\n", name, res.firstErr)
		}
	}
	fmt.Printf("\nthe service stored %d of %d videos at full size (videos/ and tus/)\n", up.stored, n*(len(svc.rounds)+len(tus.rounds))+1)
	fmt.Printf("target: service/raw ≥ 0.8 and service VmHWM < 100 MiB during the uploads: %s\n",
		verdict(svc.errs == 0 && raw.errs == 0 && svc.mbps() >= 0.8*raw.mbps() && svc.hwm < 100*1024))
	fmt.Printf("target: tus/raw ≥ 0.8 and service VmHWM < 100 MiB during the uploads: %s\n",
		verdict(tus.errs == 0 && raw.errs == 0 && tus.mbps() >= 0.8*raw.mbps() && svc.hwm < 100*1024))
	if svc.errs > 0 {
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
		logf("round %d/%d: minio-go PutObject, %d × %d MiB…", round+1, o.rounds, n, size>>20)
		raw.round(n, size, func(i int) error {
			_, err := mc.PutObject(ctx, bucket, fmt.Sprintf("raw/%d-%d.mp4", round, i), mp4File(uint64(i), size), size,
				minio.PutObjectOptions{ContentType: "video/mp4"})
			return err
		})
		logf("round %d/%d: service POST /reports/upload, %d × %d MiB…", round+1, o.rounds, n, size>>20)
		svc.round(n, size, func(i int) error {
			return postUpload(ctx, client, r.base, token, refKeys[round*n+i], mp4File(uint64(i), size), size)
		})
		logf("round %d/%d: service tus /reports/uploads, %d × %d MiB in 8 MiB PATCHes…", round+1, o.rounds, n, size>>20)
		tus.round(n, size, func(i int) error {
			return tusUpload(ctx, client, r.base, token, refKeys[(o.rounds+round)*n+i], mp4File(uint64(i), size), size)
		})
		if ctx.Err() != nil {
			break
		}
	}
	logf("resume after a cut: one %d MiB tus upload…", size>>20)
	resume, undisturbed, resumeErr := resumeAfterCut(ctx, client, r.base, token, refKeys[2*n*o.rounds], 99, size)
	svc.hwm, svc.peak = rss.finish()
	logf("service VmRSS before the uploads: %s", mib(rss.before))

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
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	fields := [][2]string{{"ref_key", refKey}, {"time_sent", time.Now().Format("2006-01-02 15:04:05")}, {"lat", "43.238949"}, {"long", "76.889709"}}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="inspection.mp4"`)
	h.Set("Content-Type", "video/mp4")
	if _, err := mw.CreatePart(h); err != nil {
		return err
	}
	prelude := bytes.Clone(head.Bytes())
	head.Reset()
	if err := mw.Close(); err != nil { // writes only the closing boundary
		return err
	}
	trailer := head.Bytes()
	body := io.MultiReader(bytes.NewReader(prelude), file, bytes.NewReader(trailer))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/reports/upload", body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(prelude)) + size + int64(len(trailer))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	if resp.StatusCode != http.StatusCreated {
		return httpStatusError(resp.StatusCode, "upload "+refKey, answer)
	}
	return nil
}
