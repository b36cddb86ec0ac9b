package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/go-overlay/overlay"
)

// features shows the feature sets of layer dirs, formats a fresh one, or
// adds features to one.
func features(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("features", flag.ContinueOnError)
	fl.SetOutput(stderr)
	userxattr := fl.Bool("userxattr", false, "the record is in user.overlay.* (as for a userxattr overlay)")
	format := fl.Bool("format", false, "give an empty layer a feature set, as mkfs.overlay does")
	set := fl.String("set", "", "features to add, by name (origin, impure, uuid, index, nfs_export, redirect_dir, metacopy, ...)")
	if err := fl.Parse(args); err != nil {
		return overlay.ExitUsage
	}
	if fl.NArg() == 0 || (*format || *set != "") && fl.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: overlay features [-userxattr] DIR... | overlay features [-format] [-set NAME,...] [-userxattr] DIR")
		return overlay.ExitUsage
	}
	var f overlay.FeatureSet
	for _, name := range strings.Split(*set, ",") {
		if name == "" {
			continue
		}
		g, ok := overlay.ParseFeature(name)
		if !ok {
			fmt.Fprintf(stderr, "overlay features: unknown feature %q\n", name)
			return overlay.ExitUsage
		}
		f.Compat, f.ROCompat, f.Incompat = f.Compat|g.Compat, f.ROCompat|g.ROCompat, f.Incompat|g.Incompat
	}
	code := 0
	for _, dir := range fl.Args() {
		l, err := overlay.DirLayer(dir)
		if err != nil {
			fmt.Fprintf(stderr, "overlay features: %v\n", err)
			code = overlay.ExitOperational
			continue
		}
		switch {
		case *format:
			err = overlay.FormatLayer(l, *userxattr, f)
		case *set != "":
			err = overlay.AddFeatures(l, *userxattr, f)
		}
		if err == nil {
			var got overlay.FeatureSet
			var ok bool
			if got, ok, err = overlay.ReadFeatures(l); err == nil {
				if ok {
					fmt.Fprintf(stdout, "%s: %v\n", dir, got)
				} else {
					fmt.Fprintf(stdout, "%s: no feature set\n", dir)
				}
			}
		}
		l.Close()
		if err != nil {
			fmt.Fprintf(stderr, "overlay features: %s: %v\n", dir, err)
			code = overlay.ExitOperational
		}
	}
	return code
}
