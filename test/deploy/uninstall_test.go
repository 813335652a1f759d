package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// `make uninstall` with no manager running (as after undeploy removed it, or a manager that
// crashed) still removes the CRDs: the DashboardRole finalizer, which only the manager takes off,
// is released first instead of holding the CRD's deletion forever.
func TestUninstallDoesNotWaitForTheManager(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	role := &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "analyst",
		Finalizers: []string{"access.dashboardops.io/role-in-use"}}}
	if err := c.Create(ctx, role); err != nil {
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
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Bounded: without the release, kubectl waits for the CRDs' deletion for good. 8 minutes: alone
	// it takes seconds, but a loaded make test held it past 2 minutes twice and near 5 once (which
	// CRD is left is logged below).
	run, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(run, "make", "-s", "uninstall")
	cmd.Dir = root
	// A discovery cache of its own: kubectl keeps one per host:port under ~/.kube/cache, and other
	// suites' API servers may have had this port before.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+path, "KUBECACHEDIR="+t.TempDir())
	// On the deadline, make and the kubectl it runs go together, and the output is not waited for.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		// Which CRDs are still there, and why (a hang seen twice under a loaded make test, not alone).
		for _, n := range []string{"accessreviews", "dashboardpolicies", "dashboardroles", "dashboardusers", "passcodes"} {
			crd := &unstructured.Unstructured{}
			crd.SetAPIVersion("apiextensions.k8s.io/v1")
			crd.SetKind("CustomResourceDefinition")
			if e := c.Get(ctx, client.ObjectKey{Name: n + ".access.dashboardops.io"}, crd); e == nil {
				t.Logf("CRD %s left: finalizers %v, conditions %v", n, crd.GetFinalizers(), crd.Object["status"].(map[string]any)["conditions"])
			}
		}
		left := &accessv1alpha1.DashboardRole{}
		getErr := c.Get(ctx, client.ObjectKeyFromObject(role), left)
		t.Fatalf("make uninstall: %v\n%s\nthe role now: finalizers %v, deletion %v (get: %v)", err, out,
			left.Finalizers, left.DeletionTimestamp, getErr)
	}
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := c.Get(ctx, client.ObjectKey{Name: "dashboardroles.access.dashboardops.io"}, crd); !apierrors.IsNotFound(err) {
		t.Fatalf("the DashboardRole CRD is still there: %v (finalizers of the role: %v)", err, role.Finalizers)
	}
	// Again, with no CRD left: nothing to release, and nothing fails.
	again := exec.Command("make", "-s", "uninstall")
	again.Dir, again.Env = root, cmd.Env
	if out, err := again.CombinedOutput(); err != nil {
		t.Fatalf("make uninstall with the CRDs already gone: %v\n%s", err, out)
	}
}

// A cluster that cannot be listed stops the release with its cause; it used to pass silently (its
// errors went to /dev/null) and leave the CRD deletion to wait on the finalizers.
func TestReleaseRoleFinalizersNamesAFailedList(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	// A server nobody listens on (port 1 refuses at once).
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "release-role-finalizers")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "KUBECACHEDIR="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "release-role-finalizers: listing DashboardRoles failed") ||
		!strings.Contains(string(out), "127.0.0.1:1") {
		t.Fatalf("want a failure naming the list and the server, got %v:\n%s", err, out)
	}
}
