package ondisk

import (
	"fmt"
	"strconv"
)

// ParseNlink reads the nlink xattr of an indexed inode: base is 'U' when
// the union link count is the upper inode's count plus delta, 'L' when it
// is the lower inode's. ok is false for a missing or malformed value,
// which the kernel ignores (ovl_get_nlink).
func ParseNlink(v []byte) (base byte, delta int64, ok bool) {
	if len(v) < 3 || len(v) > 12 || v[1] != '+' && v[1] != '-' || v[0] != 'U' && v[0] != 'L' {
		return 0, 0, false
	}
	d, err := strconv.ParseInt(string(v[1:]), 10, 32)
	if err != nil {
		return 0, 0, false
	}
	return v[0], d, true
}

// FormatNlink is the nlink xattr value for a union count delta above the
// inode counted by base ('U' or 'L'), as the kernel writes it
// (ovl_set_nlink_upper: "U%+i").
func FormatNlink(base byte, delta int64) []byte {
	return []byte(fmt.Sprintf("%c%+d", base, delta))
}
