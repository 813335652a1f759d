package node

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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// gatewayConf is test/e2e's nginx gateway (docs/access-server.md's snippet) with the access
// Service's ClusterIP as the auth_request upstream, as an nginx on a node (or in the cluster) has it.
const gatewayConf = `
user root;
worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[2]d;
    location /api/ {
      auth_request /_auth;
      auth_request_set $dashboard_user $upstream_http_x_dashboard_user;
      auth_request_set $dashboard_role $upstream_http_x_dashboard_role;
      auth_request_set $dashboard_permissions $upstream_http_x_dashboard_permissions;
      proxy_pass %[4]s;
      proxy_set_header X-Dashboard-User $dashboard_user;
      proxy_set_header X-Dashboard-Role $dashboard_role;
      proxy_set_header X-Dashboard-Permissions $dashboard_permissions;
    }
    location = /_auth {
      internal;
      proxy_pass %[3]s/v1/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`

// Gateway is nginx on the host guarding a dashboard API with auth_request to the access Service.
type Gateway struct {
	URL string // the gateway; GET URL+"/api/..." reaches the API when the passcode is valid
}

// StartGateway starts nginx (installed by hack/test-deps.sh) in front of an API that answers with
// the identity nginx passed on; both stop when the test ends.
func StartGateway(t *testing.T, accessURL string) *Gateway {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if nginx, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			t.Fatal("nginx is not installed: hack/test-deps.sh installs it")
		}
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "user=%s role=%s permissions=%s\n", r.Header.Get("X-Dashboard-User"),
			r.Header.Get("X-Dashboard-Role"), r.Header.Get("X-Dashboard-Permissions"))
	}))
	t.Cleanup(api.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(gatewayConf, dir, port, accessURL, api.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-c", conf, "-p", dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the workers go with the master
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx:\n%s%s", out.String(), errLog)
		}
	})
	return &Gateway{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// Get asks the gateway for /api/reports with the account and passcode: the status and the body.
func (g *Gateway) Get(ctx context.Context, hc *http.Client, account, code string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL+"/api/reports", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("X-Dashboard-Account-Id", account)
	if code != "" {
		req.Header.Set("X-Dashboard-Passcode", code)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// grant creates a user of role with a 1h passcode in ns and returns the passcode once its Secret holds it.
func grant(t *testing.T, c *Cluster, ns, name, email string, role accessv1alpha1.Role) string {
	t.Helper()
	u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.DashboardUserSpec{Email: email, Role: role}}
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-api"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: name}, Tenure: "1h"}}
	for _, o := range []client.Object{u, pc} {
		if err := c.Client.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	return secretPasscode(t, c, ns, name+"-api", "")
}

// TestGatewayVerifyAndAuthThroughTheServiceAndNginx asks /v1/verify and /v1/auth through the
// access Service's ClusterIP, then puts nginx on the host in front of an API with auth_request to
// that ClusterIP: a valid passcode passes with the identity, none or a wrong one gets 401.
func TestGatewayVerifyAndAuthThroughTheServiceAndNginx(t *testing.T) {
	c := node(t)
	c.Install(t)
	ctx := context.Background()
	const ns = "team-gw"
	c.Namespace(t, ns, nil)
	code := grant(t, c, ns, "gw", "gw@example.com", accessv1alpha1.RoleApprover)
	base := c.AccessURL(t)
	hc := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 30*time.Second, "verify through the ClusterIP", func() bool {
		status, email, err := Verify(ctx, hc, base, ns, code)
		return err == nil && status == http.StatusOK && email == "gw@example.com"
	})
	const approver = "reports.read,dashboards.read,segments.read,campaigns.read,campaigns.approve"
	status, h, err := Auth(ctx, hc, base, ns, code)
	if err != nil || status != http.StatusOK || h.Get("X-Dashboard-User") != "gw@example.com" ||
		h.Get("X-Dashboard-Role") != "Approver" || h.Get("X-Dashboard-Permissions") != approver {
		t.Errorf("/v1/auth through the ClusterIP: %d %v %v", status, h, err)
	}
	for _, wrong := range []string{"", "dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if status, _, err := Verify(ctx, hc, base, ns, wrong); wrong != "" && (err != nil || status != http.StatusUnauthorized) {
			t.Errorf("verify %q through the ClusterIP: %d %v, want 401", wrong, status, err)
		}
		if status, _, err := Auth(ctx, hc, base, ns, wrong); err != nil || status != http.StatusUnauthorized {
			t.Errorf("auth %q through the ClusterIP: %d %v, want 401", wrong, status, err)
		}
	}
	if status, _, err := Verify(ctx, hc, base, "team-other", code); err != nil || status != http.StatusUnauthorized {
		t.Errorf("verify in another account: %d %v, want 401", status, err)
	}

	gw := StartGateway(t, base)
	var body string
	waitFor(t, 10*time.Second, "nginx to let the valid passcode through", func() bool {
		status, body, err = gw.Get(ctx, hc, ns, code)
		return err == nil && status == http.StatusOK
	})
	if want := "user=gw@example.com role=Approver permissions=" + approver + "\n"; body != want {
		t.Errorf("nginx passed on %q, want %q", body, want)
	}
	for _, wrong := range []string{"", "dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if status, body, err := gw.Get(ctx, hc, ns, wrong); err != nil || status != http.StatusUnauthorized || strings.Contains(body, "user=") {
			t.Errorf("nginx with passcode %q: %d %q %v, want 401", wrong, status, body, err)
		}
	}
	c.NoForbidden(t)
}
