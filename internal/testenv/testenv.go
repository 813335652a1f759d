// Package testenv starts a real control plane (kube-apiserver + etcd, and kube-controller-manager
// for garbage collection) for tests and for `make dev`, from the binaries hack/control-plane.sh
// builds into bin/k8s/<version>/, with this project's CRDs installed. setup-envtest is not used: it
// downloads binaries, which machines without internet cannot do. It also holds what the
// reliability tests need: fault injection and manager processes. Production code never imports it.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// RepoRoot is the directory holding go.mod, found by walking up from the working directory (go test
// runs each package in its own directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "hack", "control-plane.sh")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod next to hack/control-plane.sh)")
		}
		dir = parent
	}
}

// AssetsDir is where kube-apiserver, kube-controller-manager, etcd and kubectl are:
// $KUBEBUILDER_ASSETS when set, else the
// folder hack/control-plane.sh builds into. It fails with a hint when the binaries are missing.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		out, err := exec.Command(filepath.Join(root, "hack", "control-plane.sh"), "print-dir").Output() //nolint:gosec // our own script
		if err != nil {
			return "", fmt.Errorf("hack/control-plane.sh print-dir: %w", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil { //nolint:gosec // the developer's own folder
			return "", fmt.Errorf("%s is missing from %s: run `make control-plane` (or hack/control-plane.sh) first", bin, dir)
		}
	}
	return dir, nil
}

// Scheme knows the built-in kinds and this project's kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// New returns an environment with this project's CRDs, ready to Start.
func New() (*envtest.Environment, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}, nil
}
