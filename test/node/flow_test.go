package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestFullFlowUnderTheShippedRBAC runs what a team does with the operator, with the manager holding
// only the install's RBAC: a custom role, a user invited by email, a passcode that restarts a
// workload and is copied into another namespace, a reset and a revoke with the kubectl plugin, a
// user provisioned over SCIM, and the deletions. No manager log may say "forbidden".
func TestFullFlowUnderTheShippedRBAC(t *testing.T) {
	c := node(t)
	mail := c.Install(t)
	ctx := context.Background()
	const ns, copies = "team-flow", "team-flow-copies"
	c.Namespace(t, ns, map[string]string{accessv1alpha1.SCIMEnabledAnnotation: "true"})
	c.Namespace(t, copies, map[string]string{accessv1alpha1.AcceptPasscodesFromAnnotation: ns})
	plugin := filepath.Join(t.TempDir(), "kubectl-dashboard")
	c.run(t, nil, "go", "build", "-o", plugin, "./cmd/kubectl-dashboard")

	// A custom role and a user who has it.
	role := &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "analyst"},
		Spec: accessv1alpha1.DashboardRoleSpec{Description: "reads reports",
			Permissions: []accessv1alpha1.Permission{"reports.read", "dashboards.read"}}}
	user := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ada"},
		Spec: accessv1alpha1.DashboardUserSpec{Email: "ada@example.com", Role: "analyst"}}
	// The workload that consumes the passcode: restarted on each new revision.
	api := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reports-api"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "reports-api"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "reports-api"}},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1), Containers: []corev1.Container{{
					Name: "api", Image: "localhost/pause:local", ImagePullPolicy: corev1.PullNever}}}}}}
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ada-api"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "ada"}, Tenure: "1h",
			RolloutRestartTargets: []accessv1alpha1.RolloutRestartTarget{{Kind: "Deployment", Name: "reports-api"}},
			SecretCopies:          []accessv1alpha1.SecretCopy{{Namespace: copies}}}}
	// A second passcode of the user, which goes with the user.
	ui := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ada-ui"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "ada"}, Tenure: "1h"}}
	for _, o := range []client.Object{role, user, api, pc, ui} {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, time.Minute, "the invite email to ada", func() bool { return mailTo(mail, "ada@example.com") })
	waitFor(t, 30*time.Second, "the role to count its user", func() bool {
		return c.Client.Get(ctx, client.ObjectKeyFromObject(role), role) == nil && role.Status.Users == 1
	})

	code := secretPasscode(t, c, ns, "ada-api", "")
	waitFor(t, 30*time.Second, "the copy", func() bool { return passcodeIn(c, copies, "ada-api") == code })
	base := c.AccessURL(t)
	hc := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 30*time.Second, "verify through the ClusterIP", func() bool {
		status, email, err := Verify(ctx, hc, base, ns, code)
		return err == nil && status == http.StatusOK && email == "ada@example.com"
	})
	status, h, err := Auth(ctx, hc, base, ns, code)
	if err != nil || status != http.StatusOK || h.Get("X-Dashboard-Role") != "analyst" ||
		h.Get("X-Dashboard-Permissions") != "reports.read,dashboards.read" {
		t.Errorf("/v1/auth with the custom role's passcode: %d %v %v", status, h, err)
	}
	var dep appsv1.Deployment
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(api), &dep); err != nil {
		t.Fatal(err)
	}
	if a := dep.Spec.Template.Annotations[accessv1alpha1.RestartedAtAnnotation]; a != "" {
		t.Errorf("the first revision restarted the workload (%s): only new revisions do", a)
	}

	// Reset with the plugin, --immediate: a new passcode in the Secret and its copy, the old one
	// refused at once, the workload restarted once for revision 2.
	c.run(t, nil, plugin, "-n", ns, "passcode", "reset", "ada-api", "--immediate")
	fresh := secretPasscode(t, c, ns, "ada-api", code)
	waitFor(t, 30*time.Second, "the copy of the reset passcode", func() bool { return passcodeIn(c, copies, "ada-api") == fresh })
	waitFor(t, 30*time.Second, "the reset passcode to verify and the old one not", func() bool {
		s1, _, err1 := Verify(ctx, hc, base, ns, fresh)
		s2, _, err2 := Verify(ctx, hc, base, ns, code)
		return err1 == nil && err2 == nil && s1 == http.StatusOK && s2 == http.StatusUnauthorized
	})
	waitFor(t, 30*time.Second, "the workload's restart for revision 2", func() bool {
		if c.Client.Get(ctx, client.ObjectKeyFromObject(pc), pc) != nil || pc.Status.RolloutRestart == nil {
			return false
		}
		r := pc.Status.RolloutRestart
		return r.Revision == 2 && r.RestartedAt != nil && len(r.Missing) == 0
	})
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(api), &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Template.Annotations[accessv1alpha1.RestartedAtAnnotation] == "" {
		t.Errorf("the workload's pod template has no %s after the reset", accessv1alpha1.RestartedAtAnnotation)
	}

	// SCIM: the namespace is annotated, the token is a labelled Secret; the identity provider
	// creates a user through the access Service, and that user is invited.
	const token = "node-scim-token-0123456789abcdef"
	tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scim-token",
		Labels: map[string]string{accessv1alpha1.SCIMTokenLabel: "true"}},
		StringData: map[string]string{accessv1alpha1.SCIMTokenKey: token}}
	if err := c.Client.Create(ctx, tok); err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	waitFor(t, 30*time.Second, "a SCIM create through the ClusterIP", func() bool {
		status, created = scim(hc, http.MethodPost, base+"/scim/v2/"+ns+"/Users", token, map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "lee@example.com", "active": true, "name": map[string]any{"formatted": "Lee Park"},
		})
		return status == http.StatusCreated
	})
	id, _ := created["id"].(string)
	var lee accessv1alpha1.DashboardUser
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: id}, &lee); err != nil {
		t.Fatalf("the SCIM-created user %q: %v", id, err)
	}
	if lee.Labels[accessv1alpha1.ProvisionedByLabel] != accessv1alpha1.ProvisionedBySCIM || lee.Spec.Role != accessv1alpha1.RoleMember {
		t.Errorf("the SCIM-created user: labels %v, role %q", lee.Labels, lee.Spec.Role)
	}
	waitFor(t, time.Minute, "the invite email to the SCIM user", func() bool { return mailTo(mail, "lee@example.com") })

	// Revoke with the plugin: refused right after (as soon as the access server's cache has it),
	// and the Secret and its copy lose the passcode.
	c.run(t, nil, plugin, "-n", ns, "passcode", "revoke", "ada-api")
	revoked := time.Now()
	waitFor(t, 10*time.Second, "the revoked passcode to be refused", func() bool {
		status, _, err := Verify(ctx, hc, base, ns, fresh)
		return err == nil && status == http.StatusUnauthorized
	})
	t.Logf("revoked passcode refused %s after the revoke", time.Since(revoked).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "the revoked passcode's Secret and copy to lose it", func() bool {
		return passcodeIn(c, ns, "ada-api") == "" && passcodeIn(c, copies, "ada-api") == ""
	})

	// Deletion: the Passcode takes its Secret (owned) and its copy (finalizer); the user takes its
	// other Passcode and that one's Secret (owner references); SCIM deletes its user.
	if err := c.Client.Delete(ctx, pc); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ada-api"}})
	waitGone(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: copies, Name: "ada-api"}})
	waitGone(t, c, pc)
	secretPasscode(t, c, ns, "ada-ui", "")
	if err := c.Client.Delete(ctx, user, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, ui)
	waitGone(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ada-ui"}})
	if status, body := scim(hc, http.MethodDelete, base+"/scim/v2/"+ns+"/Users/"+id, token, nil); status != http.StatusNoContent {
		t.Errorf("SCIM delete: %d %v", status, body)
	}
	waitGone(t, c, &lee)
	if err := c.Client.Delete(ctx, role); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, role)

	c.NoForbidden(t)
}

// secretPasscode waits for the passcode Secret ns/name to hold a passcode other than not.
func secretPasscode(t *testing.T, c *Cluster, ns, name, not string) string {
	t.Helper()
	var code string
	waitFor(t, time.Minute, "the passcode in Secret "+ns+"/"+name, func() bool {
		code = passcodeIn(c, ns, name)
		return code != "" && code != not
	})
	return code
}

// passcodeIn is the passcode Secret ns/name holds ("" when none, or no such Secret).
func passcodeIn(c *Cluster, ns, name string) string {
	var s corev1.Secret
	if c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s) != nil {
		return ""
	}
	return string(s.Data[passcodesecret.KeyPasscode])
}

// waitGone waits until o no longer exists.
func waitGone(t *testing.T, c *Cluster, o client.Object) {
	t.Helper()
	waitFor(t, time.Minute, "the deletion of "+o.GetNamespace()+"/"+o.GetName(), func() bool {
		return apierrors.IsNotFound(c.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o))
	})
}

// mailTo reports whether a message to addr (alone) has arrived.
func mailTo(mail *testenv.SMTPServer, addr string) bool {
	for _, m := range mail.Messages() {
		if len(m.To) == 1 && m.To[0] == addr {
			return true
		}
	}
	return false
}

// scim sends a SCIM request with the bearer token: the status and the decoded body.
func scim(hc *http.Client, method, url, token string, body any) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
