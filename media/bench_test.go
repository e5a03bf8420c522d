package media

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/minio/minio-go/v7"
)

const benchSize = 64 << 20

// patternReader yields n bytes by repeating a 1 MiB random block: cheap to generate, never
// held whole, and (unlike bytes.Reader) not an io.ReaderAt, like an upload stream.
type patternReader struct {
	block []byte
	off   int
	left  int64
}

func newPatternReader(n int64) *patternReader {
	block := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(block)
	return &patternReader{block: block, left: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := copy(b, p.block[p.off:])
	p.off = (p.off + n) % len(p.block)
	p.left -= int64(n)
	return n, nil
}

// BenchmarkPut stores 64 MiB per op. "s3-minio-direct" calls minio-go's PutObject with its
// defaults on the same kind of stream: the baseline the "s3" variants are compared with.
func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	put := func(b *testing.B, s Store, size int64) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Put(ctx, "bench/v.mp4", newPatternReader(benchSize), size, "video/mp4"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("disk", func(b *testing.B) { put(b, openTestDisk(b, b.TempDir(), nil), benchSize) })
	b.Run("disk-size-unknown", func(b *testing.B) { put(b, openTestDisk(b, b.TempDir(), nil), -1) })
	b.Run("s3", func(b *testing.B) { put(b, openTestS3(b), benchSize) })
	b.Run("s3-size-unknown", func(b *testing.B) { put(b, openTestS3(b), -1) })
	b.Run("s3-minio-direct", func(b *testing.B) {
		s := openTestS3(b)
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			_, err := s.client.PutObject(ctx, s.bucket, "bench/v.mp4", newPatternReader(benchSize), benchSize,
				minio.PutObjectOptions{ContentType: "video/mp4"})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
