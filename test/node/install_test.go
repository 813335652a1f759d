package node

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// The image every test installs: this tree, built as `make image` builds it.
const img = "localhost/access-operator:e2e"

func TestInstallAsShippedRunsTwoReadyReplicasThatVerify(t *testing.T) {
	c := node(t)
	c.BuiltImage(t)
	start := time.Now()
	mail := c.SMTP(t)
	c.Apply(t, WithSMTP(c.Render(t, img), mail.Addr))
	c.WaitRollout(t)
	t.Logf("config/default applied, 2 replicas Ready in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { c.Undeploy(t) })

	pods := c.ManagerPods(t)
	if len(pods) != 2 {
		t.Fatalf("want 2 manager Pods, got %d\n%s", len(pods), c.Diagnose())
	}
	for _, p := range pods {
		if p.Spec.ServiceAccountName != "access-operator-controller-manager" {
			t.Errorf("Pod %s runs as ServiceAccount %q", p.Name, p.Spec.ServiceAccountName)
		}
	}

	ctx := context.Background()
	ns := "team-a"
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}) })
	u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ada"},
		Spec: accessv1alpha1.DashboardUserSpec{Email: "ada@example.com", Role: accessv1alpha1.RoleMember}}
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ada-ci"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "ada"}, Tenure: "1h"}}
	for _, o := range []client.Object{u, pc} {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	var code string
	waitFor(t, time.Minute, "the passcode's Secret", func() bool {
		var s corev1.Secret
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ada-ci"}, &s) != nil {
			return false
		}
		code = string(s.Data[passcodesecret.KeyPasscode])
		return code != ""
	})
	base := c.AccessURL(t)
	hc := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 30*time.Second, "verify through the access Service's ClusterIP", func() bool {
		status, email, err := Verify(ctx, hc, base, ns, code)
		return err == nil && status == http.StatusOK && email == "ada@example.com"
	})
	waitFor(t, time.Minute, "the invite email", func() bool {
		for _, m := range mail.Messages() {
			if len(m.To) == 1 && m.To[0] == "ada@example.com" {
				return true
			}
		}
		return false
	})
	c.NoForbidden(t)
}

// waitFor polls cond every 200 ms until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\n%s", limit, what, theCluster.Diagnose())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// grepLines are the lines of s that contain sub (case-insensitive).
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(strings.ToLower(l), sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
