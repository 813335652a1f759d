package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzLoop is the loop `make -n fuzz` prints, with FUZZ_TARGETS expanded.
var fuzzLoop = regexp.MustCompile(`for t in ([^;]*); do`)

// TestMakeFuzzRunsEveryFuzzTarget: `make fuzz` fuzzes every Fuzz function of the repository's Go
// sources where it is, and nothing else: a target moved to another package or added is never left
// out, and none listed is missing (one that moved would fuzz nothing and still pass).
func TestMakeFuzzRunsEveryFuzzTarget(t *testing.T) {
	r := root(t)
	out, err := exec.Command("make", "-s", "-n", "-C", r, "fuzz").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n fuzz: %v\n%s", err, out)
	}
	m := fuzzLoop.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("make -n fuzz prints no loop over FUZZ_TARGETS:\n%s", out)
	}
	listed := strings.Fields(m[1])
	slices.Sort(listed)

	var found []string
	err = filepath.WalkDir(r, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != r && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Fuzz") {
				found = append(found, filepath.ToSlash(rel(r, filepath.Dir(path)))+":"+fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	if len(found) < 5 {
		t.Fatalf("found only %d fuzz targets in the sources: the walk is broken", len(found))
	}
	for _, f := range found {
		if !slices.Contains(listed, f) {
			t.Errorf("make fuzz leaves out %s", f)
		}
	}
	for _, l := range listed {
		if !slices.Contains(found, l) {
			t.Errorf("make fuzz lists %s, which no test file defines", l)
		}
	}
	t.Logf("%d fuzz targets: %s", len(found), strings.Join(found, " "))
}
