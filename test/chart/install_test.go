package chart

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestHelmInstallUpgradeUninstall runs the real helm against a real kube-apiserver: install with
// the defaults, upgrade to a digest-pinned image in namespaced mode, uninstall. After each step
// every object the chart renders must be stored as rendered (accepted by the API server's
// validation), and objects a step no longer renders must be gone. uninstall removes everything
// but the CRDs, which Helm never deletes (docs/operations.md). No Pod runs here: this proves the
// API server takes the objects, not that the manager starts.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	c, kc := apiServer(t, false) // the chart brings its own CRDs
	ctx := context.Background()
	// The release namespace exists before the install, with the Pod Security label that
	// config/default's Namespace carries (docs/operations.md).
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
	} {
		if err := c.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := helm(t, append(args, "--kubeconfig", kc, "--namespace", namespace)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	// stored checks that each object is in the API server with the rendered spec, rules, data...
	stored := func(objs []*unstructured.Unstructured) {
		t.Helper()
		for _, want := range objs {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(want.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKey{Namespace: want.GetNamespace(), Name: want.GetName()}, got); err != nil {
				t.Errorf("%s: not stored: %v", key(want), err)
				continue
			}
			for field, v := range want.Object {
				if field == "metadata" || field == "status" || field == "apiVersion" || field == "kind" {
					continue
				}
				if !contains(got.Object[field], v) {
					t.Errorf("%s: stored %s differs from the rendered one", key(want), field)
				}
			}
		}
	}
	gone := func(objs []*unstructured.Unstructured) {
		t.Helper()
		for _, o := range objs {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(o.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetName()}, got); !apierrors.IsNotFound(err) {
				t.Errorf("%s: still there (%v)", key(o), err)
			}
		}
	}

	installed := template(t)
	run("install", release, chartDir)
	stored(installed)

	digest := "sha256:" + strings.Repeat("fedcba9876543210", 4)
	upgradeSet := []string{"image.digest=" + digest, "watchNamespaces={team-a}", "replicas=3"}
	args := append([]string{"upgrade", release, chartDir}, setFlags(upgradeSet)...)
	run(args...)
	upgraded := template(t, upgradeSet...)
	stored(upgraded)
	// The cluster-wide manager role of the first release is gone: namespaced mode grants nothing
	// about Secrets outside team-a.
	dropped := missingFrom(installed, upgraded)
	if !slices.ContainsFunc(dropped, func(o *unstructured.Unstructured) bool { return key(o) == "ClusterRole /access-operator-manager-role" }) {
		t.Errorf("namespaced mode should drop the ClusterRole access-operator-manager-role; it drops %d objects", len(dropped))
	}
	gone(dropped)

	run("uninstall", release)
	var crds, rest []*unstructured.Unstructured
	for _, o := range upgraded {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o)
		} else {
			rest = append(rest, o)
		}
	}
	gone(rest)
	stored(crds) // Helm keeps the CRDs, and with them every DashboardUser, Passcode and DashboardRole
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.InNamespace(namespace), client.MatchingLabels{"owner": "helm"}); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("helm uninstall left %d release records", len(secrets.Items))
	}
}

// apiServer starts a real kube-apiserver, with the CRDs of config/crd/bases already installed when
// withCRDs, and returns a client and an admin kubeconfig for helm. It stops with the test.
func apiServer(t *testing.T, withCRDs bool) (client.Client, string) {
	t.Helper()
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	if !withCRDs {
		env.CRDDirectoryPaths = nil
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return c, kc
}

// TestHelmInstallWhereTheCRDsExist: a cluster that already has the CRDs (`make install`, or an
// earlier install whose CRDs Helm kept) takes the chart: Helm skips crds/ and installs the rest.
func TestHelmInstallWhereTheCRDsExist(t *testing.T) {
	c, kc := apiServer(t, true)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if out, err := helm(t, "install", release, chartDir, "--kubeconfig", kc, "--namespace", namespace); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	dep := &unstructured.Unstructured{}
	dep.SetAPIVersion("apps/v1")
	dep.SetKind("Deployment")
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "access-operator-controller-manager"}, dep); err != nil {
		t.Fatalf("the Deployment was not installed: %v", err)
	}
}

// missingFrom lists the objects of before that after does not render.
func missingFrom(before, after []*unstructured.Unstructured) []*unstructured.Unstructured {
	keep := map[string]bool{}
	for _, o := range after {
		keep[key(o)] = true
	}
	var out []*unstructured.Unstructured
	for _, o := range before {
		if !keep[key(o)] {
			out = append(out, o)
		}
	}
	return out
}

// contains reports whether got holds everything of want (the API server adds defaults).
func contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !contains(g[k], v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return normalizeScalar(got) == normalizeScalar(want)
	}
}

// normalizeScalar makes numbers comparable across the YAML and JSON decoders (int64 vs float64).
func normalizeScalar(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	return v
}
