package media

import (
	"context"
	"errors"
	"fmt"
)

// MirrorStats says what Mirror did.
type MirrorStats struct {
	Copied, Present int   // objects copied; objects dst already had at the same size
	Bytes           int64 // bytes copied
}

// Mirror copies every object of src that dst lacks (or holds at another size) to dst, one streamed object
// at a time, keeping keys and content types: the videos' backup to a directory or a second bucket, and
// their restore. It never deletes from dst, so it can be run again to bring a backup up to date. Videos
// are written once and never changed, so an object of the right size is the right object.
func Mirror(ctx context.Context, src, dst Store, onCopy func(Object)) (MirrorStats, error) {
	var st MirrorStats
	err := src.List(ctx, "", func(o Object) error {
		if have, err := dst.Stat(ctx, o.Key); err == nil && have.Size == o.Size {
			st.Present++
			return nil
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		r, obj, err := src.Open(ctx, o.Key)
		if err != nil {
			return err
		}
		defer r.Close()
		put, err := dst.Put(ctx, o.Key, r, obj.Size, obj.ContentType)
		if err != nil {
			return err
		}
		st.Copied++
		st.Bytes += put.Size
		if onCopy != nil {
			onCopy(put)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("media: mirror %v to %v: %w", src, dst, err)
	}
	return st, nil
}
