// Command overlay works on overlay layers offline: it checks and repairs
// them (fsck), and shows or sets their feature sets.
//
//	overlay fsck [-p|-n|-y] [-v] [--json] -o lowerdir=L1:L2,upperdir=U,workdir=W[,OPTION...]
//	overlay features [-userxattr] DIR...
//	overlay features -format [-userxattr] [-set NAME,...] DIR
//
// fsck takes fsck.overlay's syntax and exit codes (0 clean, 1 repaired, 4
// problems left, 8 operational error, 16 usage, 32 cancelled), and so
// does this binary when it is run under the name fsck.overlay (a symlink
// or a copy), which is what xfstests looks for. The -o options are the
// kernel's mount options (repeat -o or join them with commas); those that
// change what a layer may hold are honoured (userxattr, redirect_dir,
// metacopy, index, nfs_export, data-only layers), the others are
// accepted, as a mount accepts them. Without -p, -n or -y each repair is
// asked for on the terminal. Layers that an overlay mounted on this
// machine uses are refused (exit 8), except with -n.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay"
)

func main() {
	os.Exit(run(filepath.Base(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command with its name, arguments and standard files; it
// returns the exit code.
func run(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if name == "fsck.overlay" {
		return fsck(args, stdin, stdout, stderr)
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: overlay fsck|features ...")
		return overlay.ExitUsage
	}
	switch args[0] {
	case "fsck":
		return fsck(args[1:], stdin, stdout, stderr)
	case "features":
		return features(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "overlay: unknown command %q (fsck, features)\n", args[0])
	return overlay.ExitUsage
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

const exitCancelled = 32

func fsck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("fsck", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var opts multiFlag
	fl.Var(&opts, "o", "mount options: lowerdir=...,upperdir=...,workdir=...")
	auto := fl.Bool("p", false, "make the safe repairs without asking")
	no := fl.Bool("n", false, "change nothing, answer no to every repair")
	yes := fl.Bool("y", false, "make every repair without asking")
	verbose := fl.Bool("v", false, "say what is checked")
	asJSON := fl.Bool("json", false, "print the report as JSON")
	if err := fl.Parse(args); err != nil {
		return overlay.ExitUsage
	}
	n := 0
	for _, b := range []bool{*auto, *no, *yes} {
		if b {
			n++
		}
	}
	if n > 1 || len(opts) == 0 || fl.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: fsck.overlay [-p|-n|-y] [-v] [-json] -o lowerdir=...,upperdir=...,workdir=...")
		return overlay.ExitUsage
	}
	o, err := overlay.ParseOptions(strings.Join(opts, ","))
	if err != nil {
		fmt.Fprintf(stderr, "fsck.overlay: %v\n", err)
		var oe *overlay.OptionError
		if errors.As(err, &oe) && errors.Is(err, syscall.EINVAL) && oe.Option != "lowerdir" && oe.Option != "upperdir" && oe.Option != "workdir" {
			return overlay.ExitUsage
		}
		return overlay.ExitOperational
	}
	defer closeLayers(o)

	c := overlay.CheckOptions{Mode: overlay.CheckAsk}
	switch {
	case *auto:
		c.Mode = overlay.CheckSafe
	case *no:
		c.Mode = overlay.CheckNoChange
	case *yes:
		c.Mode = overlay.CheckAll
	default:
		in := bufio.NewReader(stdin)
		c.Ask = func(p overlay.Problem) bool {
			fmt.Fprintf(stdout, "%s\n  %s? [y/n] ", p, p.Repair)
			line, _ := in.ReadString('\n')
			return strings.HasPrefix(strings.TrimSpace(strings.ToLower(line)), "y")
		}
	}
	if c.Mode != overlay.CheckNoChange {
		if m, err := mountedBy(strings.Join(opts, ",")); err == nil && m != "" {
			fmt.Fprintf(stderr, "fsck.overlay: the layers are in use by the overlay mounted on %s\n", m)
			return overlay.ExitOperational
		}
	}
	if *verbose {
		fmt.Fprintf(stdout, "checking lowerdir=%v upperdir=%v\n", o.Lower, o.Upper)
	}

	// A signal ends the run between two repairs, never in one.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	cancelled := false
	if ask := c.Ask; c.Mode != overlay.CheckNoChange {
		mode := c.Mode
		c.Mode = overlay.CheckAsk
		c.Ask = func(p overlay.Problem) bool {
			select {
			case <-sig:
				cancelled = true
			default:
			}
			switch {
			case cancelled:
				return false
			case mode == overlay.CheckSafe:
				return p.Safe
			case mode == overlay.CheckAll:
				return true
			}
			return ask(p)
		}
	}
	r, err := overlay.Check(o, c)
	code := overlay.ExitOperational
	if r != nil {
		code = r.ExitCode()
		report(stdout, r, *asJSON, *verbose)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fsck.overlay: %v\n", err)
		code |= overlay.ExitOperational
	}
	if cancelled {
		code |= exitCancelled
	}
	if code&overlay.ExitUncorrected != 0 {
		code &^= overlay.ExitCorrected
	}
	return code
}

// report prints what the check found.
func report(w io.Writer, r *overlay.CheckReport, asJSON, verbose bool) {
	if asJSON {
		type problem struct {
			Kind     string `json:"kind"`
			Layer    string `json:"layer"`
			Path     string `json:"path"`
			Detail   string `json:"detail,omitempty"`
			Repair   string `json:"repair,omitempty"`
			Safe     bool   `json:"safe"`
			Repaired bool   `json:"repaired"`
			Error    string `json:"error,omitempty"`
		}
		out := struct {
			Problems []problem `json:"problems"`
			Exit     int       `json:"exit"`
		}{Problems: []problem{}, Exit: r.ExitCode()}
		for _, p := range r.Problems {
			q := problem{Kind: p.Kind.String(), Layer: p.Layer, Path: p.Path, Detail: p.Detail, Repair: p.Repair, Safe: p.Safe, Repaired: p.Repaired}
			if p.Err != nil {
				q.Error = p.Err.Error()
			}
			out.Problems = append(out.Problems, q)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, p)
	}
	switch {
	case len(r.Problems) == 0:
		fmt.Fprintln(w, "Filesystem clean")
	case r.Unrepaired() == 0:
		fmt.Fprintln(w, "Filesystem repaired")
	default:
		fmt.Fprintf(w, "%d problem(s) left\n", r.Unrepaired())
	}
}

func closeLayers(o overlay.Options) {
	for _, l := range append(append(append([]*overlay.Layer{}, o.Lower...), o.DataOnly...), o.Upper, o.Work) {
		if l != nil {
			l.Close()
		}
	}
}
