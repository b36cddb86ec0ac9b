package layer

import "sync/atomic"

// fakeDevMinor numbers the synthetic st_dev values of in-memory and afero
// backends, so that no two backends share one.
var fakeDevMinor atomic.Uint64

// FakeDev returns a new st_dev with the given major number and a minor
// never returned before, in glibc's makedev encoding.
func FakeDev(major uint64) uint64 {
	minor := fakeDevMinor.Add(1)
	return (major&0xfff)<<8 | (major&0xfffff000)<<32 | minor&0xff | (minor&0xffffff00)<<12
}
