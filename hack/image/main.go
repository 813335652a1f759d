// Command image writes the manager's container image without Docker: `make image` builds the
// static manager binary with GO_BUILD (as `make build` and the Dockerfile do) and this packs it
// into an OCI image layout archive that `ctr -n k8s.io images import` takes, tagged with IMG.
//
// The image is what the Dockerfile's distroless static:nonroot base gives the manager, no more:
// one layer with /manager, /etc/passwd and /etc/group naming nonroot (65532), /etc/nsswitch.conf,
// /home/nonroot and /tmp; no shell, no package manager, no CA file (the manager links Mozilla's
// roots as a fallback, see main.go). It runs as 65532:65532, like the Dockerfile's USER.
//
// Reproducible: the same binary gives the same archive byte for byte (fixed timestamps, from
// SOURCE_DATE_EPOCH when set, else 1970; sorted entries; fixed owners and modes; nothing from
// the host but the binary), and GO_BUILD makes the binary a function of the tree and Go.
package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// User is the Dockerfile's USER: distroless's nonroot (a test holds the two equal).
	User = "65532:65532"
	// Entrypoint is where the binary lands, as in the Dockerfile (COPY ... /manager).
	Entrypoint = "/manager"

	// RefNameAnnotation names the image in index.json (OCI image layout).
	RefNameAnnotation = "org.opencontainers.image.ref.name"
	// ContainerdNameAnnotation is the name `ctr images import` (containerd 1.6) tags the image
	// with, as given; it reads RefNameAnnotation only without it (and prefixes a bare tag there
	// with import-<date>, or drops a name outside --base-name).
	ContainerdNameAnnotation = "io.containerd.image.name"
)

// The files distroless static:nonroot provides that the manager can use: the users (so the UID
// has a name, and $HOME exists), the resolver's order, and a writable /tmp.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group    = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	nsswitch = "hosts: files dns\n"
)

func main() {
	binary := flag.String("binary", "", "The static manager binary (built with the Makefile's GO_BUILD)")
	ref := flag.String("name", "", "The image's name and tag (the Makefile's IMG), e.g. ghcr.io/dashboardops/access-operator:dev")
	out := flag.String("out", "", "The OCI image layout archive to write")
	flag.Parse()
	if *binary == "" || *ref == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "image: -binary, -name and -out are required")
		os.Exit(2)
	}
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err == nil {
		var digest v1.Hash
		var full string
		digest, full, err = Write(*binary, *ref, *out, created)
		if err == nil {
			fmt.Printf("%s: %s@%s\n", *out, full, digest)
			return
		}
	}
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// sourceDateEpoch is the images' time: SOURCE_DATE_EPOCH (reproducible-builds.org) or 1970.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative count of seconds since 1970", v)
	}
	return time.Unix(s, 0).UTC(), nil
}

// Write packs binary into the archive out, named ref, and returns the image's manifest digest
// (what containerd reports after the import) and the full name it is tagged with.
func Write(binary, ref, out string, created time.Time) (v1.Hash, string, error) {
	full, err := FullName(ref)
	if err != nil {
		return v1.Hash{}, "", err
	}
	manager, err := os.ReadFile(binary) //nolint:gosec // the path is the caller's
	if err != nil {
		return v1.Hash{}, "", err
	}
	info, err := buildinfo.Read(bytes.NewReader(manager))
	if err != nil {
		return v1.Hash{}, "", fmt.Errorf("-binary %s: not a Go binary: %w", binary, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if err := CheckStatic(settings); err != nil {
		return v1.Hash{}, "", fmt.Errorf("-binary %s: %w", binary, err)
	}
	img, err := Image(manager, settings["GOOS"], settings["GOARCH"], created)
	if err != nil {
		return v1.Hash{}, "", err
	}
	archive, err := Archive(img, full, created)
	if err != nil {
		return v1.Hash{}, "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil { //nolint:gosec // bin/ is the build's output
		return v1.Hash{}, "", err
	}
	// Write then rename: an interrupted build leaves no half archive under the final name.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, archive, 0o644); err != nil { //nolint:gosec // an image is no secret
		return v1.Hash{}, "", err
	}
	return digest, full, os.Rename(tmp, out)
}

// FullName is ref as containerd and the kubelet name it: registry/repository:tag, with Docker Hub
// spelled docker.io (so IMG=foo:dev is docker.io/library/foo:dev, what a Pod's image: foo:dev
// resolves to). ref must carry a tag; a digest is what the build makes, not what it is given.
func FullName(ref string) (string, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("-name %q: want registry/repository:tag (the Makefile's IMG): %w", ref, err)
	}
	registry := tag.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io"
	}
	return registry + "/" + tag.RepositoryStr() + ":" + tag.TagStr(), nil
}

// CheckStatic refuses a binary that the image could not run, or that was not built as GO_BUILD
// builds it: the image has no C library, and without -trimpath the build machine's paths (and so
// the digest) would depend on where the tree was checked out.
func CheckStatic(settings map[string]string) error {
	var errs []error
	if settings["CGO_ENABLED"] != "0" {
		errs = append(errs, fmt.Errorf("built with CGO_ENABLED=%q, want 0: the image has no C library", settings["CGO_ENABLED"]))
	}
	if settings["-trimpath"] != "true" {
		errs = append(errs, errors.New("built without -trimpath: the build directory would be in the binary"))
	}
	if settings["GOOS"] != "linux" {
		errs = append(errs, fmt.Errorf("built for GOOS=%q, want linux", settings["GOOS"]))
	}
	if settings["GOARCH"] == "" {
		errs = append(errs, errors.New("the binary does not say its GOARCH"))
	}
	return errors.Join(errs...)
}

// Image is the manager's image: one layer (RootFS), the Dockerfile's user and entrypoint.
func Image(manager []byte, goos, goarch string, created time.Time) (v1.Image, error) {
	layerTar, err := RootFS(manager, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: goarch,
		OS:           goos,
		Created:      v1.Time{Time: created},
		Config: v1.Config{
			User:       User,
			Entrypoint: []string{Entrypoint},
			WorkingDir: "/",
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: /manager on the files of distroless static:nonroot"},
	})
}

// entry is one file or directory of a tar archive.
type entry struct {
	name     string
	mode     int64
	uid, gid int
	body     []byte // nil for a directory
}

// RootFS is the image's one layer: the manager and the few files distroless static:nonroot has
// that it uses. Owned by root and read-only to the manager, but for its home and /tmp.
func RootFS(manager []byte, created time.Time) ([]byte, error) {
	return tarOf([]entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte(nsswitch)},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: 65532, gid: 65532},
		{name: Entrypoint[1:], mode: 0o755, body: manager},
		{name: "tmp/", mode: 0o1777},
	}, created)
}

// Archive is img as an OCI image layout (oci-layout, index.json naming it full, blobs/sha256/)
// in one tar archive: what `ctr images import` reads.
func Archive(img v1.Image, full string, created time.Time) ([]byte, error) {
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
		Add: img,
		Descriptor: v1.Descriptor{Annotations: map[string]string{
			RefNameAnnotation:        full,
			ContainerdNameAnnotation: full,
		}},
	})
	index, err := idx.RawManifest()
	if err != nil {
		return nil, err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	entries := []entry{
		{name: "oci-layout", mode: 0o644, body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", mode: 0o644, body: index},
		{name: "blobs/", mode: 0o755},
		{name: "blobs/sha256/", mode: 0o755},
	}
	blob := func(body []byte) entry {
		h, _, _ := v1.SHA256(bytes.NewReader(body))
		return entry{name: "blobs/sha256/" + h.Hex, mode: 0o644, body: body}
	}
	entries = append(entries, blob(manifest), blob(config))
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return nil, err
		}
		entries = append(entries, blob(body))
	}
	return tarOf(entries, created)
}

// tarOf writes entries sorted by name, each with the same time, its own owner and mode and
// nothing else (no user names, no access times): the bytes depend on the entries alone.
func tarOf(entries []entry, modTime time.Time) ([]byte, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: modTime, Format: tar.FormatPAX}
		if e.body == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
