package node

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/testenv/manifests"
)

// TestUndeployRemovesWhatOperationsSays runs `make undeploy` on an install in use (a custom role,
// users, passcodes) and checks docs/operations.md's Uninstall: every object of
// the install is gone (the namespace and its Pods, the ClusterRoles and bindings, the admission
// policies, the CRDs and with them every DashboardUser, DashboardRole and Passcode), the passcode
// Secrets go with their Passcodes (owner references, garbage collector), and Secrets the operator
// does not own (the project's invite key, the user's SCIM token) stay.
func TestUndeployRemovesWhatOperationsSays(t *testing.T) {
	c := node(t)
	mail := c.Install(t)
	ctx := context.Background()
	const ns = "team-undeploy"
	c.Namespace(t, ns, nil)
	role := &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"},
		Spec: accessv1alpha1.DashboardRoleSpec{Permissions: []accessv1alpha1.Permission{"reports.read"}}}
	if err := c.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	code := grant(t, c, ns, "un", "un@example.com", "viewer")
	grant(t, c, ns, "deux", "deux@example.com", accessv1alpha1.RoleAdmin)
	// A passcode copied into another namespace: its Passcode carries the copies finalizer.
	const copies = "team-undeploy-copies"
	c.Namespace(t, copies, map[string]string{accessv1alpha1.AcceptPasscodesFromAnnotation: ns})
	copied := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "un-copied"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "un"}, Tenure: "1h",
			SecretCopies: []accessv1alpha1.SecretCopy{{Namespace: copies}}}}
	if err := c.Client.Create(ctx, copied); err != nil {
		t.Fatal(err)
	}
	copiedCode := secretPasscode(t, c, ns, "un-copied", "")
	waitFor(t, 30*time.Second, "the copy", func() bool { return passcodeIn(c, copies, "un-copied") == copiedCode })
	own := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scim-token",
		Labels: map[string]string{accessv1alpha1.SCIMTokenLabel: "true"}},
		StringData: map[string]string{accessv1alpha1.SCIMTokenKey: "node-scim-token-0123456789abcdef"}}
	if err := c.Client.Create(ctx, own); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the invites", func() bool { return mailTo(mail, "un@example.com") && mailTo(mail, "deux@example.com") })
	// The role reports its user (it carries no finalizer: nothing holds its deletion).
	waitFor(t, 30*time.Second, "the role's status to count its user", func() bool {
		return c.Client.Get(ctx, client.ObjectKeyFromObject(role), role) == nil && role.Status.Users == 1
	})
	if code == "" {
		t.Fatal("no passcode")
	}
	installed, err := manifests.Decode(c.Render(t, img))
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	out, err := c.tryWithin(3*time.Minute, nil, "make", "-s", "undeploy", "KUBECTL="+c.Kubectl)
	if err != nil {
		var r accessv1alpha1.DashboardRoleList
		_ = c.Client.List(ctx, &r)
		var p accessv1alpha1.PasscodeList
		_ = c.Client.List(ctx, &p)
		t.Fatalf("make undeploy: %v\n%s\nroles left: %+v\npasscodes left: %+v\n%s", err, out, r.Items, p.Items, c.Diagnose())
	}
	t.Logf("make undeploy took %s", time.Since(start).Round(time.Millisecond))

	for _, o := range installed {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(o), got)
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s %s/%s is still there after make undeploy (%v)", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace(namespace)); err != nil || len(pods.Items) > 0 {
		t.Errorf("manager Pods left: %d (%v)", len(pods.Items), err)
	}
	// The passcode Secrets go with their Passcodes (the garbage collector, shortly after).
	waitFor(t, time.Minute, "the passcode Secrets to go with their Passcodes", func() bool {
		var secrets corev1.SecretList
		_ = c.Client.List(ctx, &secrets, client.InNamespace(ns), client.HasLabels{accessv1alpha1.PasscodeLabel})
		return len(secrets.Items) == 0
	})
	// The copies go with their Passcode (docs/secret-copies.md: deleting the Passcode deletes its copies).
	waitGone(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: copies, Name: "un-copied"}})
	for _, name := range []string{accessv1alpha1.InviteKeySecretName, own.Name} {
		var s corev1.Secret
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			t.Errorf("Secret %s, which no Passcode owns, is gone after make undeploy: %v", name, err)
		} else if len(s.Data) == 0 {
			t.Errorf("Secret %s lost its data", name)
		}
	}
}
