package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
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

// caddyfile is the Caddy configuration of docs/access-server.md, on loopback ports: /api/ asks
// /v1/auth, /reports/ asks /v1/auth/<path>, /drafts/ asks /v1/auth requiring reports.write. No admin endpoint, no automatic HTTPS, storage under
// the test's directory.
const caddyfile = `{
	admin off
	auto_https off
	storage file_system {
		root %[1]s/storage
	}
}
http://127.0.0.1:%[2]d {
	route /api/* {
		forward_auth 127.0.0.1:%[3]d {
			uri /v1/auth
			copy_headers X-Dashboard-User X-Dashboard-Role X-Dashboard-Permissions
		}
		reverse_proxy 127.0.0.1:%[4]d
	}
	route /reports/* {
		forward_auth 127.0.0.1:%[3]d {
			uri /v1/auth{path}
			copy_headers X-Dashboard-User X-Dashboard-Role X-Dashboard-Permissions
		}
		reverse_proxy 127.0.0.1:%[4]d
	}
	route /drafts/* {
		forward_auth 127.0.0.1:%[3]d {
			uri /v1/auth
			header_up X-Dashboard-Required-Permission reports.write
			copy_headers X-Dashboard-User X-Dashboard-Role X-Dashboard-Permissions
		}
		reverse_proxy 127.0.0.1:%[4]d
	}
}
`

// gatewayClient sends requests to a gateway from a loopback address of its own: the access server
// throttles each client (taken from the gateway's X-Forwarded-For), so each scenario is one client.
type gatewayClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newGatewayClient(t *testing.T, gatewayPort int, from string) *gatewayClient {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &gatewayClient{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", gatewayPort),
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}}
}

// do sends method path with the account and the passcode (none if empty), plus extra headers.
func (g *gatewayClient) do(method, path, passcode, body string, extra ...string) (*http.Response, string) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("X-Dashboard-Account-Id", "default")
	if passcode != "" {
		req.Header.Set("X-Dashboard-Passcode", passcode)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return &http.Response{StatusCode: 0, Header: http.Header{}}, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// getAPI is a GET of /api/reports with passcode: its status.
func (g *gatewayClient) getAPI(passcode string) int {
	g.t.Helper()
	resp, _ := g.do(http.MethodGet, "/api/reports", passcode, "")
	return resp.StatusCode
}

// startCaddy runs Debian's caddy with conf(port) on a free port until the test ends, and returns
// the port once caddy accepts connections. A port taken meanwhile (the control plane and other
// tests pick ports too) is retried with another one. It fails the test if caddy is not installed,
// like the nginx test (hack/test-deps.sh installs both).
func startCaddy(t *testing.T, dir string, conf func(port int) string) int {
	t.Helper()
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Fatal("caddy is not installed: apt-get install caddy (hack/test-deps.sh, which .ci/run and make test call, does)")
	}
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(conf(port)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(caddy, "run", "--config", path, "--adapter", "caddyfile")
		// Whatever caddy would keep (certificates, autosave.json, locks) stays in the test's directory.
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		deadline := time.After(10 * time.Second)
		for {
			if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
				_ = conn.Close()
				t.Cleanup(func() {
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
					<-exited
					if t.Failed() {
						t.Logf("caddy:\n%s", out.String())
					}
				})
				return port
			}
			select {
			case <-exited:
				if strings.Contains(out.String(), "address already in use") && attempt < 3 {
					t.Logf("port %d was taken, another one", port)
				} else {
					t.Fatalf("caddy exited: %v\n%s", waitErr, out.String())
				}
			case <-deadline:
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				t.Fatalf("caddy did not listen on %d within 10 s:\n%s", port, out.String())
			case <-time.After(50 * time.Millisecond):
				continue
			}
			break
		}
	}
}

// TestCaddyForwardAuthGuardsTheAPI puts Debian's Caddy in front of the dashboard's API with
// forward_auth to the access server of the built manager: a valid passcode passes any method with
// the user's identity (also through the /v1/auth/<path> form), a wrong, revoked or expired one gets
// the access server's 401, and a client that failed too often its 429 with Retry-After. Where
// reports.write is required, an Admin passes and an Approver gets the 403 and its body.
func TestCaddyForwardAuthGuardsTheAPI(t *testing.T) {
	t.Parallel()
	accessPort := freePort(t)
	state := t.TempDir()
	dev := startDev(t, state, fmt.Sprintf("--access-bind-address=127.0.0.1:%d", accessPort), "--trusted-proxies=127.0.0.1")
	defer dev.interrupt()

	c := dev.client()
	ctx := context.Background()
	// The shortest tenure there is, created first: it expires while the other scenarios run.
	_, shortCode := grantPasscode(t, c, "cd-short", "short@example.com", accessv1alpha1.RoleMember, "cd-short", "1m")
	user, code := grantPasscode(t, c, "cd", "cd@example.com", accessv1alpha1.RoleApprover, "cd-api", "1h")
	_, adminCode := grantPasscode(t, c, "cd-admin", "cd-admin@example.com", accessv1alpha1.RoleAdmin, "cd-admin-api", "1h")
	apiPort := identityAPI(t)
	dir := t.TempDir()
	gatewayPort := startCaddy(t, dir, func(port int) string { return fmt.Sprintf(caddyfile, dir, port, accessPort, apiPort) })

	valid := newGatewayClient(t, gatewayPort, "127.0.0.1")
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the last answer through caddy: %s", last)
		}
	})
	waitFor(t, 10*time.Second, "caddy to let the valid passcode through", func() bool {
		resp, body := valid.do(http.MethodGet, "/api/reports", code, "")
		last = fmt.Sprintf("%d %q", resp.StatusCode, body)
		return resp.StatusCode == http.StatusOK
	})
	if _, body := valid.do(http.MethodGet, "/api/reports", shortCode, ""); !strings.Contains(body, "hello short@example.com, you are Member") {
		t.Fatalf("the 1m passcode before its expiry: %q", body)
	}

	// Valid: any method, the body untouched, the identity from the access server (not the client's).
	for _, tc := range []struct{ method, path, body, want string }{
		{http.MethodGet, "/api/reports?q=1", "", `GET /api/reports?q=1 ""`},
		{http.MethodPost, "/api/reports", `{"title":"q3"}`, `POST /api/reports "{\"title\":\"q3\"}"`},
		{http.MethodDelete, "/api/reports/7", "", `DELETE /api/reports/7 ""`},
		// The /v1/auth/<path> form.
		{http.MethodGet, "/reports/q3?x=1", "", `GET /reports/q3?x=1 ""`},
		{http.MethodPut, "/reports/q3", "draft", `PUT /reports/q3 "draft"`},
	} {
		resp, body := valid.do(tc.method, tc.path, code, tc.body, "X-Dashboard-User", "mallory@example.com", "X-Dashboard-Role", "Admin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "hello cd@example.com, you are Approver\n"+tc.want) {
			t.Errorf("%s %s with a valid passcode: %d %q, want 200 with the identity and %s", tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
	}

	// A required permission (header_up): the Admin passes; the Approver, who reads reports but does
	// not write them, gets the 403 and its body, even when claiming a requirement it meets.
	if resp, body := valid.do(http.MethodPost, "/drafts/q3", adminCode, "x"); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, "hello cd-admin@example.com, you are Admin") || !strings.Contains(body, "reports.write") {
		t.Errorf("the Admin where reports.write is required: %d %q", resp.StatusCode, body)
	}
	forbidden := `{"valid":false,"error":"missing permission reports.write"}` + "\n"
	for _, claim := range []string{"", "reports.read"} {
		resp, body := valid.do(http.MethodPost, "/drafts/q3", code, "x", "X-Dashboard-Required-Permission", claim)
		if resp.StatusCode != http.StatusForbidden || body != forbidden {
			t.Errorf("the Approver where reports.write is required (claiming %q): %d %q, want 403 %q", claim, resp.StatusCode, body, forbidden)
		}
	}
	if _, body := valid.do(http.MethodGet, "/api/reports", code, ""); !strings.Contains(body, "permissions: reports.read,") ||
		strings.Contains(body, "reports.write") {
		t.Errorf("the Approver's permissions upstream: %q", body)
	}

	// Refused: the access server's 401 and body reach the client; the API is never called.
	wrong := newGatewayClient(t, gatewayPort, "127.0.0.3")
	for _, tc := range []struct{ method, path, passcode string }{
		{http.MethodGet, "/api/reports", ""},
		{http.MethodGet, "/api/reports", "dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{http.MethodPost, "/api/reports", "dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{http.MethodGet, "/reports/q3", "dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA"},
	} {
		resp, body := wrong.do(tc.method, tc.path, tc.passcode, "")
		if resp.StatusCode != http.StatusUnauthorized || body != `{"valid":false}`+"\n" {
			t.Errorf("%s %s with passcode %q: %d %q, want 401 {\"valid\":false}", tc.method, tc.path, tc.passcode, resp.StatusCode, body)
		}
	}

	// Throttled: one client failing over and over gets 429 with Retry-After through Caddy; other
	// clients behind the same gateway do not.
	throttled := newGatewayClient(t, gatewayPort, "127.0.0.2")
	var resp *http.Response
	var body string
	for i := 0; i < 20; i++ {
		if resp, body = throttled.do(http.MethodGet, "/api/reports", "dpc_BBBBBBBBBBBBBBBBBBBBBBBBBB", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Logf("refused with %d after %d failures", resp.StatusCode, i)
			break
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many failed attempts") {
		t.Errorf("a client failing 20 times: %d Retry-After %q %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if status := wrong.getAPI("dpc_BBBBBBBBBBBBBBBBBBBBBBBBBB"); status != http.StatusUnauthorized {
		t.Errorf("another client behind the gateway: %d, want 401", status)
	}
	if status := valid.getAPI(code); status != http.StatusOK {
		t.Errorf("the valid passcode after another client was throttled: %d, want 200", status)
	}

	// Revoked: the user's access is revoked, the same passcode is refused.
	patch := []byte(`{"spec":{"access":"Revoked"}}`)
	if err := c.Patch(ctx, user, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	revoked := newGatewayClient(t, gatewayPort, "127.0.0.4")
	waitFor(t, 5*time.Second, "caddy to refuse the revoked passcode", func() bool {
		return revoked.getAPI(code) == http.StatusUnauthorized
	})
	if resp, body := revoked.do(http.MethodPost, "/reports/q3", code, "x"); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "hello") {
		t.Errorf("POST with the revoked passcode: %d %q, want 401", resp.StatusCode, body)
	}

	// Expired: the 1m passcode, from its expiresAt on.
	pc := &accessv1alpha1.Passcode{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "cd-short"}, pc); err != nil || pc.Status.ExpiresAt == nil {
		t.Fatalf("the 1m passcode has no expiresAt: %v", err)
	}
	time.Sleep(time.Until(pc.Status.ExpiresAt.Time) + 100*time.Millisecond)
	expired := newGatewayClient(t, gatewayPort, "127.0.0.5")
	if resp, body := expired.do(http.MethodGet, "/api/reports", shortCode, ""); resp.StatusCode != http.StatusUnauthorized || body != `{"valid":false}`+"\n" {
		t.Errorf("the expired passcode: %d %q, want 401", resp.StatusCode, body)
	}
}
