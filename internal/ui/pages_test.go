package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// newPagedServer is the page over n users u000, u001, ... (u000@example.com, ...), every third
// one Invited. (internal/plugin's scale test runs the same against a real API server with
// thousands of users.)
func newPagedServer(t *testing.T, n int) *Server {
	t.Helper()
	objs := make([]client.Object, 0, n)
	for i := range n {
		name := fmt.Sprintf("u%03d", i)
		u := &accessv1alpha1.DashboardUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
			Spec:       accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: accessv1alpha1.RoleMember},
		}
		if i%3 == 0 {
			u.Status.Phase = accessv1alpha1.UserInvited
		}
		objs = append(objs, u)
	}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
	s, err := New(Config{Client: c, Namespace: "team", Token: testToken, Addr: testAddr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rowUsers(body string) []string {
	matches := regexp.MustCompile(`<tr data-user="([^"]+)"`).FindAllStringSubmatch(body, -1)
	users := make([]string, 0, len(matches))
	for _, m := range matches {
		users = append(users, m[1])
	}
	return users
}

func TestTableIsPaged(t *testing.T) {
	s := newPagedServer(t, 250)
	body := do(s, http.MethodGet, "/?ns=team", nil, true, nil).Body.String()
	if got := rowUsers(body); len(got) != 100 || got[0] != "u000" || got[99] != "u099" {
		t.Fatalf("the first page is not u000 to u099 (100 rows): %d rows %v", len(got), got)
	}
	for _, want := range []string{
		`<p id="shown" class="muted" role="status">1–100 of 250 users</p>`,
		`<nav class="pager" aria-label="Pages of users">`,
		`<a href="/?ns=team&amp;offset=100" rel="next">Next 100 →</a>`,
		`<span class="muted" aria-disabled="true">← Previous</span>`,
		`data-paged="1"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the first page lacks %s", want)
		}
	}
	body = do(s, http.MethodGet, "/?ns=team&offset=200", nil, true, nil).Body.String()
	if got := rowUsers(body); len(got) != 50 || got[0] != "u200" {
		t.Errorf("the last page is not u200 to u249: %v", got)
	}
	if !strings.Contains(body, `201–250 of 250 users`) || !strings.Contains(body, `<a href="/?ns=team&amp;offset=100" rel="prev">`) ||
		strings.Contains(body, `rel="next"`) {
		t.Errorf("the last page's counts or links are wrong")
	}

	// Search and sort are over the whole project, then paged; the links keep them and the size.
	body = do(s, http.MethodGet, "/?ns=team&q=invited&order=-email&limit=30&offset=30", nil, true, nil).Body.String()
	if got := rowUsers(body); len(got) != 30 || got[0] != "u159" {
		t.Errorf("the second page of 30 of the Invited users, by email descending, starts with %v, not u159", got)
	}
	for _, want := range []string{
		`31–60 of 84 users matching “invited” (of 250 in the project)`,
		`<a href="/?desc=1&amp;limit=30&amp;ns=team&amp;q=invited&amp;sort=email" rel="prev">`,
		`<a href="/?desc=1&amp;limit=30&amp;ns=team&amp;offset=60&amp;q=invited&amp;sort=email" rel="next">`,
		`<input type="hidden" name="limit" value="30">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the filtered page lacks %s", want)
		}
	}

	// Every page in turn shows every user once.
	seen := map[string]int{}
	for offset := 0; offset < 250; offset += 70 {
		for _, u := range rowUsers(do(s, http.MethodGet, fmt.Sprintf("/?ns=team&limit=70&offset=%d", offset), nil, true, nil).Body.String()) {
			seen[u]++
		}
	}
	if len(seen) != 250 {
		t.Errorf("the pages showed %d users, not 250", len(seen))
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s is on %d pages", u, n)
		}
	}

	// A link that outlived deletions shows the last page rather than nothing.
	if got := rowUsers(do(s, http.MethodGet, "/?ns=team&offset=5000", nil, true, nil).Body.String()); len(got) != 50 || got[0] != "u200" {
		t.Errorf("?offset=5000 of 250 users does not show the last page: %v", got)
	}

	// The rows alone (the script's refresh) carry the count line and whether the table is paged.
	rec := do(s, http.MethodGet, "/?ns=team&partial=rows&offset=100", nil, true, nil)
	if rec.Header().Get("X-Users-Shown") != "101–200 of 250 users" || rec.Header().Get("X-Users-Paged") != "1" || len(rowUsers(rec.Body.String())) != 100 {
		t.Errorf("partial rows: headers %v, %d rows", rec.Header(), len(rowUsers(rec.Body.String())))
	}
}

func TestSmallTableIsOnePage(t *testing.T) {
	s := newPagedServer(t, 3)
	body := do(s, http.MethodGet, "/?ns=team", nil, true, nil).Body.String()
	if len(rowUsers(body)) != 3 || !strings.Contains(body, `<p id="shown" class="muted" role="status">3 users</p>`) ||
		strings.Contains(body, `class="pager"`) || strings.Contains(body, `data-paged`) {
		t.Errorf("three users are not one page without a pager, searched and sorted by the script")
	}
}

func TestBadPageParameters(t *testing.T) {
	s := newPagedServer(t, 3)
	for q, want := range map[string]string{
		"limit=0":     `invalid limit "0": must be a whole number of rows from 1 to 1000`,
		"limit=abc":   `invalid limit "abc": must be a whole number of rows from 1 to 1000`,
		"limit=1001":  `invalid limit "1001": must be a whole number of rows from 1 to 1000`,
		"offset=-1":   `invalid offset "-1": must be a whole number, 0 or more`,
		"offset=next": `invalid offset "next": must be a whole number, 0 or more`,
	} {
		rec := do(s, http.MethodGet, "/?ns=team&"+q, nil, true, nil)
		body := rec.Body.String()
		if rec.Code != http.StatusBadRequest || !strings.Contains(body, `<div class="error" role="alert">`) ||
			!strings.Contains(body, "error: "+htmlEscape(want)) {
			t.Errorf("?%s: %d, the page does not say %q", q, rec.Code, want)
		}
		if len(rowUsers(body)) != 0 {
			t.Errorf("?%s shows rows", q)
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&#39;").Replace(s)
}

// The download streams the project's users as the plugin's export does; the page links to it.
func TestDownloadIsEveryUser(t *testing.T) {
	s := newPagedServer(t, 250)
	rec := do(s, http.MethodGet, "/export.csv?"+url.Values{"ns": {"team"}}.Encode(), nil, true, nil)
	if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), "\n") != 251 {
		t.Errorf("the download: %d, %d lines, not a header and 250 users", rec.Code, strings.Count(rec.Body.String(), "\n"))
	}
}

// An action on a row of a later page (or of a search) shows the same page afterwards: the row's
// form carries the table's view.
func TestActionKeepsThePage(t *testing.T) {
	s := newPagedServer(t, 250)
	body := do(s, http.MethodGet, "/?ns=team&q=example&offset=100", nil, true, nil).Body.String()
	if !strings.Contains(row(t, body, "u150"), `<input type="hidden" name="q" value="example"><input type="hidden" name="offset" value="100">`) {
		t.Fatalf("u150's forms do not carry the view:\n%s", row(t, body, "u150"))
	}
	form := url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}, "user": {"u150"}, "role": {"Approver"}, "from": {"table"},
		"q": {"example"}, "offset": {"100"}}
	w := do(s, http.MethodPost, "/set-role", form, true, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "dashboarduser/u150 role changed from Member to Approver") ||
		!strings.Contains(w.Body.String(), "101–200 of 250 users matching “example”") {
		t.Errorf("after the action: %d, not the page of u150", w.Code)
	}
}
