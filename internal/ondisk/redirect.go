package ondisk

import (
	"strings"
	"syscall"
)

// ParseRedirect reads a redirect xattr value as the kernel does
// (ovl_get_redirect_xattr): the value is a C string, cut at its first NUL;
// an empty value, an absolute one with an empty component ("/", "//",
// "/a/") or a relative one with a "/" is EINVAL. A relative redirect that
// is empty after the cut is returned as ".": like "." and "..", and an
// absolute one's "." and ".." components, it is refused with EACCES only
// when a lower layer is searched under it (lookup_one_len), so no
// redirect can point outside a layer. A component too long for a name is
// kept: looking it up finds nothing (ENAMETOOLONG counts as not found).
func ParseRedirect(v []byte) (string, error) {
	if len(v) == 0 {
		return "", syscall.EINVAL
	}
	r := string(v)
	if i := strings.IndexByte(r, 0); i >= 0 {
		r = r[:i]
	}
	if r == "" {
		return ".", nil
	}
	if r[0] != '/' {
		if strings.Contains(r, "/") {
			return "", syscall.EINVAL
		}
		return r, nil
	}
	for _, c := range strings.Split(r[1:], "/") {
		if c == "" {
			return "", syscall.EINVAL
		}
	}
	return r, nil
}
