package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/dashboardops/access-operator/internal/testenv"
)

func root(t *testing.T) string {
	t.Helper()
	r, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // the test's own files
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// makeVar is the Makefile's value of a variable (NAME := or ?= value).
func makeVar(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` [?:]?= (.+)$`).FindStringSubmatch(readFile(t, filepath.Join(root(t), "Makefile")))
	if m == nil {
		t.Fatalf("the Makefile has no %s", name)
	}
	return m[1]
}

// goBuild builds the stand-in manager (testdata/manager) with the Makefile's GO_BUILD run as make
// runs it (by sh), VERSION=version.
func goBuild(t *testing.T, version, out string) {
	t.Helper()
	cmdline := makeVar(t, "GO_BUILD")
	if !strings.Contains(cmdline, "$(VERSION)") {
		t.Fatalf("GO_BUILD does not link VERSION in: %s", cmdline)
	}
	cmdline = strings.ReplaceAll(cmdline, "$(VERSION)", version) + " -o " + out + " ./hack/image/testdata/manager"
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = root(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}
}

// readBack opens the archive with go-containerregistry's OCI layout reader, as an importer
// would: the one image of index.json, and its descriptor there.
func readBack(t *testing.T, archive string) (v1.Image, v1.Descriptor) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(archive) //nolint:gosec // the test's own file
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("not an OCI image layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validateBlobs(img); err != nil {
		t.Fatalf("the archive's blobs do not match their digests: %v", err)
	}
	return img, im.Manifests[0]
}

// validateBlobs reads every blob, so that a digest that does not match its bytes fails.
func validateBlobs(img v1.Image) error {
	if _, err := img.ConfigFile(); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed() // the layout reader verifies the digest at EOF
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// files is every file of the image's layers, by path, with its bytes (directories: nil).
func files(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if h.Typeflag != tar.TypeDir {
				if body, err = io.ReadAll(tr); err != nil {
					t.Fatal(err)
				}
			}
			out[strings.TrimSuffix(h.Name, "/")] = body
		}
		_ = rc.Close()
	}
	return out
}

// TestImageIsReproducible: the same binary gives the same archive, byte for byte, written twice;
// another VERSION gives another digest (a rolling update needs a new image).
func TestImageIsReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "manager")
	goBuild(t, "v1.2.3-test", bin)
	created := time.Unix(0, 0).UTC()
	digests := make([]v1.Hash, 0, 2)
	archives := make([]string, 0, 2)
	for i := range 2 {
		out := filepath.Join(dir, "run"+string(rune('a'+i)), "manager.tar")
		digest, _, err := Write(bin, "ghcr.io/dashboardops/access-operator:dev", out, created)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, digest)
		archives = append(archives, readFile(t, out))
		_, desc := readBack(t, out)
		if desc.Digest != digest {
			t.Errorf("Write reported %s, the archive's index.json names %s", digest, desc.Digest)
		}
	}
	t.Logf("digest %s, archive %d bytes", digests[0], len(archives[0]))
	if digests[0] != digests[1] {
		t.Errorf("the same binary gave two digests: %s, %s", digests[0], digests[1])
	}
	if archives[0] != archives[1] {
		t.Error("the same binary gave two different archives")
	}

	other := filepath.Join(dir, "manager-other")
	goBuild(t, "v1.2.4-test", other)
	digest, _, err := Write(other, "ghcr.io/dashboardops/access-operator:dev", filepath.Join(dir, "other.tar"), created)
	if err != nil {
		t.Fatal(err)
	}
	if digest == digests[0] {
		t.Errorf("VERSION v1.2.3-test and v1.2.4-test gave the same digest %s", digest)
	}
}

// TestImageRunsLikeTheDockerfile: what the Dockerfile's image is, the archive is: the same user
// (the Dockerfile's USER), /manager as the entrypoint, no shell nor any file beyond distroless's
// few, the binary built with the Makefile's GO_BUILD flags (read from the binary in the image),
// and named for ctr to tag it.
func TestImageRunsLikeTheDockerfile(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "manager")
	goBuild(t, "v1.2.3-test", bin)
	out := filepath.Join(dir, "manager.tar")
	if _, _, err := Write(bin, "ghcr.io/dashboardops/access-operator:dev", out, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	img, desc := readBack(t, out)

	for _, key := range []string{RefNameAnnotation, ContainerdNameAnnotation} {
		if got := desc.Annotations[key]; got != "ghcr.io/dashboardops/access-operator:dev" {
			t.Errorf("index.json's %s is %q, want the image's name", key, got)
		}
	}

	dockerfile := readFile(t, filepath.Join(root(t), "Dockerfile"))
	user := regexp.MustCompile(`(?m)^USER (\S+)$`).FindStringSubmatch(dockerfile)
	if user == nil {
		t.Fatal("the Dockerfile has no USER")
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != user[1] {
		t.Errorf("the image runs as %q, the Dockerfile's as %q", cfg.Config.User, user[1])
	}
	if !strings.Contains(dockerfile, `ENTRYPOINT ["`+Entrypoint+`"]`) || !slices.Equal(cfg.Config.Entrypoint, []string{Entrypoint}) {
		t.Errorf("entrypoint %q; the Dockerfile's must be [%q] too", cfg.Config.Entrypoint, Entrypoint)
	}
	if len(cfg.Config.Cmd) != 0 || cfg.Config.WorkingDir != "/" || cfg.OS != "linux" {
		t.Errorf("config: cmd %q, workdir %q, os %q", cfg.Config.Cmd, cfg.Config.WorkingDir, cfg.OS)
	}

	fs := files(t, img)
	names := make([]string, 0, len(fs))
	for name := range fs {
		names = append(names, name)
	}
	slices.Sort(names)
	// Every file is named here: a shell, a package manager, a CA file from the host would show.
	want := []string{"etc", "etc/group", "etc/nsswitch.conf", "etc/passwd", "home", "home/nonroot", "manager", "tmp"}
	if !slices.Equal(names, want) {
		t.Errorf("the image holds %q, want %q", names, want)
	}
	for name := range fs {
		if base := filepath.Base(name); base == "sh" || base == "bash" || base == "busybox" {
			t.Errorf("the image has a shell: /%s", name)
		}
	}
	uid := strings.Split(user[1], ":")[0]
	if !strings.Contains(string(fs["etc/passwd"]), "nonroot:x:"+uid+":") {
		t.Errorf("/etc/passwd does not name UID %s:\n%s", uid, fs["etc/passwd"])
	}

	info, err := buildinfo.Read(bytes.NewReader(fs["manager"]))
	if err != nil {
		t.Fatalf("/manager: %v", err)
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	goBuildFlags := makeVar(t, "GO_BUILD")
	for _, flag := range []string{"CGO_ENABLED=0", "-trimpath", "-buildvcs=false", `-ldflags="-s -w -X main.version=$(VERSION)"`} {
		if !strings.Contains(goBuildFlags, flag) {
			t.Errorf("GO_BUILD lacks %s: %s", flag, goBuildFlags)
		}
	}
	// What the binary says of its build: Go records CGO_ENABLED and -trimpath, but with -trimpath
	// not -ldflags, and no -buildvcs=false; those show in their effects.
	if got["CGO_ENABLED"] != "0" || got["-trimpath"] != "true" {
		t.Errorf("/manager was built with CGO_ENABLED=%q -trimpath=%q, GO_BUILD says 0 and true", got["CGO_ENABLED"], got["-trimpath"])
	}
	for k := range got {
		if strings.HasPrefix(k, "vcs") {
			t.Errorf("/manager carries %s=%q: GO_BUILD has -buildvcs=false (the Dockerfile's build has no .git)", k, got[k])
		}
	}
	exe := filepath.Join(dir, "from-image")
	if err := os.WriteFile(exe, fs["manager"], 0o700); err != nil { //nolint:gosec // a test binary
		t.Fatal(err)
	}
	if b, err := exec.Command(exe).Output(); err != nil || strings.TrimSpace(string(b)) != "v1.2.3-test" {
		t.Errorf("/manager prints version %q (%v), want v1.2.3-test: -X main.version=$(VERSION) did not take", b, err)
	}
	e, err := elf.NewFile(bytes.NewReader(fs["manager"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range e.Sections {
		if sec.Name == ".symtab" || strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
			t.Errorf("/manager has section %s: not linked with -s -w", sec.Name)
		}
	}
	if e.Section(".interp") != nil {
		t.Error("/manager has an ELF interpreter: not static")
	}
}

// TestMakeImageBuildsWithGoBuild: `make image` packs the binary GO_BUILD makes of the manager,
// the manager has the variable GO_BUILD's -X sets (the linker ignores -X of a missing one), and it
// links the fallback roots the image's missing CA file needs.
func TestMakeImageBuildsWithGoBuild(t *testing.T) {
	makefile := readFile(t, filepath.Join(root(t), "Makefile"))
	recipe := regexp.MustCompile(`(?m)^image:.*\n((?:\t.*\n)+)`).FindStringSubmatch(makefile)
	if recipe == nil {
		t.Fatal("the Makefile has no image target")
	}
	for _, want := range []string{"\t$(GO_BUILD) -o bin/image/manager .\n", "\tgo run ./hack/image -binary bin/image/manager "} {
		if !strings.Contains(recipe[1], want) {
			t.Errorf("make image does not run %q:\n%s", strings.TrimSpace(want), recipe[1])
		}
	}
	if !strings.Contains(makeVar(t, "GO_BUILD"), "-X main.version=$(VERSION)") {
		t.Error("GO_BUILD does not set main.version")
	}
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root(t), "main.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					found = found || n.Name == "version"
				}
			}
		}
	}
	if !found {
		t.Error("main.go has no package-level var version for -X main.version to set")
	}
	// The image has no CA file: without the fallback roots the SMTP notifier could verify no server.
	if !slices.ContainsFunc(f.Imports, func(i *ast.ImportSpec) bool { return i.Path.Value == `"golang.org/x/crypto/x509roots/fallback"` }) {
		t.Error("main.go does not import golang.org/x/crypto/x509roots/fallback: the image has no CA file")
	}
}

func TestCheckStatic(t *testing.T) {
	ok := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": "amd64"}
	if err := CheckStatic(ok); err != nil {
		t.Errorf("a static linux build refused: %v", err)
	}
	for key, value := range map[string]string{"CGO_ENABLED": "1", "-trimpath": "", "GOOS": "darwin", "GOARCH": ""} {
		bad := maps.Clone(ok)
		bad[key] = value
		if err := CheckStatic(bad); err == nil {
			t.Errorf("%s=%q accepted", key, value)
		}
	}
}

func TestFullName(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/dashboardops/access-operator:dev": "ghcr.io/dashboardops/access-operator:dev",
		"localhost:5000/op:v1":                     "localhost:5000/op:v1",
		"op:v1":                                    "docker.io/library/op:v1",
		"op":                                       "docker.io/library/op:latest",
		"Op:v1":                                    "",
		"op@sha256:" + strings.Repeat("a", 64):     "",
	} {
		got, err := FullName(ref)
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "-name") {
				t.Errorf("FullName(%q) = %q, %v; want an error naming -name", ref, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("FullName(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
}

func TestSourceDateEpoch(t *testing.T) {
	if got, err := sourceDateEpoch(""); err != nil || !got.Equal(time.Unix(0, 0)) {
		t.Errorf("unset: %v, %v", got, err)
	}
	if got, err := sourceDateEpoch("1700000000"); err != nil || got.Unix() != 1700000000 {
		t.Errorf("1700000000: %v, %v", got, err)
	}
	for _, bad := range []string{"-1", "yesterday", "1.5"} {
		if _, err := sourceDateEpoch(bad); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
			t.Errorf("SOURCE_DATE_EPOCH=%q: %v", bad, err)
		}
	}
}
