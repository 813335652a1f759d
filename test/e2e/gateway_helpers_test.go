package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// Helpers shared by the gateway tests (nginx, Caddy).

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// grantPasscode creates a DashboardUser in default and a Passcode of tenure for it, and waits for
// the passcode to be issued into its Secret.
func grantPasscode(t *testing.T, c client.Client, user, email string, role accessv1alpha1.Role, name, tenure string) (*accessv1alpha1.DashboardUser, string) {
	t.Helper()
	ctx := context.Background()
	u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: user},
		Spec: accessv1alpha1.DashboardUserSpec{Email: email, Role: role}}
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: user}, Tenure: tenure}}
	for _, obj := range []client.Object{u, pc} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	var code string
	waitFor(t, 30*time.Second, "the passcode "+name+" to be issued", func() bool {
		s := &corev1.Secret{}
		if c.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, s) != nil {
			return false
		}
		code = string(s.Data[passcodesecret.KeyPasscode])
		return code != ""
	})
	return u, code
}

// identityAPI is the dashboard's API behind a gateway: it trusts the identity headers the gateway
// sets and echoes them, with the method, the URI and the body it got, then the permissions.
func identityAPI(t *testing.T) int {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "hello %s, you are %s\n%s %s %q\npermissions: %s\n", r.Header.Get("X-Dashboard-User"), r.Header.Get("X-Dashboard-Role"),
			r.Method, r.URL.RequestURI(), body, r.Header.Get("X-Dashboard-Permissions"))
	}))
	t.Cleanup(api.Close)
	return api.Listener.Addr().(*net.TCPAddr).Port
}
