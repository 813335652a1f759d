package ui

import (
	"bufio"
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

// newTableServer is the page over jane (Active, her status saying passcode Active), ana (Invited)
// and jane's Passcode, which is Revoked.
func newTableServer(t *testing.T) (*Server, client.WithWatch) {
	t.Helper()
	jane := &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane"},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", Role: accessv1alpha1.RoleMember, DisplayName: "Jane"},
		Status:     accessv1alpha1.DashboardUserStatus{Phase: accessv1alpha1.UserActive, PasscodeStatus: accessv1alpha1.PasscodeSummaryActive},
	}
	ana := &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "ana"},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: "ana@example.com", Role: accessv1alpha1.RoleAdmin, DisplayName: "Ana"},
		Status:     accessv1alpha1.DashboardUserStatus{Phase: accessv1alpha1.UserInvited},
	}
	pc := &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api"},
		Spec:       accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "30d", Revoked: true},
		Status:     accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeRevoked},
	}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(jane, ana, pc).WithStatusSubresource(jane, ana, pc).Build()
	s, err := New(Config{Client: c, Namespace: "team", Token: testToken, Addr: testAddr})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// row is the <tr> of user in body.
func row(t *testing.T, body, user string) string {
	t.Helper()
	i := strings.Index(body, `<tr data-user="`+user+`"`)
	if i < 0 {
		t.Fatalf("no row for %s in\n%s", user, body)
	}
	return body[i : i+strings.Index(body[i:], "</tr>")]
}

func TestPasscodeStatusComesFromThePasscodes(t *testing.T) {
	s, _ := newTableServer(t)
	body := do(s, http.MethodGet, "/?ns=team", nil, true, nil).Body.String()
	if r := row(t, body, "jane"); !strings.Contains(r, `data-key="passcode"><span class="badge Revoked">Revoked</span>`) {
		t.Errorf("jane's passcode is revoked, her status says Active; the row:\n%s", r)
	}
	if r := row(t, body, "ana"); !strings.Contains(r, `<span class="badge None">None</span>`) {
		t.Errorf("ana has no passcode:\n%s", r)
	}
	if user := do(s, http.MethodGet, "/user?ns=team&user=jane", nil, true, nil).Body.String(); !strings.Contains(user, `<dd id="passcode-status">Revoked</dd>`) {
		t.Errorf("jane's page does not say her passcode is Revoked")
	}
}

func TestSortAndSearchWithoutScript(t *testing.T) {
	s, _ := newTableServer(t)
	body := do(s, http.MethodGet, "/?ns=team&order=-email", nil, true, nil).Body.String()
	if strings.Index(body, `data-user="jane"`) > strings.Index(body, `data-user="ana"`) {
		t.Error("?order=-email does not put jane before ana")
	}
	for _, want := range []string{
		`<th scope="col" aria-sort="descending" data-key="email"><button type="submit" form="search" class="sort" name="order" value="email">Email</button>`,
		`<th scope="col" aria-sort="none" data-key="name"><button type="submit" form="search" class="sort" name="order" value="name">Name</button>`,
		`<input type="hidden" name="sort" value="email"><input type="hidden" name="desc" value="1">`,
		`data-search="jane jane member jane@example.com active revoked"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	body = do(s, http.MethodGet, "/?ns=team&q=INVITED", nil, true, nil).Body.String()
	if strings.Contains(body, `data-user="jane"`) || !strings.Contains(body, `data-user="ana"`) || !strings.Contains(body, "1 user matching “INVITED” (of 2 in the project)") {
		t.Errorf("?q=INVITED is not ana alone")
	}
	// The page's script is a file of its own (the CSP allows no inline script) and no element
	// carries an inline handler.
	if regexp.MustCompile(`<script(?:\s+[^>]*)?>[^<]`).MatchString(body) || regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Error("the page has an inline script or event handler")
	}
}

func TestInlineEditRole(t *testing.T) {
	s, c := newTableServer(t)
	body := do(s, http.MethodGet, "/?ns=team", nil, true, nil).Body.String()
	for _, want := range []string{`<label class="sr" for="role-jane">Role of jane@example.com</label>`, `<select id="role-jane" name="role">`,
		`aria-label="Save the role of jane@example.com"`} {
		if !strings.Contains(row(t, body, "jane"), want) {
			t.Errorf("jane's row lacks %s", want)
		}
	}
	form := url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}, "user": {"jane"}, "role": {"Approver"}, "from": {"table"}}
	w := do(s, http.MethodPost, "/set-role", form, true, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "dashboarduser/jane role changed from Member to Approver") ||
		!strings.Contains(w.Body.String(), `id="users-body"`) {
		t.Fatalf("%d\n%s", w.Code, w.Body.String())
	}
	u, _ := ops.GetUser(context.Background(), c, "team", "jane")
	if u.Spec.Role != accessv1alpha1.RoleApprover {
		t.Errorf("role %s", u.Spec.Role)
	}
	// A bad role is the CLI's error, word for word.
	_, perr := ops.ParseRole("Boss")
	form.Set("role", "Boss")
	w = do(s, http.MethodPost, "/set-role", form, true, nil)
	want := "<pre>error: " + template.HTMLEscapeString(perr.Error()) + "</pre>"
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), want) || !strings.Contains(w.Body.String(), `id="users-body"`) {
		t.Errorf("a bad role: %d, want %s in\n%s", w.Code, want, w.Body.String())
	}
}

func TestResendInvite(t *testing.T) {
	s, c := newTableServer(t)
	body := do(s, http.MethodGet, "/?ns=team", nil, true, nil).Body.String()
	if !strings.Contains(row(t, body, "ana"), `command="show-modal" aria-label="Resend invite to ana@example.com"`) ||
		!strings.Contains(row(t, body, "ana"), `<dialog id="resend-ana"`) {
		t.Error("ana (Invited) has no Resend invite")
	}
	if strings.Contains(row(t, body, "jane"), "Resend invite") {
		t.Error("jane (Active) is offered Resend invite")
	}
	if user := do(s, http.MethodGet, "/user?ns=team&user=ana", nil, true, nil).Body.String(); !strings.Contains(user, `<h2 id="h-resend">Resend Invite</h2>`) {
		t.Error("ana's page has no Resend Invite")
	}
	form := url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}, "user": {"ana"}, "from": {"table"}}
	if w := do(s, http.MethodPost, "/resend-invite", form, true, nil); w.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(w.Body.String(), "tick the confirmation box") {
		t.Errorf("without confirmation: %d", w.Code)
	}
	u, _ := ops.GetUser(context.Background(), c, "team", "ana")
	if u.Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation] != "" {
		t.Fatal("an unconfirmed resend was sent")
	}
	form.Set("confirm", "yes")
	if w := do(s, http.MethodPost, "/resend-invite", form, true, nil); w.Code != http.StatusOK ||
		!strings.Contains(w.Body.String(), "dashboarduser/ana invite resend requested at ") {
		t.Errorf("confirmed: %d\n%s", w.Code, w.Body.String())
	}
	u, _ = ops.GetUser(context.Background(), c, "team", "ana")
	if u.Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation] == "" {
		t.Error("the resend was not requested")
	}
}

// TestEventsFollowPasscodes: the live stream says when a Passcode changes, not only a user.
func TestEventsFollowPasscodes(t *testing.T) {
	var s *Server
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) }))
	defer ts.Close()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).Build()
	var err error
	if s, err = New(Config{Client: c, Namespace: "team", Token: testToken, Addr: strings.TrimPrefix(ts.URL, "http://")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/events?ns=team", nil)
	req.AddCookie(&http.Cookie{Name: s.cookieName, Value: s.session})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() || lines.Text() != "retry: 2000" {
		t.Fatalf("first line %q", lines.Text())
	}
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "30d"}}
	if err := c.Create(ctx, pc); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		if lines.Text() == "event: passcode" {
			if !lines.Scan() || lines.Text() != "data: ADDED" {
				t.Fatalf("data %q", lines.Text())
			}
			return
		}
	}
	t.Fatalf("no passcode event: %v", lines.Err())
}

// Custom roles are offered next to the system roles, and a role that does not exist is refused
// with the CLI's message before anything is written.
func TestCustomRoles(t *testing.T) {
	s, c := newTableServer(t)
	analyst := &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "data-analyst"}}
	elsewhere := &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "auditor"}}
	for _, r := range []*accessv1alpha1.DashboardRole{analyst, elsewhere} {
		if err := c.Create(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	w := do(s, http.MethodGet, "/?ns=team", nil, true, nil)
	if !strings.Contains(w.Body.String(), "<option>Approver</option><option>data-analyst</option></select>") {
		t.Fatalf("the role picker does not offer exactly the system roles and team's data-analyst (not another project's auditor):\n%s", w.Body.String())
	}
	form := url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}, "user": {"jane"}, "role": {"data-analyst"}, "from": {"table"}}
	if w = do(s, http.MethodPost, "/set-role", form, true, nil); w.Code != http.StatusOK {
		t.Fatalf("set-role to an existing custom role: %d\n%s", w.Code, w.Body.String())
	}
	form.Set("role", "auditor")
	w = do(s, http.MethodPost, "/set-role", form, true, nil)
	if err := ops.CheckRoleExists(context.Background(), c, "team", "auditor"); w.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(w.Body.String(), template.HTMLEscapeString(err.Error())) {
		t.Errorf("set-role to a missing role: %d\n%s", w.Code, w.Body.String())
	}
	if u, _ := ops.GetUser(context.Background(), c, "team", "jane"); u.Spec.Role != "data-analyst" {
		t.Errorf("role is %s, want data-analyst kept", u.Spec.Role)
	}
	invite := url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}, "email": {"kim@example.com"}, "role": {"auditor"}}
	if w = do(s, http.MethodPost, "/invite", invite, true, nil); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "does not exist") {
		t.Errorf("invite with a missing role: %d\n%s", w.Code, w.Body.String())
	}
	if u, err := ops.GetUser(context.Background(), c, "team", "kim@example.com"); err == nil {
		t.Errorf("a user was invited with a missing role: %v", u.Name)
	}
}
