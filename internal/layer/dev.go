package layer

import "sync/atomic"

// fakeDevMinor numbers the synthetic st_dev values of in-memory and afero
// backends, so that no two backends share one.
var fakeDevMinor atomic.Uint64

// FakeDev returns a new st_dev with the given major number and a minor
// never returned before, in glibc's makedev encoding.
func FakeDev(major uint64) uint64 {
	return Makedev(major, fakeDevMinor.Add(1))
}

// Makedev is glibc's makedev: the st_dev of a major and minor number.
func Makedev(major, minor uint64) uint64 {
	return (major&0xfffff000)<<32 | (major&0xfff)<<8 | (minor&0xffffff00)<<12 | minor&0xff
}
