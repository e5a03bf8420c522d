package onec

import "testing"

func TestVersion_OrderOfOneCsDataVersionsNumbersAndText(t *testing.T) {
	for _, c := range []struct {
		older, newer string
	}{
		{"AAAAzwAAAAA=", "AAAA0AAAAAA="}, // 1C's DataVersion, counter 0xCF → 0xD0 (as text the other way round)
		{"AAAA/wAAAAA=", "AAABAAAAAAA="}, // 0xFF → 0x100
		{"AAAAAQ", "AAAAAg"},             // unpadded
		{"9", "10"},
		{"0009", "10"},
		{"2026-03-01T10:00:00", "2026-03-02T09:00:00"}, // anything else: as text
		{"abc", "abd"},
	} {
		if !Version(c.older).olderThan(c.newer) || Version(c.newer).olderThan(c.older) {
			t.Errorf("%q should be older than %q", c.older, c.newer)
		}
	}
	for _, same := range [][2]string{{"AAAAzwAAAAA=", "AAAAzwAAAAA="}, {"10", "010"}, {"", "AAAA0AAAAAA="}, {"5", ""}} {
		if Version(same[0]).olderThan(same[1]) || Version(same[1]).olderThan(same[0]) {
			t.Errorf("%q and %q should not skip", same[0], same[1])
		}
	}
}
