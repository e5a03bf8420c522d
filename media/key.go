package media

import (
	"fmt"
	"strings"
)

const (
	maxKeyLen = 512
	// Leaves room under the usual 255-byte file-name limit for the disk store's sidecar suffix.
	maxSegmentLen = 200
)

// checkKey is the path-traversal defence of the disk store, applied to every store so keys
// behave the same everywhere. Segments may not start with '.': that rules out "." and ".."
// and reserves dot names for the disk store's temp and metadata files.
func checkKey(key string) error {
	if key == "" || len(key) > maxKeyLen {
		return fmt.Errorf("%w: length must be 1..%d", ErrInvalidKey, maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return fmt.Errorf("%w: %q: only A-Z a-z 0-9 . _ - / allowed", ErrInvalidKey, key)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q: empty path segment", ErrInvalidKey, key)
		case seg[0] == '.':
			return fmt.Errorf("%w: %q: segment starts with '.'", ErrInvalidKey, key)
		case len(seg) > maxSegmentLen:
			return fmt.Errorf("%w: %q: segment longer than %d", ErrInvalidKey, key, maxSegmentLen)
		}
	}
	return nil
}

// checkPrefix accepts what could begin a valid key: "" or a valid key's leading characters.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > maxKeyLen {
		return fmt.Errorf("%w: prefix longer than %d", ErrInvalidKey, maxKeyLen)
	}
	if dir, _, ok := cutLast(prefix, "/"); ok {
		if err := checkKey(dir); err != nil {
			return err
		}
	}
	for i := 0; i < len(prefix); i++ {
		if !keyByte(prefix[i]) {
			return fmt.Errorf("%w: prefix %q: only A-Z a-z 0-9 . _ - / allowed", ErrInvalidKey, prefix)
		}
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '/'
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
