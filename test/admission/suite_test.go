// Package admission runs the admission policies config/default installs (config/admission) on a real
// kube-apiserver with RBAC authorization, as the identities they are about: people who may edit
// Passcodes but not read Secrets or patch workloads (the confused deputy), the manager's own
// ServiceAccount (the blast radius of its rights, with the operator's real flows running under it),
// and whoever would plant an invite key.
package admission

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/dashboardops/access-operator/internal/testenv"
	"github.com/dashboardops/access-operator/internal/testenv/manifests"
)

// managerSA is the user name of the ServiceAccount config/default runs the manager as.
const managerSA = "system:serviceaccount:access-operator-system:access-operator-controller-manager"

var (
	env   *envtest.Environment
	cfg   *rest.Config
	admin client.Client
	ctx   = context.Background()
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	if env, err = testenv.New(); err != nil {
		return 0, err
	}
	env.CRDDirectoryPaths = nil // the install brings its own CRDs
	// envtest's kube-apiserver authorizes with RBAC (controller-runtime sets --authorization-mode=RBAC)
	// and keeps the ValidatingAdmissionPolicy plugin on (it disables only ServiceAccount): the
	// policies' authorizer checks ask RBAC, as in a cluster.
	if cfg, err = env.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	if admin, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return 0, err
	}
	if err := install(); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// install applies what config/default renders, as `kubectl apply -k config/default` would, and
// waits for the API server to enforce the policies.
func install() error {
	objs, err := manifests.Render("config/default")
	if err != nil {
		return err
	}
	manifests.SortForApply(objs)
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			o.SetResourceVersion("")
		}
		if err := admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	// Policies take effect once the API server's informers see them (and the CRDs once established):
	// probe with a write each one refuses.
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "probe-"}}
	sa := as(managerSA)
	return waitFor(func() bool {
		err := sa.Create(ctx, probe.DeepCopy())
		return err != nil && strings.Contains(err.Error(), "access-operator-manager-writes")
	}, "the manager-writes policy to be enforced")
}

// as is a client that impersonates user (a ServiceAccount's name puts it in its groups, as its
// token would).
func as(user string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	if sa, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		ns, _, _ := strings.Cut(sa, ":")
		c.Impersonate.Groups = append(c.Impersonate.Groups, "system:serviceaccounts", "system:serviceaccounts:"+ns)
	}
	cl, err := client.New(c, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		panic(err)
	}
	return cl
}

// waitFor polls cond until it holds, for up to a minute (the machine is shared: generous, and not
// an assertion on time).
func waitFor(cond func() bool, what string) error {
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := admin.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// grant gives user the rules in namespace ns (a Role and its RoleBinding).
func grant(t *testing.T, ns, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user}, Rules: rules}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
	for _, o := range []client.Object{role, binding} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// editPasscodes is what a team member gets: DashboardUsers and Passcodes, nothing else.
var editPasscodes = rbacv1.PolicyRule{APIGroups: []string{"access.dashboardops.io"},
	Resources: []string{"passcodes", "dashboardusers"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}

// refused fails unless err is a refusal that says want.
func refused(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("accepted; want refused with %q", want)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("refused with\n  %v\nwant it to say\n  %s", err, want)
	}
}

func accepted(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: refused: %v", what, err)
	}
}

// Each policy is type-checked against the schemas of what it matches, as kube-controller-manager
// does for its status (envtest runs none): a misspelt field or a wrong type is only a warning
// there, and an error on every matching write at run time (failurePolicy Fail). There must be none.
func TestPoliciesTypeCheck(t *testing.T) {
	objs, err := manifests.Render("config/admission")
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	checker := &validating.TypeChecker{SchemaResolver: &resolver.ClientDiscoveryResolver{Discovery: dc}, RestMapper: mapper}
	checked := 0
	for _, o := range objs {
		if o.GetKind() != "ValidatingAdmissionPolicy" {
			continue
		}
		p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, p); err != nil {
			t.Fatal(err)
		}
		checked++
		for _, w := range checker.Check(p) {
			t.Errorf("%s: %s: %s", p.Name, w.FieldRef, w.Warning)
		}
	}
	if checked != 5 {
		t.Errorf("type-checked %d policies, want 5", checked)
	}
}
