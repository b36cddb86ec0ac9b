package overlay_test

import (
	"bufio"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// The scenario table lives in testdata/scenarios, one file per category
// (the part of a scenario's name before "/"), and fixtures.txt holds the
// fixtures several scenarios share. A file is a sequence of blocks; lines
// starting with "#" between blocks are comments:
//
//	fixture NAME            (fixtures.txt: a shared fixture)
//	FIXTURE LINES
//	end
//
//	scenario CATEGORY/NAME
//	ro                      (optional: no upper layer)
//	kernel-format           (optional: not run on OCI-format layers)
//	fixture [NAME]          the shared fixture NAME, then more lines of
//	FIXTURE LINES           its own (or only its own, without NAME)
//	ops
//	SCRIPT LINES
//	end
//
// Fixture lines are in the layertest format, script lines as the top of
// scenarios_test.go says.

// scenarioFiles holds the table, embedded so that the test binary has it
// wherever it runs (the tests re-run it as another user, in a chroot).
//
//go:embed testdata/scenarios/*.txt
var scenarioFiles embed.FS

// scenarios is the shared table; sharedFixtures, its shared fixtures.
var scenarios, sharedFixtures = mustLoadScenarios(scenarioFiles, "testdata/scenarios")

func mustLoadScenarios(fsys fs.FS, dir string) ([]scenario, map[string]string) {
	scs, shared, err := loadScenarios(fsys, dir)
	if err != nil {
		panic(err)
	}
	return scs, shared
}

// loadScenarios reads the table in dir (the categories in name order,
// each file's scenarios in file order) and its shared fixtures.
func loadScenarios(fsys fs.FS, dir string) ([]scenario, map[string]string, error) {
	shared := map[string]string{}
	if err := readBlocks(fsys, path.Join(dir, "fixtures.txt"), func(head string, body []string) error {
		name, ok := strings.CutPrefix(head, "fixture ")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("%q: want \"fixture NAME\"", head)
		}
		shared[name] = strings.Join(body, "\n") + "\n"
		return nil
	}); err != nil {
		return nil, nil, err
	}
	files, err := fs.Glob(fsys, path.Join(dir, "*.txt"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	var scs []scenario
	seen := map[string]bool{}
	for _, f := range files {
		if path.Base(f) == "fixtures.txt" {
			continue
		}
		category := strings.TrimSuffix(path.Base(f), ".txt")
		err := readBlocks(fsys, f, func(head string, body []string) error {
			sc, err := parseScenario(head, body, shared)
			if err != nil {
				return err
			}
			switch {
			case !strings.HasPrefix(sc.name, category+"/"):
				return fmt.Errorf("scenario %s in %s.txt", sc.name, category)
			case seen[sc.name]:
				return fmt.Errorf("scenario %s twice", sc.name)
			}
			seen[sc.name] = true
			scs = append(scs, sc)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return scs, shared, nil
}

// parseScenario makes a scenario of a block.
func parseScenario(head string, body []string, shared map[string]string) (scenario, error) {
	name, ok := strings.CutPrefix(head, "scenario ")
	if !ok || strings.TrimSpace(name) == "" {
		return scenario{}, fmt.Errorf("%q: want \"scenario NAME\"", head)
	}
	sc := scenario{name: name}
	i := 0
	for ; i < len(body) && (body[i] == "ro" || body[i] == "kernel-format"); i++ {
		sc.ro = sc.ro || body[i] == "ro"
		sc.kernelFormat = sc.kernelFormat || body[i] == "kernel-format"
	}
	if i == len(body) || body[i] != "fixture" && !strings.HasPrefix(body[i], "fixture ") {
		return scenario{}, fmt.Errorf("scenario %s: no fixture line", name)
	}
	if base, named := strings.CutPrefix(body[i], "fixture "); named {
		fix, ok := shared[base]
		if !ok {
			return scenario{}, fmt.Errorf("scenario %s: no shared fixture %q", name, base)
		}
		sc.fix = fix
	}
	i++
	j := i
	for j < len(body) && body[j] != "ops" {
		j++
	}
	if j == len(body) {
		return scenario{}, fmt.Errorf("scenario %s: no ops line", name)
	}
	if j > i {
		sc.fix += strings.Join(body[i:j], "\n") + "\n"
	}
	sc.ops = strings.Join(body[j+1:], "\n")
	return sc, nil
}

// readBlocks calls fn for each block of file in fsys: its first line and the
// lines up to its "end".
func readBlocks(fsys fs.FS, file string, fn func(head string, body []string) error) error {
	f, err := fsys.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	line := 0
	var head string
	var body []string
	in := false
	for s.Scan() {
		line++
		l := s.Text()
		switch {
		case !in && (strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#")):
		case !in:
			head, body, in = l, nil, true
		case l == "end":
			if err := fn(head, body); err != nil {
				return fmt.Errorf("%s:%d: %v", file, line, err)
			}
			in = false
		default:
			body = append(body, l)
		}
	}
	if in {
		return fmt.Errorf("%s: block %q has no end", file, head)
	}
	return s.Err()
}
