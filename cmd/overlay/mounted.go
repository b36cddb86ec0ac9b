package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-overlay/overlay/internal/native"
)

// mountedBy returns the mount point of an overlay mounted on this machine
// that uses one of the dirs the options opts name ("" for none), as
// fsck.overlay refuses to repair layers in use. It reads
// /proc/self/mountinfo; an error means it could not.
func mountedBy(opts string) (string, error) {
	ours := map[string]bool{}
	for _, d := range optionDirs(opts) {
		ours[d] = true
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(fields) || fields[sep+1] != "overlay" {
			continue
		}
		for _, d := range optionDirs(native.UnescapeMountinfo(fields[sep+3])) {
			if ours[d] {
				return native.UnescapeMountinfo(fields[4]), nil
			}
		}
	}
	return "", sc.Err()
}

// optionDirs lists the dirs named by lowerdir=, upperdir= and workdir= in
// a mount option string, cleaned and absolute (":" and "," escaped with a
// backslash are part of a name).
func optionDirs(opts string) []string {
	var dirs []string
	for _, opt := range splitEscaped(opts, ',') {
		key, val, ok := strings.Cut(opt, "=")
		if !ok {
			continue
		}
		switch key {
		case "upperdir", "workdir":
			dirs = append(dirs, val)
		case "lowerdir", "lowerdir+", "datadir+":
			dirs = append(dirs, splitEscaped(val, ':')...)
		}
	}
	for i, d := range dirs {
		d = strings.NewReplacer(`\:`, ":", `\,`, ",", `\\`, `\`).Replace(d)
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		dirs[i] = d
	}
	return dirs
}

// splitEscaped splits s at each sep not escaped by a backslash, keeping
// the escapes.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
