package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
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
      auth_request_set $dashboard_permissions $upstream_http_x_dashboard_permissions;
      proxy_pass http://127.0.0.1:%[4]d;
      proxy_set_header X-Dashboard-User $dashboard_user;
      proxy_set_header X-Dashboard-Role $dashboard_role;
      proxy_set_header X-Dashboard-Permissions $dashboard_permissions;
    }
    # Writing reports requires reports.write: the check names it in the query.
    location /api/reports/write/ {
      auth_request /_auth_reports_write;
      auth_request_set $dashboard_user $upstream_http_x_dashboard_user;
      auth_request_set $dashboard_role $upstream_http_x_dashboard_role;
      auth_request_set $dashboard_permissions $upstream_http_x_dashboard_permissions;
      proxy_pass http://127.0.0.1:%[4]d;
      proxy_set_header X-Dashboard-User $dashboard_user;
      proxy_set_header X-Dashboard-Role $dashboard_role;
      proxy_set_header X-Dashboard-Permissions $dashboard_permissions;
    }
    location = /_auth {
      internal;
      proxy_pass http://127.0.0.1:%[3]d/v1/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
    location = /_auth_reports_write {
      internal;
      proxy_pass http://127.0.0.1:%[3]d/v1/auth?permission=reports.write;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`

// TestNginxAuthRequestGuardsTheAPI puts Debian's nginx in front of a protected location with
// auth_request to the access server of the built manager: a valid passcode passes with the user's
// identity and permissions, a revoked one gets 401; a location requiring reports.write passes an
// Admin's passcode and refuses a Member's with 403 (a wrong passcode there stays 401).
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
	user, code := grantPasscode(t, c, "gw", "gw@example.com", accessv1alpha1.RoleApprover, "gw-api", "1h")
	_, adminCode := grantPasscode(t, c, "gw-admin", "admin@example.com", accessv1alpha1.RoleAdmin, "gw-admin-api", "1h")
	_, memberCode := grantPasscode(t, c, "gw-member", "member@example.com", accessv1alpha1.RoleMember, "gw-member-api", "1h")
	apiPort := identityAPI(t)

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

	getPath := func(path, passcode string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", gatewayPort, path), nil)
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
	get := func(passcode string) (int, string) { return getPath("/api/reports", passcode) }

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
	if !strings.Contains(body, "permissions: reports.read,dashboards.read,segments.read,campaigns.read,campaigns.approve\n") {
		t.Errorf("nginx did not pass the permissions on: %q", body)
	}

	// A location requiring reports.write: an Admin passes, a Member (who reads reports but does not
	// write them) gets 403, a wrong passcode still 401.
	const writePath = "/api/reports/write/q3"
	waitFor(t, 10*time.Second, "nginx to let the Admin write reports", func() bool {
		status, body = getPath(writePath, adminCode)
		return status == http.StatusOK
	})
	if !strings.Contains(body, "hello admin@example.com, you are Admin") || !strings.Contains(body, "reports.write") {
		t.Errorf("the Admin through the reports.write location: %q", body)
	}
	if status, body := getPath(writePath, memberCode); status != http.StatusForbidden || strings.Contains(body, "hello") {
		t.Errorf("the Member through the reports.write location: %d %q, want 403", status, body)
	}
	if status, body := getPath("/api/reports", memberCode); status != http.StatusOK || !strings.Contains(body, "you are Member") {
		t.Errorf("the Member where no permission is required: %d %q, want 200", status, body)
	}
	if status, _ := getPath(writePath, "dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA"); status != http.StatusUnauthorized {
		t.Errorf("a wrong passcode through the reports.write location: %d, want 401", status)
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
