package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// manifest is the part of a krew Plugin manifest (v1alpha2) that dist fills in.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

func readManifest(t *testing.T, file string) manifest {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s does not parse as YAML: %v", file, err)
	}
	return m
}

// checkManifest checks that m has one platform per entry of Platforms, each naming its archive,
// binary and files, and no other.
func checkManifest(t *testing.T, m manifest) {
	t.Helper()
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "dashboard" {
		t.Errorf("not the krew Plugin dashboard: %s %s %s", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if m.Spec.ShortDescription == "" {
		t.Error("krew requires spec.shortDescription")
	}
	if len(m.Spec.Platforms) != len(Platforms) {
		t.Errorf("%d platforms, want %d", len(m.Spec.Platforms), len(Platforms))
	}
	seen := map[Platform]bool{}
	for _, pl := range m.Spec.Platforms {
		p := Platform{pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]}
		if seen[p] {
			t.Errorf("%v twice", p)
		}
		seen[p] = true
		if path.Base(pl.URI) != p.Archive() {
			t.Errorf("%v: uri %s, want an archive named %s", p, pl.URI, p.Archive())
		}
		if pl.Bin != p.Binary() {
			t.Errorf("%v: bin %q, want %q", p, pl.Bin, p.Binary())
		}
		from := make([]string, 0, len(pl.Files))
		for _, f := range pl.Files {
			from = append(from, f.From)
		}
		if strings.Join(from, " ") != p.Binary()+" README.md" {
			t.Errorf("%v: files %v, want the binary and README.md", p, from)
		}
	}
	for _, p := range Platforms {
		if !seen[p] {
			t.Errorf("no platform %s/%s", p.OS, p.Arch)
		}
	}
}

// TestManifestTemplate: the committed template parses as YAML and names all six platforms.
func TestManifestTemplate(t *testing.T) {
	checkManifest(t, readManifest(t, filepath.Join("..", "..", "plugins", "dashboard.yaml")))
}

// checkDist checks what Dist wrote to out: the rendered manifest names every archive in out, with
// its real sha256 (also in checksums.txt), and each archive holds the manifest's bin and files.
func checkDist(t *testing.T, out, version string, checkBinary func(p Platform, data []byte)) {
	t.Helper()
	m := readManifest(t, filepath.Join(out, "dashboard.yaml"))
	checkManifest(t, m)
	if rendered, err := os.ReadFile(filepath.Join(out, "dashboard.yaml")); err != nil || strings.Contains(string(rendered), "{{") {
		t.Errorf("the rendered manifest keeps template actions (%v):\n%s", err, rendered)
	}
	if m.Spec.Version != version {
		t.Errorf("spec.version %q, want %q", m.Spec.Version, version)
	}
	checksums, err := os.ReadFile(filepath.Join(out, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	archives, err := filepath.Glob(filepath.Join(out, "*.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(archives) != len(m.Spec.Platforms) {
		t.Errorf("dist built %d archives, the manifest names %d", len(archives), len(m.Spec.Platforms))
	}
	for _, pl := range m.Spec.Platforms {
		p := Platform{pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]}
		if !strings.HasSuffix(pl.URI, "/download/"+version+"/"+p.Archive()) {
			t.Errorf("uri %s is not the release's", pl.URI)
		}
		data, err := os.ReadFile(filepath.Join(out, path.Base(pl.URI)))
		if err != nil {
			t.Errorf("the manifest names an archive dist did not build: %v", err)
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != pl.SHA256 {
			t.Errorf("%s: sha256 %s, the manifest says %q", p.Archive(), got, pl.SHA256)
		}
		if !strings.Contains(string(checksums), pl.SHA256+"  "+p.Archive()+"\n") {
			t.Errorf("checksums.txt has no line for %s:\n%s", p.Archive(), checksums)
		}
		files := untar(t, data)
		if len(files) != 2 || files["README.md"] == nil {
			t.Errorf("%s holds %d files, want %s and README.md", p.Archive(), len(files), pl.Bin)
		}
		bin, ok := files[pl.Bin]
		if !ok {
			t.Errorf("%s has no %s", p.Archive(), pl.Bin)
			continue
		}
		checkBinary(p, bin)
	}
}

// untar reads a tar.gz; executables must be 0755.
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(hdr.Name, "kubectl-dashboard") && hdr.Mode != 0o755 {
			t.Errorf("%s has mode %o, want 0755", hdr.Name, hdr.Mode)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = b
	}
}

// TestDistPackaging runs Dist with a stand-in compiler (fast): archives, checksums and the manifest.
func TestDistPackaging(t *testing.T) {
	out := t.TempDir()
	fake := func(_ string, p Platform, file string) error {
		return os.WriteFile(file, []byte("binary for "+p.OS+"/"+p.Arch), 0o755)
	}
	sums, err := Dist(filepath.Join("..", ".."), out, "v1.2.3", fake)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != len(Platforms) {
		t.Errorf("%d checksums", len(sums))
	}
	checkDist(t, out, "v1.2.3", func(p Platform, data []byte) {
		if string(data) != "binary for "+p.OS+"/"+p.Arch {
			t.Errorf("%s/%s: the archive holds another platform's binary: %q", p.OS, p.Arch, data)
		}
	})

	if _, err := Dist(filepath.Join("..", ".."), t.TempDir(), "1.2", fake); err == nil || !strings.Contains(err.Error(), `invalid -version "1.2"`) {
		t.Errorf("a version krew refuses: %v", err)
	}
}

// TestDistBuildsTheHostPlatform is `make dist` with one real build, in every test run: the host's
// platform is compiled with GoBuild (the others get a stand-in, as in TestDistPackaging), packed,
// unpacked, and the binary from the archive runs. The six cross-compilations take minutes on a
// cold build cache, so they wait for DIST_TEST_BUILD=1 (TestDistCrossCompiles).
func TestDistBuildsTheHostPlatform(t *testing.T) {
	host := Platform{runtime.GOOS, runtime.GOARCH}
	if !slices.Contains(Platforms, host) {
		t.Skipf("%s/%s is not a release platform", host.OS, host.Arch)
	}
	out := t.TempDir()
	built := 0
	build := func(root string, p Platform, file string) error {
		if p != host {
			return os.WriteFile(file, []byte("stand-in for "+p.OS+"/"+p.Arch), 0o755)
		}
		built++
		return GoBuild(root, p, file)
	}
	if _, err := Dist(filepath.Join("..", ".."), out, "v0.0.1", build); err != nil {
		t.Fatal(err)
	}
	if built != 1 {
		t.Fatalf("built the host platform %d times", built)
	}
	checkDist(t, out, "v0.0.1", func(p Platform, data []byte) {
		if p != host {
			return
		}
		bin := filepath.Join(t.TempDir(), p.Binary())
		if err := os.WriteFile(bin, data, 0o755); err != nil { //nolint:gosec // an executable, on purpose
			t.Fatal(err)
		}
		help, err := exec.Command(bin, "--help").CombinedOutput() //nolint:gosec // the binary just built
		if err != nil || !strings.Contains(string(help), "kubectl dashboard") {
			t.Errorf("the packed %s/%s binary does not run: %v\n%s", p.OS, p.Arch, err, help)
		}
	})
}

// TestDistCrossCompiles is `make dist` for real: six cross-compilations, minutes on a cold build
// cache, so only with DIST_TEST_BUILD=1.
func TestDistCrossCompiles(t *testing.T) {
	if os.Getenv("DIST_TEST_BUILD") == "" {
		t.Skip("set DIST_TEST_BUILD=1 to cross-compile every platform")
	}
	out := t.TempDir()
	if _, err := Dist(filepath.Join("..", ".."), out, "v0.0.1", GoBuild); err != nil {
		t.Fatal(err)
	}
	magic := map[string][]byte{"linux": []byte("\x7fELF"), "windows": []byte("MZ"), "darwin": {0xcf, 0xfa, 0xed, 0xfe}}
	checkDist(t, out, "v0.0.1", func(p Platform, data []byte) {
		if !bytes.HasPrefix(data, magic[p.OS]) {
			t.Errorf("%s/%s: not a %s executable", p.OS, p.Arch, p.OS)
		}
	})
}
