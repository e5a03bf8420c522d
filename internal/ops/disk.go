package ops

import (
	"context"
	"fmt"
	"os"
	"syscall"
)

// FreeSpace is a readiness check that fails while any of dirs has less than min bytes free for the
// service (SQLite's directory, the disk media store, the upload spool): a full disk makes writes fail
// with 503, and the load balancer should send the traffic elsewhere meanwhile.
func FreeSpace(min int64, dirs ...string) Check {
	return func(context.Context) error {
		for _, dir := range dirs {
			if dir == "" {
				continue
			}
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				if os.IsNotExist(err) {
					continue
				}
				return fmt.Errorf("statfs %s: %w", dir, err)
			}
			if free := int64(st.Bavail) * int64(st.Bsize); free < min {
				return fmt.Errorf("low on disk space: %d bytes free, less than %d", free, min)
			}
		}
		return nil
	}
}
