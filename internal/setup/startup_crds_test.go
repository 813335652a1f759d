package setup_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/setup"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestWaitForAPIServerWaitsForTheCRDs runs WaitForAPIServer against a real API server that does
// not serve this project's kinds yet (the CRDs are applied after the Deployment, or separately):
// it must wait with /readyz saying so, not fail, and return a mapper that knows the kinds once the
// CRDs are installed, with the probe address released for the manager to bind.
func TestWaitForAPIServerWaitsForTheCRDs(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	crds := env.CRDDirectoryPaths
	env.CRDDirectoryPaths = nil
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()

	opts := options.Default()
	opts.HealthProbeBindAddress = freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		mapper apimeta.RESTMapper
		err    error
	}
	done := make(chan result, 1)
	go func() {
		m, err := setup.WaitForAPIServer(ctx, cfg, options.Config{Options: opts}, logr.Discard())
		done <- result{m, err}
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get(t, "http://"+opts.HealthProbeBindAddress+"/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "waiting for the CustomResourceDefinitions of "+
			accessv1alpha1.GroupVersion.String()) {
			t.Logf("/readyz: %s", strings.TrimSpace(body))
			break
		}
		select {
		case r := <-done:
			t.Fatalf("WaitForAPIServer returned while the CRDs were missing: %v", r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never said the CRDs are missing; last answer %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get(t, "http://"+opts.HealthProbeBindAddress+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while waiting for the CRDs: %d %q", code, body)
	}

	installed := time.Now()
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("WaitForAPIServer did not return within 60 s of the CRDs being installed")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("returned %s after the CRDs were installed", time.Since(installed).Round(100*time.Millisecond))
	if _, err := r.mapper.RESTMapping(accessv1alpha1.GroupVersion.WithKind("Passcode").GroupKind(), "v1alpha1"); err != nil {
		t.Fatalf("the returned mapper does not map Passcodes: %v", err)
	}
	l, err := net.Listen("tcp", opts.HealthProbeBindAddress)
	if err != nil {
		t.Fatalf("the probe address is still bound after WaitForAPIServer returned: %v", err)
	}
	_ = l.Close()
}
