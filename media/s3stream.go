package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/minio/minio-go/v7"

	"github.com/forteleasing/inspections/internal/limits"
)

// streamPartSize is the part of a streamed Put that is sent to the store while the next one arrives.
const streamPartSize = 8 << 20

// streamSlots is how many parts of a streamed Put the spool file holds at once: part k is written at
// slot k mod streamSlots once the part streamSlots before it has been sent, so the file stays at 32 MiB
// whatever the video's size. Writing into pages the file already has, rather than growing it to the
// whole video, spares the kernel reclaiming a page of the (full) page cache for every new one: that was
// 40 % of the service's CPU during eight concurrent uploads. When the store falls this far behind, the
// upload waits for it (TCP flow control slows the client).
const streamSlots = 4

// spoolWriteSize is the piece a streamed Put writes its spool file in.
const spoolWriteSize = 128 << 10

// putStreamed stores a body of unknown size (an upload as it arrives). The body is spooled to an
// unlinked temp file, and each full streamPartSize of it is sent from there as a part of a multipart
// upload by a second goroutine while the next part arrives: the store receives the video while the
// client is still sending it. Spooling it whole and then sending one PUT made the two wait for each
// other (0.70 of a raw PutObject's MB/s for 8 × 64 MiB). Either way the service holds no video in
// memory. A body of at most one part goes in one PUT. When the source or the store fails, the
// multipart upload is aborted, so nothing is left (an abort the store does not answer is left to the
// store's own expiry of stale uploads).
func (s *S3) putStreamed(ctx context.Context, key string, r io.Reader, contentType string) (Object, error) {
	f, err := os.CreateTemp("", "forteleasing-upload-*")
	if err != nil {
		return Object{}, fmt.Errorf("media: put %q: %w", key, storageErr(err))
	}
	_ = os.Remove(f.Name()) // gone from the directory at once; the space is freed on Close
	spool := &slotFile{f: f, space: s.spool}
	defer func() { f.Close(); spool.release() }()

	src := newBody(ctx, r, -1)
	var parts *partSender
	var n int64
	w := bufio.NewWriterSize(nil, spoolWriteSize)
	for k := 0; ; k++ {
		off := int64(k%streamSlots) * streamPartSize
		if parts != nil && !parts.acquire() {
			return Object{}, parts.abort()
		}
		// Written in large pieces: the multipart reader hands over a few KB at a time, and a pwrite
		// each was a third of the service's CPU during eight concurrent uploads. One buffer an upload.
		w.Reset(&slotWriter{f: spool, off: off})
		got, err := io.CopyN(w, src, streamPartSize)
		if ferr := w.Flush(); err == nil || errors.Is(err, io.EOF) {
			if ferr != nil {
				err = ferr
			}
		}
		n += got
		last := errors.Is(err, io.EOF) // fewer bytes than a part: the body has ended
		if n > s.spoolMax {
			err, last = fmt.Errorf("%w: body larger than %d bytes", ErrSizeMismatch, s.spoolMax), false
		}
		if err != nil && !last {
			if parts != nil {
				parts.abort()
			}
			return Object{}, fmt.Errorf("media: put %q: %w", key, storageErr(err))
		}
		if last && parts == nil {
			return s.putObject(ctx, key, io.NewSectionReader(f, 0, n), n, contentType)
		}
		if parts == nil {
			if parts, err = s.startParts(ctx, key, f, contentType); err != nil {
				return Object{}, err
			}
		}
		if got > 0 && !parts.send(off, got) {
			return Object{}, parts.abort()
		}
		if last {
			return parts.finish(n)
		}
	}
}

// partSender sends the spooled parts of one multipart upload in order, one at a time.
type partSender struct {
	s                    *S3
	ctx                  context.Context
	key, uploadID, ctype string
	f                    *os.File
	queue                chan spooledPart
	slots                chan struct{} // one per part written and not yet sent
	failed, done         chan struct{}
	closed               bool
	err                  error // the first failure; read after done
	completed            []minio.CompletePart
}

type spooledPart struct{ off, size int64 }

func (s *S3) startParts(ctx context.Context, key string, f *os.File, contentType string) (*partSender, error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.ensureBucket(bctx); err != nil {
		return nil, err
	}
	id, err := minio.Core{Client: s.client}.NewMultipartUpload(bctx, s.bucket, key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return nil, s.fail("put", key, err)
	}
	p := &partSender{s: s, ctx: ctx, key: key, uploadID: id, ctype: contentType, f: f,
		queue: make(chan spooledPart, streamSlots), slots: make(chan struct{}, streamSlots),
		failed: make(chan struct{}), done: make(chan struct{})}
	p.slots <- struct{}{} // the first part, spooled before the upload began
	go p.run()
	return p, nil
}

func (p *partSender) run() {
	defer close(p.done)
	core := minio.Core{Client: p.s.client}
	for part := range p.queue {
		if p.err != nil {
			<-p.slots
			continue // drain: the sender has failed
		}
		num := len(p.completed) + 1
		// Cancelled when the store takes no byte (or sends no answer) for the idle time.
		wctx, dog := newWatchdog(p.ctx, p.s.idle)
		sent, err := core.PutObjectPart(wctx, p.s.bucket, p.key, p.uploadID, num,
			watchedReader{r: io.NewSectionReader(p.f, part.off, part.size), w: dog}, part.size,
			// The service hashes every video itself; over plain HTTP minio-go would read each part
			// once more to sign its SHA-256.
			minio.PutObjectPartOptions{DisableContentSha256: true})
		if err != nil {
			if cause := context.Cause(wctx); errors.Is(cause, errNoProgress) {
				err = cause
			}
			p.err = p.s.fail("put", p.key, err)
			close(p.failed)
		}
		dog.stop()
		p.completed = append(p.completed, minio.CompletePart{PartNumber: num, ETag: sent.ETag})
		<-p.slots // its slot may be written again
	}
}

// acquire takes a slot for the next part, waiting while streamSlots parts wait for the store; false
// when the store has failed (the caller aborts).
func (p *partSender) acquire() bool {
	select {
	case p.slots <- struct{}{}:
		return true
	case <-p.failed:
		return false
	}
}

// send queues a spooled part; false when the store has failed (the caller aborts).
func (p *partSender) send(off, size int64) bool {
	select {
	case p.queue <- spooledPart{off: off, size: size}:
		return true
	case <-p.failed:
		return false
	}
}

func (p *partSender) wait() {
	if !p.closed {
		close(p.queue)
		p.closed = true
	}
	<-p.done
}

// abort ends the upload without an object and returns the store's failure, if there was one. After
// a failure of the store the abort runs on its own, so that a hanging store does not hold the answer
// for another idle time.
func (p *partSender) abort() error {
	p.wait()
	abort := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), p.s.idle)
		defer cancel()
		_ = minio.Core{Client: p.s.client}.AbortMultipartUpload(ctx, p.s.bucket, p.key, p.uploadID)
	}
	if p.err != nil {
		go abort()
	} else {
		abort()
	}
	return p.err
}

// finish waits for the parts and completes the upload of size bytes.
func (p *partSender) finish(size int64) (Object, error) {
	p.wait()
	if p.err != nil {
		return Object{}, p.abort()
	}
	ctx, cancel := p.s.bound(p.ctx)
	defer cancel()
	if _, err := (minio.Core{Client: p.s.client}).CompleteMultipartUpload(ctx, p.s.bucket, p.key, p.uploadID, p.completed,
		minio.PutObjectOptions{ContentType: p.ctype}); err != nil {
		p.err = p.s.fail("put", p.key, err)
		return Object{}, p.abort()
	}
	return Object{Key: p.key, Size: size, ContentType: p.ctype, ModTime: p.s.now()}, nil
}

// slotFile is a streamed Put's spool file, its size counted against the instance's spool budget.
type slotFile struct {
	f     *os.File
	space *limits.Space
	size  int64 // reserved: the largest end written
}

func (s *slotFile) release() {
	s.space.Release(s.size)
	s.size = 0
}

// slotWriter writes into a slotFile from off on.
type slotWriter struct {
	f   *slotFile
	off int64
}

func (w *slotWriter) Write(b []byte) (int, error) {
	if end := w.off + int64(len(b)); end > w.f.size {
		if err := w.f.space.Reserve(end - w.f.size); err != nil {
			return 0, err
		}
		w.f.size = end
	}
	n, err := w.f.f.WriteAt(b, w.off)
	w.off += int64(n)
	return n, err
}
