package node

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/testenv/manifests"
)

const helmRelease = "access-operator"

// TestHelmInstallUpgradeUninstallOnTheNode installs charts/access-operator with the real helm as
// docs/operations.md says (the namespace made first with the restricted label; image and SMTP set
// through values): both replicas Running and Ready, an invite delivered and a passcode verifying
// through the access Service's ClusterIP. `helm upgrade` changes a value (the memory limit: a
// rolling update) while the passcodes keep verifying and stay as issued. `helm uninstall` removes
// every object the chart templates and leaves what the chart documents it leaves: the CRDs (crds/,
// Helm never deletes them), the users, the passcodes and their Secrets.
func TestHelmInstallUpgradeUninstallOnTheNode(t *testing.T) {
	c := node(t)
	e2eImage(t, c)
	helm := helmBinary(t, c)
	mail := c.SMTP(t)
	ctx := context.Background()

	// Whatever happens, leave no install: the release, the CRDs Helm keeps, the namespace.
	t.Cleanup(func() {
		_, _ = c.try(nil, helm, "uninstall", helmRelease, "-n", namespace, "--ignore-not-found", "--wait")
		c.run(t, nil, "make", "-s", "uninstall", "KUBECTL="+c.Kubectl)
		c.run(t, nil, c.Kubectl, "delete", "namespace", namespace, "--ignore-not-found", "--timeout=120s")
	})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := c.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	repo, tag, _ := strings.Cut(img, ":")
	values := []string{
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag,
		"--set", "notifier.smtp.address=" + mail.Addr, "--set", "notifier.smtp.tls=none",
		// The test's SMTP server is on the host's address, not loopback.
		"--set-json", `extraArgs=["--allow-insecure-delivery"]`,
	}
	start := time.Now()
	c.run(t, nil, helm, append([]string{"install", helmRelease, "charts/access-operator", "-n", namespace}, values...)...)
	c.WaitRollout(t)
	t.Logf("helm install: 2 replicas Ready in %s", time.Since(start).Round(time.Millisecond))
	pods := c.ManagerPods(t)
	if len(pods) != 2 {
		t.Fatalf("want 2 manager Pods, got %d\n%s", len(pods), c.Diagnose())
	}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Spec.Containers[0].Image != img {
			t.Errorf("Pod %s: phase %s, image %s", p.Name, p.Status.Phase, p.Spec.Containers[0].Image)
		}
	}

	const users = "helm"
	testNamespace(t, c, users)
	emails := createUsers(t, c, users, "ada", "bo")
	names := createPasscodes(t, c, users, "key", 2, []string{"ada", "bo"}, "30d", "10d", "1h")
	before := waitIssued(t, c, users, names)
	waitFor(t, time.Minute, "the invites, through the SMTP server set in values", func() bool {
		return len(invitesTo(mail, emails)) == len(emails)
	})
	v, stop := startVerifier(t, c, users, emails)
	waitFor(t, 30*time.Second, "every passcode to verify", func() bool { return v.asking(names) })

	old := c.ManagerPods(t)
	start = time.Now()
	c.run(t, nil, helm, "upgrade", helmRelease, "charts/access-operator", "-n", namespace, "--reuse-values",
		"--set", "resources.limits.memory=192Mi")
	c.WaitRollout(t)
	t.Logf("helm upgrade (memory limit): rolled out in %s", time.Since(start).Round(time.Millisecond))
	waitPodsGone(t, c, old)
	time.Sleep(2 * time.Second)
	stop()
	want := resource.MustParse("192Mi")
	for _, p := range c.ManagerPods(t) {
		if got := p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; got.Cmp(want) != 0 {
			t.Errorf("Pod %s: memory limit %s after the upgrade, want %s", p.Name, got.String(), want.String())
		}
	}
	v.report(t, "during helm upgrade")
	unchanged(t, c, users, before)

	rendered := c.output(t, helm, append([]string{"template", helmRelease, "charts/access-operator", "-n", namespace,
		"--set", "resources.limits.memory=192Mi"}, values...)...)
	objs, err := manifests.Decode(rendered)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	c.run(t, nil, helm, "uninstall", helmRelease, "-n", namespace, "--wait")
	waitFor(t, 2*time.Minute, "the manager Pods to go", func() bool { return len(c.ManagerPods(t)) == 0 })
	t.Logf("helm uninstall: %d objects removed, the Pods gone in %s", len(objs), time.Since(start).Round(time.Millisecond))
	for _, o := range objs {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(o), got); !apierrors.IsNotFound(err) {
			t.Errorf("%s %s/%s: still there after helm uninstall (%v)", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	// What stays, as docs/operations.md says: the CRDs, the users, the passcodes and their Secrets.
	crds, err := os.ReadDir(filepath.Join(c.Root, "charts", "access-operator", "crds"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range crds {
		name := strings.TrimSuffix(f.Name(), ".yaml")
		_, plural, _ := strings.Cut(name, "_")
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		if err := c.Client.Get(ctx, client.ObjectKey{Name: plural + "." + strings.Split(name, "_")[0]}, crd); err != nil {
			t.Errorf("CRD of %s: %v (helm uninstall leaves the CRDs)", f.Name(), err)
		}
	}
	for name := range emails {
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: users, Name: name}, &accessv1alpha1.DashboardUser{}); err != nil {
			t.Errorf("DashboardUser %s after helm uninstall: %v", name, err)
		}
	}
	if after, err := snapshot(c, users); err != nil || len(after) != len(names) {
		t.Errorf("after helm uninstall, %d of %d passcodes are there with their Secrets (%v)", len(after), len(names), err)
	}
	unchanged(t, c, users, before)
	if out := c.run(t, nil, helm, "list", "-n", namespace, "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("helm list after uninstall: %s", out)
	}
}

// helmBinary is $HELM (make test-cluster sets it), else where hack/helm.sh builds it (`make helm`).
func helmBinary(t *testing.T, c *Cluster) string {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = strings.TrimSpace(c.run(t, nil, filepath.Join(c.Root, "hack", "helm.sh"), "print-path"))
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no helm at %s: run `make helm` (hack/helm.sh builds it from the Go module proxy)", bin)
	}
	return bin
}

// output runs a command like run and returns only its standard output (helm template's YAML
// without the warnings it may print).
func (c *Cluster) output(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = c.Root
	cmd.Env = append(childEnv(), "KUBECONFIG="+c.Kubeconfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}
