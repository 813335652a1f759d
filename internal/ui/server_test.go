package ui

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/users"
)

const (
	testToken = "the-session-token"
	testAddr  = "127.0.0.1:8123"
)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestServer(t *testing.T, funcs *interceptor.Funcs) (*Server, client.WithWatch) {
	t.Helper()
	jane := &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane"},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", Role: accessv1alpha1.RoleMember, DisplayName: "=Jane"},
	}
	b := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(jane, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}})
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	c := b.Build()
	s, err := New(Config{Client: c, Namespace: "team", Token: testToken, Addr: testAddr})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// do sends a request to s with the Host of the bound address and, when session, the cookie.
func do(s *Server, method, target string, form url.Values, session bool, headers map[string]string) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "http://"+testAddr+target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if session {
		r.AddCookie(&http.Cookie{Name: s.cookieName, Value: s.session})
	}
	for k, v := range headers {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestRefusedWithoutSession(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for _, target := range []string{"/", "/export.csv", "/invite", "/static/style.css", "/?token=wrong"} {
		if w := do(s, http.MethodGet, target, nil, false, nil); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without the session: %d, want 401", target, w.Code)
		}
	}
	w := do(s, http.MethodPost, "/invite", url.Values{"email": {"a@b.io"}, "role": {"Member"}}, false, nil)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("POST without the session: %d, want 401", w.Code)
	}
	wrong := httptest.NewRequest(http.MethodGet, "http://"+testAddr+"/", nil)
	wrong.AddCookie(&http.Cookie{Name: s.cookieName, Value: "guess"})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, wrong)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("a wrong cookie: %d, want 401", rec.Code)
	}
}

func TestTokenBecomesCookieAndLeavesTheAddress(t *testing.T) {
	s, _ := newTestServer(t, nil)
	w := do(s, http.MethodGet, "/?ns=team&token="+testToken, nil, false, nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", w.Code)
	}
	if loc := w.Header().Get("Location"); loc != "/?ns=team" {
		t.Errorf("Location %q, want the address without the token", loc)
	}
	if again := do(s, http.MethodGet, "/?ns=team&token="+testToken, nil, false, nil); again.Code != http.StatusUnauthorized {
		t.Errorf("the link a second time: %d, want 401", again.Code)
	}
	cookie := w.Header().Get("Set-Cookie")
	for _, want := range []string{s.cookieName + "=" + s.session, "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", cookie, want)
		}
	}
}

// TestTheURLsTokenIsNotTheSession: the printed URL (seen in a terminal, in ps, in the browser's
// history) opens nothing once used, not even sent as the cookie; the cookie's value is a secret of
// its own, and the CSRF token cannot be derived from it.
func TestTheURLsTokenIsNotTheSession(t *testing.T) {
	s, _ := newTestServer(t, nil)
	used := 0
	s.tokenUsedHook = func() { used++ }
	w := do(s, http.MethodGet, "/?ns=team&token="+testToken, nil, false, nil)
	var session *http.Cookie
	for _, c := range w.Result().Cookies() {
		session = c
	}
	if w.Code != http.StatusSeeOther || session == nil || used != 1 {
		t.Fatalf("accepting the token: %d, cookie %v, hook called %d times", w.Code, session, used)
	}
	if session.Value == testToken || strings.Contains(session.Value, testToken) {
		t.Errorf("the cookie carries the URL's token: %s", session)
	}
	for _, name := range []string{session.Name, "dashboard_session"} {
		r := httptest.NewRequest(http.MethodGet, "http://"+testAddr+"/", nil)
		r.AddCookie(&http.Cookie{Name: name, Value: testToken})
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("the used URL token as cookie %s: %d, want 401", name, rec.Code)
		}
	}
	m := hmac.New(sha256.New, []byte(session.Value))
	m.Write([]byte("csrf"))
	for _, derived := range []string{base64.RawURLEncoding.EncodeToString(m.Sum(nil)), session.Value, testToken} {
		if s.csrfToken() == derived {
			t.Errorf("the CSRF token is derived from the cookie or the URL")
		}
	}
	if again := do(s, http.MethodGet, "/?ns=team&token="+testToken, nil, false, nil); again.Code != http.StatusUnauthorized || used != 1 {
		t.Errorf("the link a second time: %d, hook called %d times", again.Code, used)
	}
}

// TestCookieNameIsPerServer: cookies are not isolated by port, so each page names its cookie with
// its port and a random part: a second page (another run, another port or the same one later)
// neither takes nor overwrites the first one's session, and no other service can guess the name.
func TestCookieNameIsPerServer(t *testing.T) {
	a, _ := newTestServer(t, nil)
	b, _ := newTestServer(t, nil)
	if a.cookieName == b.cookieName || !strings.HasPrefix(a.cookieName, "dashboard_session_8123_") {
		t.Errorf("cookie names %q and %q: want one per server, with the port", a.cookieName, b.cookieName)
	}
	if a.session == b.session {
		t.Error("two servers share a session")
	}
	setA := do(a, http.MethodGet, "/?token="+testToken, nil, false, nil).Result().Cookies()
	if len(setA) != 1 || setA[0].Name != a.cookieName {
		t.Fatalf("server a set %v", setA)
	}
	r := httptest.NewRequest(http.MethodGet, "http://"+testAddr+"/", nil)
	r.AddCookie(setA[0])
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("server b took server a's cookie: %d", rec.Code)
	}
}

func TestWrongHostRefused(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for _, host := range []string{"evil.example:8123", "127.0.0.1:9999", "attacker.test"} {
		w := do(s, http.MethodGet, "/", nil, true, map[string]string{"Host": host})
		if w.Code != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %d, want 421", host, w.Code)
		}
		w = do(s, http.MethodGet, "/?token="+testToken, nil, false, map[string]string{"Host": host})
		if w.Code != http.StatusMisdirectedRequest || w.Header().Get("Set-Cookie") != "" {
			t.Errorf("Host %s with the token: %d, want 421 and no cookie", host, w.Code)
		}
	}
	if w := do(s, http.MethodGet, "/", nil, true, map[string]string{"Host": "localhost:8123"}); w.Code != http.StatusOK {
		t.Errorf("Host localhost:8123: %d, want 200", w.Code)
	}
}

func TestCrossSitePostRefused(t *testing.T) {
	s, c := newTestServer(t, nil)
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "ns": {"team"}, "email": {"omar@example.com"}, "role": {"Admin"}}
	}
	cases := []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"no CSRF token", form(""), nil},
		{"a wrong CSRF token", form("guess"), nil},
		{"another Origin", form(s.csrfToken()), map[string]string{"Origin": "http://evil.example"}},
		{"a cross-site fetch", form(s.csrfToken()), map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"the session token as CSRF token", form(testToken), nil},
	}
	for _, tc := range cases {
		if w := do(s, http.MethodPost, "/invite", tc.form, true, tc.headers); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, w.Code)
		}
	}
	var list accessv1alpha1.DashboardUserList
	if err := c.List(context.Background(), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("a refused POST wrote: %d users, %v", len(list.Items), err)
	}
	w := do(s, http.MethodPost, "/invite", form(s.csrfToken()), true,
		map[string]string{"Origin": "http://" + testAddr, "Sec-Fetch-Site": "same-origin"})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "1 users successfully invited") {
		t.Fatalf("same-origin POST: %d\n%s", w.Code, w.Body.String())
	}
}

func TestSecurityHeaders(t *testing.T) {
	s, _ := newTestServer(t, nil)
	w := do(s, http.MethodGet, "/", nil, true, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	body := w.Body.String()
	for _, want := range []string{"jane@example.com", "Passcode-Status", "Last Login", "User Status", `<option value="team" selected>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the page refers to another origin")
	}
}

// TestExportIsTheCLIsCSV: the page's export is the file `kubectl dashboard users export` writes
// (internal/plugin/render_test.go holds the same header), byte for byte: the columns in order, the
// formula-looking display name neutralised, a download that is never cached.
func TestExportIsTheCLIsCSV(t *testing.T) {
	s, _ := newTestServer(t, nil)
	w := do(s, http.MethodGet, "/export.csv?ns=team", nil, true, nil)
	want := "Name,Role,Email,User Status,Last Login,Passcode-Status\n" +
		"'=Jane,Member,jane@example.com,Pending,,None\n"
	if w.Code != http.StatusOK || w.Body.String() != want {
		t.Errorf("export %d:\n%s\nwant:\n%s", w.Code, w.Body.String(), want)
	}
	for header, value := range map[string]string{"Content-Type": "text/csv; charset=utf-8",
		"Content-Disposition": `attachment; filename="users-team.csv"`, "Cache-Control": "no-store"} {
		if got := w.Header().Get(header); got != value {
			t.Errorf("%s: %q, want %q", header, got, value)
		}
	}
}

func TestInviteRefusesMoreThan50(t *testing.T) {
	s, _ := newTestServer(t, nil)
	form := url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}}
	for i := range 52 {
		form.Add("email", fmt.Sprintf("u%d@example.com", i))
		form.Add("role", "Member")
	}
	form["email"][0] = "NOT-AN-EMAIL"
	w := do(s, http.MethodPost, "/invite", form, true, nil)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, "at most 50 can be invited") || !strings.Contains(body, "row 1") {
		t.Errorf("%d\n%s", w.Code, body)
	}
}

func TestForbiddenIsNotAllowed(t *testing.T) {
	forbid := interceptor.Funcs{Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
		return apierrors.NewForbidden(schema.GroupResource{Group: "access.dashboardops.io", Resource: "dashboardusers"}, "jane", fmt.Errorf("RBAC"))
	}}
	s, _ := newTestServer(t, &forbid)
	form := url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}, "user": {"jane"}, "role": {"Admin"}}
	w := do(s, http.MethodPost, "/set-role", form, true, nil)
	body := w.Body.String()
	if w.Code != http.StatusForbidden || !strings.Contains(body, "Not allowed") ||
		!strings.Contains(body, "error: changing the role of dashboarduser/jane: dashboardusers.access.dashboardops.io &#34;jane&#34; is forbidden") {
		t.Errorf("%d\n%s", w.Code, body)
	}
	// An invite the API server refuses is Not allowed too.
	forbidCreate := interceptor.Funcs{Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
		return apierrors.NewForbidden(schema.GroupResource{Group: "access.dashboardops.io", Resource: "dashboardusers"}, "", fmt.Errorf("RBAC"))
	}}
	s2, _ := newTestServer(t, &forbidCreate)
	form = url.Values{"csrf": {s2.csrfToken()}, "ns": {"team"}, "email": {"dan@example.com"}, "role": {"Member"}}
	if w := do(s2, http.MethodPost, "/invite", form, true, nil); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "Not allowed") ||
		!strings.Contains(w.Body.String(), "error: 1 of 1 users could not be invited:") {
		t.Errorf("forbidden invite: %d\n%s", w.Code, w.Body.String())
	}
	// A destructive action needs its confirmation.
	form = url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}, "user": {"jane"}, "access": {"Revoked"}}
	if w := do(s, http.MethodPost, "/access", form, true, nil); !strings.Contains(w.Body.String(), "tick the confirmation box") {
		t.Errorf("revoke without confirmation: %d", w.Code)
	}
}

// TestFormatCharactersShownEscaped: a display name stored with a right-to-left override (before
// the CRD refused it) reads as stored on the users table, the user's page and the CSV export.
func TestFormatCharactersShownEscaped(t *testing.T) {
	s, c := newTestServer(t, nil)
	jane := &accessv1alpha1.DashboardUser{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: "jane"}, jane); err != nil {
		t.Fatal(err)
	}
	jane.Spec.DisplayName = "jane\u202emoc.elpmaxe \u2066x\u2069"
	if err := c.Update(context.Background(), jane); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/?ns=team", "/user?ns=team&user=jane", "/export.csv?ns=team"} {
		w := do(s, http.MethodGet, target, nil, true, nil)
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, `jane\u202emoc.elpmaxe \u2066x\u2069`) {
			t.Errorf("GET %s: %d, the name is not shown escaped:\n%s", target, w.Code, body)
		}
		if strings.ContainsFunc(body, users.Hidden) && strings.ContainsAny(body, "\u202e\u2066\u2069") {
			t.Errorf("GET %s: a raw format character reached the page", target)
		}
	}
}
