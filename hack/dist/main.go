// Command dist is `make dist`: it cross-compiles kubectl-dashboard for every platform of the krew
// manifest into krew archives (tar.gz holding the binary and README.md), writes checksums.txt
// (sha256, as sha256sum prints them) and renders plugins/dashboard.yaml into dashboard.yaml with
// the version and the archives' real checksums.
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"
)

// Platform is one GOOS/GOARCH of the release.
type Platform struct{ OS, Arch string }

// Platforms are those of the krew manifest: linux, darwin and windows on amd64 and arm64.
var Platforms = func() []Platform {
	ps := make([]Platform, 0, 6)
	for _, goos := range []string{"linux", "darwin", windows} {
		for _, arch := range []string{"amd64", "arm64"} {
			ps = append(ps, Platform{goos, arch})
		}
	}
	return ps
}()

const windows = "windows"

// Binary is the executable's name on p (kubectl finds plugins by it).
func (p Platform) Binary() string {
	if p.OS == windows {
		return "kubectl-dashboard.exe"
	}
	return "kubectl-dashboard"
}

// Archive is the name of p's archive in dist/ and in the release.
func (p Platform) Archive() string {
	return fmt.Sprintf("kubectl-dashboard_%s_%s.tar.gz", p.OS, p.Arch)
}

// BuildFunc compiles the plugin for p into the file out.
type BuildFunc func(root string, p Platform, out string) error

// GoBuild cross-compiles ./cmd/kubectl-dashboard as `make build` does (static, trimmed, stripped).
func GoBuild(root string, p Platform, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/kubectl-dashboard") //nolint:gosec // out is ours
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s/%s: %w", p.OS, p.Arch, err)
	}
	return nil
}

// semver is what krew takes as spec.version.
var semver = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// Dist builds every platform's archive into out, then checksums.txt and dashboard.yaml (the
// manifest template of root rendered with version and the checksums). It returns the checksums
// by archive name.
func Dist(root, out, version string, build BuildFunc) (map[string]string, error) {
	if !semver.MatchString(version) {
		return nil, fmt.Errorf("invalid -version %q: krew wants a semantic version with a leading v, e.g. v0.3.1", version)
	}
	if err := os.MkdirAll(out, 0o750); err != nil {
		return nil, err
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md")) //nolint:gosec // the repository's README
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "dist-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(work) }()

	sums := map[string]string{}
	for _, p := range Platforms {
		bin := filepath.Join(work, p.OS+"_"+p.Arch, p.Binary())
		if err := os.MkdirAll(filepath.Dir(bin), 0o750); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "dist: %s/%s\n", p.OS, p.Arch)
		if err := build(root, p, bin); err != nil {
			return nil, err
		}
		sum, err := writeArchive(filepath.Join(out, p.Archive()), bin, readme)
		if err != nil {
			return nil, fmt.Errorf("archiving %s: %w", p.Archive(), err)
		}
		sums[p.Archive()] = sum
	}
	if err := writeChecksums(filepath.Join(out, "checksums.txt"), sums); err != nil {
		return nil, err
	}
	return sums, renderManifest(filepath.Join(root, "plugins", "dashboard.yaml"), filepath.Join(out, "dashboard.yaml"), version, sums)
}

// writeArchive writes a tar.gz of the binary (mode 0755) and README.md at its top, and returns its
// sha256. Times are fixed, so the same binary gives the same archive.
func writeArchive(path, bin string, readme []byte) (string, error) {
	binData, err := os.ReadFile(bin) //nolint:gosec // a file this program just built
	if err != nil {
		return "", err
	}
	f, err := os.Create(path) //nolint:gosec // under the output directory the developer chose
	if err != nil {
		return "", err
	}
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(gz)
	mtime := time.Unix(0, 0)
	for _, file := range []struct {
		name string
		mode int64
		data []byte
	}{{filepath.Base(bin), 0o755, binData}, {"README.md", 0o644, readme}} {
		hdr := &tar.Header{Name: file.name, Mode: file.mode, Size: int64(len(file.data)), ModTime: mtime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			_ = f.Close()
			return "", err
		}
		if _, err := tw.Write(file.data); err != nil {
			_ = f.Close()
			return "", err
		}
	}
	for _, c := range []io.Closer{tw, gz, f} {
		if err := c.Close(); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeChecksums writes "SHA256  NAME" lines, sorted by name, as sha256sum does (sha256sum -c
// checks them).
func writeChecksums(path string, sums map[string]string) error {
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[name], name)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644) //nolint:gosec // a release artifact, world-readable
}

// renderManifest executes the manifest template: .Version, and sha256 NAME (an error for an
// archive dist did not build).
func renderManifest(tmplPath, out, version string, sums map[string]string) error {
	text, err := os.ReadFile(tmplPath) //nolint:gosec // the repository's own template
	if err != nil {
		return err
	}
	tmpl, err := template.New(filepath.Base(tmplPath)).Option("missingkey=error").Funcs(template.FuncMap{
		"sha256": func(name string) (string, error) {
			sum, ok := sums[name]
			if !ok {
				return "", fmt.Errorf("the manifest names %s, which dist does not build", name)
			}
			return sum, nil
		},
	}).Parse(string(text))
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, struct{ Version string }{version}); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(b.String()), 0o644) //nolint:gosec // a release artifact, world-readable
}

func main() {
	version := flag.String("version", "v0.0.0-dev", "Release version (a semantic version with a leading v): the manifest's spec.version and release URL")
	out := flag.String("out", "dist", "Output directory")
	root := flag.String("root", ".", "Repository root")
	flag.Parse()
	if _, err := Dist(*root, *out, *version, GoBuild); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "dist: archives, checksums.txt and dashboard.yaml in %s\n", *out)
}
