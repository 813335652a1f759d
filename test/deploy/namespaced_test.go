package deploy

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestNamespacedInstallHasNoClusterWideSecretAccess renders config/namespaced.
func TestNamespacedInstallHasNoClusterWideSecretAccess(t *testing.T) {
	objs := render(t, "config/namespaced")
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" {
			continue
		}
		role := &rbacv1.ClusterRole{}
		find(t, objs, "ClusterRole", o.GetName(), role)
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				if res == "secrets" || res == "passcodes" || res == "dashboardusers" || res == "dashboardroles" || res == "dashboardpolicies" {
					t.Errorf("ClusterRole %s grants %s cluster-wide", o.GetName(), res)
				}
			}
		}
	}
	role := &rbacv1.Role{}
	find(t, objs, "Role", "access-operator-manager-role", role)
	if role.Namespace != "team-a" {
		t.Errorf("the manager's Role is in %q, want team-a", role.Namespace)
	}
	granted := map[string]bool{}
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			granted[res] = true
		}
	}
	for _, res := range []string{"dashboardusers", "dashboardusers/status", "passcodes", "passcodes/status", "dashboardroles", "dashboardroles/status",
		"dashboardpolicies", "dashboardpolicies/status"} {
		if !granted[res] {
			t.Errorf("the manager's Role in team-a does not grant %s", res)
		}
	}
	binding := &rbacv1.RoleBinding{}
	find(t, objs, "RoleBinding", "access-operator-manager-rolebinding", binding)
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name || binding.Subjects[0].Name != "access-operator-controller-manager" ||
		binding.Subjects[0].Namespace != "access-operator-system" {
		t.Errorf("the RoleBinding does not bind the manager's service account to its Role: %+v", binding)
	}
	d := map[string]any{}
	find(t, objs, "Deployment", "access-operator-controller-manager", &d)
	args := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["args"]
	found := false
	for _, a := range args.([]any) {
		found = found || a == "--watch-namespaces=team-a"
	}
	if !found {
		t.Error("the manager is not limited to team-a")
	}
}

// TestWatchNamespacesLimitsTheManager: a manager started with --watch-namespaces=team-a issues
// passcodes there and never looks at another namespace.
func TestWatchNamespacesLimitsTheManager(t *testing.T) {
	op, err := testenv.StartOperator(func(o *options.Options) { o.WatchNamespaces = "team-a,copy-a,copy-c" })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = op.Stop() }()
	ctx := context.Background()
	for _, ns := range []string{"team-a", "team-b"} {
		if err := op.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		if _, err := op.CreateUser(ctx, ns, "jane"); err != nil {
			t.Fatal(err)
		}
		if _, err := op.CreatePasscode(ctx, ns, "jane-api", "jane", "1h"); err != nil {
			t.Fatal(err)
		}
	}
	phase := func(ns string) accessv1alpha1.PasscodePhase {
		pc := &accessv1alpha1.Passcode{}
		if err := op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "jane-api"}, pc); err != nil {
			t.Fatal(err)
		}
		return pc.Status.Phase
	}
	deadline := time.Now().Add(15 * time.Second)
	for phase("team-a") != accessv1alpha1.PasscodeActive {
		if time.Now().After(deadline) {
			t.Fatal("the watched namespace's passcode was not issued")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Nothing outside the list can be reconciled because the manager cannot see it: its cache has
	// no informer there (a read is refused, not NotFound), so there is no event to wait for.
	err = op.GetCache().Get(ctx, types.NamespacedName{Namespace: "team-b", Name: "jane-api"}, &accessv1alpha1.Passcode{})
	if err == nil || apierrors.IsNotFound(err) {
		t.Fatalf("the manager's cache reads team-b, outside --watch-namespaces: %v", err)
	}
	if p := phase("team-b"); p != "" {
		t.Fatalf("a namespace outside --watch-namespaces was reconciled: phase %q", p)
	}
	copiesStayInsideWatchNamespaces(t, op)
}
