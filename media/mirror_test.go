package media

import (
	"context"
	"strings"
	"testing"
)

func TestMirror_CopiesWhatIsMissingKeepsTypesAndRunsAgain(t *testing.T) {
	ctx := context.Background()
	stores := map[string]func(t *testing.T) Store{
		"disk": func(t *testing.T) Store { return openTestDisk(t, t.TempDir(), nil) },
		"s3":   func(t *testing.T) Store { return openTestS3(t) },
	}
	for _, pair := range [][2]string{{"s3", "disk"}, {"disk", "s3"}, {"disk", "disk"}} {
		t.Run(pair[0]+"→"+pair[1], func(t *testing.T) {
			src, dst := stores[pair[0]](t), stores[pair[1]](t)
			mustPut(t, src, "videos/c1/a.mp4", 1, 3*mib+1, "video/mp4")
			mustPut(t, src, "videos/c1/b.mp4", 2, 1000, "video/mp4")
			mustPut(t, src, "videos/c2/c.bin", 3, 0, "")
			// dst already has b (the same video) and a partial copy of a, say from an interrupted run.
			mustPut(t, dst, "videos/c1/b.mp4", 2, 1000, "video/mp4")
			mustPut(t, dst, "videos/c1/a.mp4", 1, 100, "video/mp4")

			var copied []string
			st, err := Mirror(ctx, src, dst, func(o Object) { copied = append(copied, o.Key) })
			if err != nil {
				t.Fatal(err)
			}
			if st.Copied != 2 || st.Present != 1 || st.Bytes != 3*mib+1 {
				t.Fatalf("stats %+v (copied %v), want a and c copied, b present", st, copied)
			}
			for key, want := range map[string][32]byte{"videos/c1/a.mp4": sumOf(t, randomBody(1, 3*mib+1)), "videos/c2/c.bin": sumOf(t, randomBody(3, 0))} {
				r, obj, err := dst.Open(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				got := sumOf(t, r)
				r.Close()
				if got != want {
					t.Errorf("%s differs after the mirror", key)
				}
				if wantType := map[bool]string{true: "video/mp4", false: defaultContentType}[strings.HasSuffix(key, ".mp4")]; obj.ContentType != wantType {
					t.Errorf("%s content type %q, want %q", key, obj.ContentType, wantType)
				}
			}
			again, err := Mirror(ctx, src, dst, nil)
			if err != nil || again.Copied != 0 || again.Present != 3 {
				t.Fatalf("second run: %+v %v, want nothing copied", again, err)
			}
		})
	}
}
