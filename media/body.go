package media

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// body wraps the reader given to Put. It enforces the declared size, so a truncated or padded
// upload is never stored as if it were whole, and it remembers the reader's own failure, so a
// client that disconnects is reported as such and not as the store being down.
type body struct {
	ctx  context.Context
	r    io.Reader
	size int64 // -1 when unknown
	n    int64
	err  error // first failure of the source, the context or the size check; nil if none
	eof  bool
}

func newBody(ctx context.Context, r io.Reader, size int64) *body {
	return &body{ctx: ctx, r: r, size: size}
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	if err := b.ctx.Err(); err != nil {
		return 0, b.fail(err)
	}
	if b.size >= 0 {
		if b.n == b.size {
			return 0, b.atEnd()
		}
		if rest := b.size - b.n; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case errors.Is(err, io.EOF) && b.size >= 0 && b.n < b.size:
		return n, b.fail(fmt.Errorf("%w: got %d of %d bytes", ErrSizeMismatch, b.n, b.size))
	case errors.Is(err, io.EOF):
		b.eof = true
		return n, io.EOF
	case err != nil:
		return n, b.fail(err)
	case b.size >= 0 && b.n == b.size:
		// Checked eagerly: consumers that stop at the declared length would never ask again.
		return n, b.atEnd()
	}
	return n, nil
}

// atEnd checks that the source ends where the declared size says it does.
func (b *body) atEnd() error {
	var one [1]byte
	_, err := io.ReadFull(b.r, one[:])
	switch {
	case err == nil:
		return b.fail(fmt.Errorf("%w: more than %d bytes", ErrSizeMismatch, b.size))
	case errors.Is(err, io.EOF):
		b.eof = true
		return io.EOF
	default:
		return b.fail(err)
	}
}

func (b *body) fail(err error) error {
	b.err = err
	return err
}
