package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// An identity provider runs the product end to end through the built manager: it provisions a user
// over SCIM (who is invited like any other), pushes the group of a custom role (the gateway's answer
// gains that role's permissions), deactivates the user (its passcode stops working at once) and
// deletes it; a Git-kept user is never touched, and another project's token opens nothing.
func TestSCIMProvisioningThroughTheManager(t *testing.T) {
	t.Parallel()
	accessPort := freePort(t)
	// The identity provider reaches the access server through a proxy (loopback) that names it, so
	// the 401s of the wait below (the token cache may not hold the Secret yet) are a prober's, and
	// the failure throttle does not hold them against the identity provider.
	dev := startDev(t, t.TempDir(), fmt.Sprintf("--access-bind-address=127.0.0.1:%d", accessPort), "--trusted-proxies=127.0.0.1")
	defer dev.interrupt()
	c := dev.client()
	ctx := context.Background()
	base := fmt.Sprintf("http://127.0.0.1:%d", accessPort)

	const token = "e2e-scim-token-0123456789abcdef"
	dev.kubectl("annotate", "namespace", "default", accessv1alpha1.SCIMEnabledAnnotation+"=true")
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "okta-scim",
			Labels: map[string]string{accessv1alpha1.SCIMTokenLabel: "true"}}, StringData: map[string]string{"token": token}},
		&accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "report-writer"},
			Spec: accessv1alpha1.DashboardRoleSpec{Description: "writes reports", Permissions: []accessv1alpha1.Permission{"reports.read", "reports.write"}}},
		&accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kept-in-git"},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "git@example.com", Role: accessv1alpha1.RoleAdmin}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	idp := "192.0.2.10"
	var scimFrom func(from, method, path, tok string, body any) (int, map[string]any)
	scim := func(method, path, tok string, body any) (int, map[string]any) {
		t.Helper()
		return scimFrom(idp, method, path, tok, body)
	}
	scimFrom = func(from, method, path, tok string, body any) (int, map[string]any) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+"/scim/v2/"+path, rd)
		req.Header.Set("Content-Type", "application/scim+json")
		req.Header.Set("X-Forwarded-For", from)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, map[string]any{"error": err.Error()} // not listening yet: callers wait or fail on the status
		}
		defer func() { _ = resp.Body.Close() }()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	// The token Secret reaches the access server through its own label-filtered cache.
	waitFor(t, 30*time.Second, "the SCIM endpoint to take the token", func() bool {
		status, _ := scimFrom("192.0.2.99", http.MethodGet, "default/ServiceProviderConfig", token, nil)
		return status == http.StatusOK
	})
	if status, _ := scim(http.MethodGet, "default/Users", "", nil); status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", status)
	}
	if status, _ := scim(http.MethodGet, "kube-system/Users", token, nil); status != http.StatusUnauthorized {
		t.Errorf("default's token on another project: %d, want 401", status)
	}

	// Create, as Entra ID does.
	status, created := scim(http.MethodPost, "default/Users", token, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":   "Lee@Example.com",
		"externalId": "entra-7f3a",
		"active":     true,
		"name":       map[string]any{"formatted": "Lee Park"},
		"emails":     []map[string]any{{"value": "Lee@Example.com", "type": "work", "primary": true}},
	})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, created)
	}
	id, _ := created["id"].(string)
	user := &accessv1alpha1.DashboardUser{}
	waitFor(t, 30*time.Second, "the provisioned user to be invited", func() bool {
		return c.Get(ctx, types.NamespacedName{Namespace: "default", Name: id}, user) == nil && user.Status.Phase == accessv1alpha1.UserInvited
	})
	if user.Spec.Email != "lee@example.com" || user.Spec.DisplayName != "Lee Park" || user.Spec.Role != accessv1alpha1.RoleMember ||
		user.Labels[accessv1alpha1.ProvisionedByLabel] != "scim" {
		t.Errorf("provisioned user: %+v labels %v", user.Spec, user.Labels)
	}
	if !strings.Contains(dev.output.String(), "Invite for lee@example.com (Member in project default)") {
		t.Errorf("no invite went out for the provisioned user:\n%s", dev.output)
	}
	status, found := scim(http.MethodGet, `default/Users?filter=userName+eq+%22lee@example.com%22`, token, nil)
	if status != http.StatusOK || found["totalResults"] != float64(1) {
		t.Errorf("lookup by userName: %d %v", status, found)
	}

	// The user's workload gets a passcode; the gateway sees a Member.
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "lee-api"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: id}, Tenure: "1h"}}
	if err := c.Create(ctx, pc); err != nil {
		t.Fatal(err)
	}
	var code string
	waitFor(t, 30*time.Second, "the passcode to be issued", func() bool {
		s := &corev1.Secret{}
		if c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "lee-api"}, s) != nil {
			return false
		}
		code = string(s.Data[passcodesecret.KeyPasscode])
		return code != ""
	})
	verify := func() (int, map[string]any) {
		b, _ := json.Marshal(map[string]string{"account": "default", "passcode": code})
		resp, err := http.Post(base+"/v1/verify", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// The Secret is written before the Passcode's status records the hash, and the access server
	// answers from its cache of that status: wait for it to see the passcode.
	var v map[string]any
	waitFor(t, 30*time.Second, "the access server to know the passcode", func() bool {
		status, v = verify()
		return status == http.StatusOK
	})
	if v["role"] != "Member" || fmt.Sprint(v["permissions"]) != "[reports.read dashboards.read segments.read campaigns.read]" {
		t.Errorf("verify as a Member: %d %v", status, v)
	}

	// Okta pushes the group of the custom role: the next request carries its permissions.
	status, groups := scim(http.MethodGet, `default/Groups?filter=displayName+eq+%22report-writer%22`, token, nil)
	resources, _ := groups["Resources"].([]any)
	if status != http.StatusOK || len(resources) != 1 {
		t.Fatalf("group lookup: %d %v", status, groups)
	}
	groupID, _ := resources[0].(map[string]any)["id"].(string)
	status, answer := scim(http.MethodPatch, "default/Groups/"+groupID, token, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "add", "path": "members", "value": []map[string]any{{"value": id}}}},
	})
	if status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("group push: %d %v", status, answer)
	}
	waitFor(t, 10*time.Second, "the gateway to see the custom role's permissions", func() bool {
		status, v := verify()
		return status == http.StatusOK && v["role"] == "report-writer" && fmt.Sprint(v["permissions"]) == "[reports.read reports.write]"
	})

	// SCIM never rewrites a user kept in Git.
	status, refused := scim(http.MethodPatch, "default/Users/kept-in-git", token, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": false}}},
	})
	if status != http.StatusForbidden || !strings.Contains(fmt.Sprint(refused["detail"]), accessv1alpha1.SCIMManagedAnnotation) {
		t.Errorf("PATCH of a Git-kept user: %d %v, want 403 naming %s", status, refused, accessv1alpha1.SCIMManagedAnnotation)
	}
	kept := &accessv1alpha1.DashboardUser{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "kept-in-git"}, kept); err != nil || kept.Spec.Access == accessv1alpha1.AccessRevoked {
		t.Errorf("the Git-kept user was changed: %v %+v", err, kept.Spec)
	}

	// Entra ID disables the user: the passcode stops working at once.
	status, answer = scim(http.MethodPatch, "default/Users/"+id, token, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "Replace", "path": "active", "value": "False"}},
	})
	if status != http.StatusOK || answer["active"] != false {
		t.Fatalf("deactivate: %d %v", status, answer)
	}
	waitFor(t, 5*time.Second, "the deactivated user's passcode to be refused", func() bool {
		status, _ := verify()
		return status == http.StatusUnauthorized
	})

	// Delete: the user and what the operator made for it go.
	if status, answer = scim(http.MethodDelete, "default/Users/"+id, token, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status, answer)
	}
	waitFor(t, 30*time.Second, "the user to be deleted", func() bool {
		return apierrors.IsNotFound(c.Get(ctx, types.NamespacedName{Namespace: "default", Name: id}, &accessv1alpha1.DashboardUser{}))
	})
	if status, _ := scim(http.MethodGet, "default/Users/"+id, token, nil); status != http.StatusNotFound {
		t.Errorf("GET of a deleted user: %d, want 404", status)
	}
}
