package accessserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
)

// Envoy's ext_authz (HTTP service) and Traefik's ForwardAuth cannot run here, so these tests replay
// the check requests they send, per their documentation and source, against the real handler over
// HTTP, and apply what they do with the answer. The configurations replayed are the snippets of
// docs/access-server.md.
//
// Envoy (envoy.filters.http.ext_authz, http_service): the check keeps the original method and
// path, the path prefixed with path_prefix; no body (Content-Length: 0); of the client's headers
// only Host, Authorization and those matching allowed_headers (Envoy writes header names in lower
// case). A 200 lets the request on with the headers matching allowed_upstream_headers copied onto
// it; any other status is the client's answer, with the check's body and headers.
//
// Traefik (ForwardAuth): the check is a GET of address without body, with every header of the
// client's request (hop-by-hop ones removed) and X-Forwarded-For (the client's address),
// X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Uri. A 2xx lets the
// request on with the headers in authResponseHeaders replacing the client's; any other status is
// the client's answer, with the check's body and headers.

// proxyReplay turns a client's request into the check request a proxy sends to base (the access
// server's root URL), and tells what the client or the upstream gets from the check's answer.
type proxyReplay struct {
	name string
	// required is the permission the proxy's configuration requires ("" for none).
	check func(t *testing.T, base string, client *http.Request, clientAddr, required string) *http.Request
	// upstreamHeaders are the answer's headers the proxy copies onto the upstream request.
	upstreamHeaders []string
	// passes reports whether the proxy lets the request on.
	passes func(status int) bool
}

// Envoy's snippet: path_prefix /v1/auth, allowed_headers x-dashboard-account-id,
// x-dashboard-passcode, x-forwarded-for, allowed_upstream_headers x-dashboard-user,
// x-dashboard-role, x-dashboard-permissions; a requirement is authorization_request.headers_to_add
// x-dashboard-required-permission.
var envoyReplay = proxyReplay{
	name: "envoy ext_authz",
	check: func(t *testing.T, base string, in *http.Request, clientAddr, required string) *http.Request {
		req, err := http.NewRequest(in.Method, base+"/v1/auth"+in.URL.RequestURI(), http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = in.Host
		req.ContentLength = 0
		req.Header = http.Header{"content-length": {"0"}, "x-envoy-expected-rq-timeout-ms": {"200"}}
		// The HTTP connection manager (use_remote_address: true) appends the client's address.
		fwd := clientAddr
		if prior := in.Header.Get("X-Forwarded-For"); prior != "" {
			fwd = prior + "," + clientAddr
		}
		req.Header["x-forwarded-for"] = []string{fwd}
		for _, h := range []string{"Authorization", "X-Dashboard-Account-Id", "X-Dashboard-Passcode"} {
			if v := in.Header.Values(h); len(v) > 0 {
				req.Header[strings.ToLower(h)] = v
			}
		}
		if required != "" {
			req.Header["x-dashboard-required-permission"] = []string{required}
		}
		return req
	},
	upstreamHeaders: []string{headerUser, headerRole, headerPermissions},
	passes:          func(status int) bool { return status == http.StatusOK },
}

// Traefik's snippet: address http://<service>:8082/v1/auth, authResponseHeaders X-Dashboard-User,
// X-Dashboard-Role, X-Dashboard-Permissions, trustForwardHeader false; a requirement is a query of
// the address (…/v1/auth?permission=reports.write), which Traefik keeps.
var traefikReplay = proxyReplay{
	name: "traefik ForwardAuth",
	check: func(t *testing.T, base string, in *http.Request, clientAddr, required string) *http.Request {
		address := base + "/v1/auth"
		if required != "" {
			address += "?permission=" + required
		}
		req, err := http.NewRequest(http.MethodGet, address, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = in.Header.Clone()
		for _, hop := range []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailers",
			"Transfer-Encoding", "Upgrade"} {
			req.Header.Del(hop)
		}
		req.Header.Set("X-Forwarded-For", clientAddr) // not trusting the client's
		req.Header.Set("X-Forwarded-Method", in.Method)
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-Host", in.Host)
		req.Header.Set("X-Forwarded-Uri", in.URL.RequestURI())
		return req
	},
	upstreamHeaders: []string{headerUser, headerRole, headerPermissions},
	passes:          func(status int) bool { return status >= 200 && status < 300 },
}

// proxied is what a client or the upstream got through a replayed proxy.
type proxied struct {
	status   int    // the client's status: the upstream's 200 when the request passed
	body     string // the check's body when it did not pass
	header   http.Header
	upstream http.Header // the upstream request's headers when it passed
}

func (p proxyReplay) do(t *testing.T, base string, in *http.Request, clientAddr string) proxied {
	t.Helper()
	return p.doRequiring(t, base, in, clientAddr, "")
}

// doRequiring is do through a proxy configured to require a permission.
func (p proxyReplay) doRequiring(t *testing.T, base string, in *http.Request, clientAddr, required string) proxied {
	t.Helper()
	resp, err := http.DefaultClient.Do(p.check(t, base, in, clientAddr, required))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if !p.passes(resp.StatusCode) {
		return proxied{status: resp.StatusCode, body: string(body), header: resp.Header}
	}
	upstream := in.Header.Clone()
	for _, h := range p.upstreamHeaders {
		upstream.Del(h)
		if v := resp.Header.Values(h); len(v) > 0 {
			upstream[http.CanonicalHeaderKey(h)] = v
		}
	}
	return proxied{status: http.StatusOK, upstream: upstream}
}

// proxyFixture serves the access server from a fake cache holding a valid, a revoked and an
// expired passcode; the proxy's peer address is trusted to name the client.
func proxyFixture(t *testing.T) (base string, valid, revoked, expired string) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	valid, revoked, expired = passcode.Generate(), passcode.Generate(), passcode.Generate()
	pc, u := fixture()
	pc.Status.Hash, pc.Status.Previous = passcode.Hash(valid), nil
	rev, _ := fixture()
	rev.Name, rev.Spec.Revoked, rev.Status.Hash, rev.Status.Previous = "revoked", true, passcode.Hash(revoked), nil
	exp, _ := fixture()
	exp.Name, exp.Status.Hash, exp.Status.Previous = "expired", passcode.Hash(expired), nil
	exp.Status.IssuedAt, exp.Status.ExpiresAt = mt(now.Add(-time.Hour)), mt(now)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects([]client.Object{pc, rev, exp, u}...).Build()
	s := New(Config{Reader: c, Clock: clocktesting.NewFakeClock(now), FailureBurst: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, valid, revoked, expired
}

func clientRequest(t *testing.T, method, target, code string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, "http://dashboard.example.com"+target, strings.NewReader("a body the check never sees"))
	req.Header.Set("X-Dashboard-Account-Id", "team")
	if code != "" {
		req.Header.Set("X-Dashboard-Passcode", code)
	}
	req.Header.Set("X-Dashboard-User", "mallory@example.com") // spoofed: must not reach the upstream
	req.Header.Set("X-Dashboard-Role", "Admin")
	req.Header.Set("X-Dashboard-Permissions", "users.manage")
	req.Header.Set("Connection", "keep-alive")
	return req
}

// TestEnvoyAndTraefikChecks: through each proxy's check, a valid passcode passes any method and
// path with the user's identity replacing the client's headers; a wrong, revoked or expired one,
// or none, gets the access server's 401 and body; a client failing too often its 429 with
// Retry-After, while another client behind the same proxy does not.
func TestEnvoyAndTraefikChecks(t *testing.T) {
	for _, p := range []proxyReplay{envoyReplay, traefikReplay} {
		t.Run(p.name, func(t *testing.T) {
			base, valid, revoked, expired := proxyFixture(t)
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
				for _, target := range []string{"/api/reports", "/api/reports/7?full=1", "/"} {
					got := p.do(t, base, clientRequest(t, method, target, valid), "192.0.2.1")
					if got.status != http.StatusOK || got.upstream.Get(headerUser) != "jane@example.com" || got.upstream.Get(headerRole) != "Creator" ||
						len(got.upstream.Values(headerUser)) != 1 || got.upstream.Get(headerPermissions) != creatorPermissions ||
						len(got.upstream.Values(headerPermissions)) != 1 {
						t.Errorf("%s %s, valid: %d %q, upstream headers %v", method, target, got.status, got.body, got.upstream)
					}
				}
			}
			refused := []struct{ name, code string }{{"wrong", passcode.Generate()}, {"revoked", revoked}, {"expired", expired}, {"none", ""}}
			for i, tc := range refused {
				for _, method := range []string{http.MethodGet, http.MethodPost} {
					name := tc.name
					// A client of its own each: 2 failures, within the burst of 3.
					got := p.do(t, base, clientRequest(t, method, "/api/reports", tc.code), fmt.Sprintf("192.0.2.%d", 10+i))
					if got.status != http.StatusUnauthorized || got.body != string(deniedBody) || got.upstream != nil {
						t.Errorf("%s %s: %d %q, want 401 %s", name, method, got.status, got.body, deniedBody)
					}
				}
			}
			// A client failing more than the burst of 3: throttled.
			for i := 0; i < 3; i++ {
				p.do(t, base, clientRequest(t, http.MethodGet, "/api/reports", passcode.Generate()), "192.0.2.2")
			}
			got := p.do(t, base, clientRequest(t, http.MethodGet, "/api/reports", passcode.Generate()), "192.0.2.2")
			if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") == "" || got.body != string(throttledBody) {
				t.Errorf("throttled: %d %q Retry-After %q, want 429", got.status, got.body, got.header.Get("Retry-After"))
			}
			if got := p.do(t, base, clientRequest(t, http.MethodGet, "/api/reports", passcode.Generate()), "192.0.2.3"); got.status != http.StatusUnauthorized {
				t.Errorf("another client behind the proxy: %d, want 401", got.status)
			}
			if got := p.do(t, base, clientRequest(t, http.MethodGet, "/api/reports", valid), "192.0.2.2"); got.status != http.StatusOK {
				t.Errorf("a valid passcode from the throttled client: %d, want 200", got.status)
			}
		})
	}
}

// creatorPermissions is what the fixture's user (a Creator) holds, as X-Dashboard-Permissions.
var creatorPermissions = systemPermissions[accessv1alpha1.RoleCreator].header[0]

// TestEnvoyAndTraefikRequirePermissions: through each proxy configured to require a permission
// (Envoy's headers_to_add, Traefik's address query), a passcode whose role holds it passes with
// the permissions replacing the client's header; one whose role lacks it gets the 403 and its body,
// whatever the client adds to its own request (a header, a query), and never the identity.
func TestEnvoyAndTraefikRequirePermissions(t *testing.T) {
	forbidden := `{"valid":false,"error":"missing permission users.manage"}` + "\n"
	for _, p := range []proxyReplay{envoyReplay, traefikReplay} {
		t.Run(p.name, func(t *testing.T) {
			base, valid, _, _ := proxyFixture(t)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				got := p.doRequiring(t, base, clientRequest(t, method, "/api/reports", valid), "192.0.2.1", "reports.write")
				if got.status != http.StatusOK || got.upstream.Get(headerPermissions) != creatorPermissions || len(got.upstream.Values(headerPermissions)) != 1 {
					t.Errorf("%s requiring reports.write: %d %q, upstream %v", method, got.status, got.body, got.upstream)
				}
				for _, target := range []string{"/api/reports", "/api/reports?permission=reports.read"} {
					in := clientRequest(t, method, target, valid)
					in.Header.Set(headerRequiredPermission, "reports.read") // a client's attempt to lower the bar
					got = p.doRequiring(t, base, in, "192.0.2.1", "users.manage")
					if got.status != http.StatusForbidden || got.body != forbidden || got.upstream != nil || got.header.Get(headerUser) != "" {
						t.Errorf("%s %s requiring users.manage: %d %q %v, want 403 %q", method, target, got.status, got.body, got.header, forbidden)
					}
				}
			}
			// 403s are not failures: more of them than the burst of 3 throttle nothing.
			for range 5 {
				p.doRequiring(t, base, clientRequest(t, http.MethodGet, "/api/reports", valid), "192.0.2.5", "users.manage")
			}
			if got := p.do(t, base, clientRequest(t, http.MethodGet, "/api/reports", passcode.Generate()), "192.0.2.5"); got.status != http.StatusUnauthorized {
				t.Errorf("a wrong passcode after 403s: %d, want 401", got.status)
			}
		})
	}
}
