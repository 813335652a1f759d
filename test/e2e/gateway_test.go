package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

const nginxConf = `
user root;
worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[2]d;
    # The dashboard's API: every request is checked by the access server first.
    location /api/ {
      auth_request /_auth;
      auth_request_set $dashboard_user $upstream_http_x_dashboard_user;
      auth_request_set $dashboard_role $upstream_http_x_dashboard_role;
      proxy_pass http://127.0.0.1:%[4]d;
      proxy_set_header X-Dashboard-User $dashboard_user;
      proxy_set_header X-Dashboard-Role $dashboard_role;
    }
    location = /_auth {
      internal;
      proxy_pass http://127.0.0.1:%[3]d/v1/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNginxAuthRequestGuardsTheAPI puts Debian's nginx in front of a protected location with
// auth_request to the access server of the built manager: a valid passcode passes with the user's
// identity, a revoked one gets 401.
func TestNginxAuthRequestGuardsTheAPI(t *testing.T) {
	t.Parallel()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if nginx, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			t.Fatal("nginx is not installed: apt-get install nginx-light (.ci/run does)")
		}
	}
	accessPort, gatewayPort := freePort(t), freePort(t)
	state := t.TempDir()
	dev := startDev(t, state, fmt.Sprintf("--access-bind-address=127.0.0.1:%d", accessPort), "--trusted-proxies=127.0.0.1")
	defer dev.interrupt()

	c := dev.client()
	ctx := context.Background()
	user := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw"},
		Spec: accessv1alpha1.DashboardUserSpec{Email: "gw@example.com", Role: accessv1alpha1.RoleApprover}}
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw-api"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "gw"}, Tenure: "1h"}}
	for _, obj := range []client.Object{user, pc} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	var code string
	waitFor(t, 30*time.Second, "the passcode to be issued", func() bool {
		s := &corev1.Secret{}
		if c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "gw-api"}, s) != nil {
			return false
		}
		code = string(s.Data[passcodesecret.KeyPasscode])
		return code != ""
	})

	// The dashboard's API behind the gateway trusts the identity headers nginx sets.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "hello %s, you are %s\n", r.Header.Get("X-Dashboard-User"), r.Header.Get("X-Dashboard-Role"))
	}))
	defer api.Close()
	apiPort := api.Listener.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, gatewayPort, accessPort, apiPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-c", conf, "-p", dir)
	var nginxOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &nginxOut, &nginxOut
	// Its own process group, so that the workers go with the master whatever happens.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx:\n%s%s", nginxOut.String(), errLog)
		}
	}()

	get := func(passcode string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api/reports", gatewayPort), nil)
		req.Header.Set("X-Dashboard-Account-Id", "default")
		if passcode != "" {
			req.Header.Set("X-Dashboard-Passcode", passcode)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	var status int
	var body string
	waitFor(t, 10*time.Second, "nginx to let the valid passcode through", func() bool {
		status, body = get(code)
		return status == http.StatusOK
	})
	if !strings.Contains(body, "hello gw@example.com, you are Approver") {
		t.Errorf("nginx did not pass the identity on: %q", body)
	}
	if status, _ := get(""); status != http.StatusUnauthorized {
		t.Errorf("no passcode: %d, want 401", status)
	}
	if status, _ := get("dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA"); status != http.StatusUnauthorized {
		t.Errorf("a wrong passcode: %d, want 401", status)
	}

	// Revoke the user's access: the same passcode is refused at once.
	patch := []byte(`{"spec":{"access":"Revoked"}}`)
	if err := c.Patch(ctx, user, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Now()
	waitFor(t, 5*time.Second, "nginx to refuse the revoked passcode", func() bool {
		status, _ = get(code)
		return status == http.StatusUnauthorized
	})
	t.Logf("refused %v after the revocation was written", time.Since(revokedAt).Round(time.Millisecond))
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
