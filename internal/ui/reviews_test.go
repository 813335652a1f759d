package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

// reviewServer is a test server with an open review of two users; the API server says the
// caller is lead@example.com (SelfSubjectReview).
func reviewServer(t *testing.T) (*Server, client.WithWatch) {
	t.Helper()
	s, c := newTestServer(t, &interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if r, ok := obj.(*authenticationv1.SelfSubjectReview); ok {
			r.Status.UserInfo.Username = "lead@example.com"
			return nil
		}
		return c.Create(ctx, obj, opts...)
	}})
	rv := &accessv1alpha1.AccessReview{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "q4"},
		Spec: accessv1alpha1.AccessReviewSpec{Deadline: &metav1.Time{Time: time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC)}},
		Status: accessv1alpha1.AccessReviewStatus{Phase: accessv1alpha1.ReviewOpen, SnapshotAt: &metav1.Time{Time: time.Now()}, Total: 2, Undecided: 2,
			Users: []accessv1alpha1.ReviewedUser{
				{Name: "jane", Email: "jane@example.com", Role: "Member", Status: accessv1alpha1.UserActive},
				{Name: "omar", Email: "omar@example.com", Role: "Admin", Status: accessv1alpha1.UserInvited}}}}
	if err := c.Create(context.Background(), rv); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestReviewPagesRecordDecisionsAsTheCaller(t *testing.T) {
	s, c := reviewServer(t)
	list := do(s, http.MethodGet, "/reviews?ns=team", nil, true, nil)
	if list.Code != http.StatusOK || !strings.Contains(list.Body.String(), `<a href="/review?name=q4&amp;ns=team">q4</a>`) {
		t.Fatalf("%d\n%s", list.Code, list.Body.String())
	}
	page := do(s, http.MethodGet, "/review?ns=team&name=q4", nil, true, nil).Body.String()
	for _, want := range []string{`aria-label="Keep the access of jane@example.com"`, `aria-label="Revoke the access of omar@example.com at the deadline"`,
		"2 (0 decided, 2 undecided)", "(undecided)", `href="/review.csv?ns=team&amp;name=q4"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the review page lacks %s", want)
		}
	}

	form := url.Values{"csrf": {s.csrfToken()}, "ns": {"team"}, "name": {"q4"}, "email": {"omar@example.com"}, "decision": {"Revoke"}, "reason": {"left"}}
	w := do(s, http.MethodPost, "/review/decide", form, true, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "accessreview/q4: omar@example.com decided Revoke") {
		t.Fatalf("%d\n%s", w.Code, w.Body.String())
	}
	rv, err := ops.GetReview(context.Background(), c, "team", "q4")
	if err != nil {
		t.Fatal(err)
	}
	if len(rv.Spec.Decisions) != 1 || rv.Spec.Decisions[0].DecidedBy != "lead@example.com" || rv.Spec.Decisions[0].Reason != "left" ||
		rv.Spec.Decisions[0].Decision != accessv1alpha1.ReviewRevoke || rv.Spec.Decisions[0].DecidedAt == nil {
		t.Errorf("decisions: %+v", rv.Spec.Decisions)
	}

	// Bad input is the CLI's error, and nothing is written.
	form.Set("decision", "Maybe")
	if w := do(s, http.MethodPost, "/review/decide", form, true, nil); w.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(w.Body.String(), "error: decision &#34;Maybe&#34;: must be Keep or Revoke") {
		t.Errorf("%d\n%s", w.Code, w.Body.String())
	}
	form.Set("decision", "Keep")
	form.Set("email", "zed@example.com")
	if w := do(s, http.MethodPost, "/review/decide", form, true, nil); w.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(w.Body.String(), "no user &#34;zed@example.com&#34; in access review &#34;q4&#34;") {
		t.Errorf("%d\n%s", w.Code, w.Body.String())
	}
	// Without the CSRF token, refused before anything runs.
	form.Set("email", "jane@example.com")
	form.Del("csrf")
	if w := do(s, http.MethodPost, "/review/decide", form, true, nil); w.Code != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", w.Code)
	}
	if rv, _ := ops.GetReview(context.Background(), c, "team", "q4"); len(rv.Spec.Decisions) != 1 {
		t.Errorf("a refused decision was written: %+v", rv.Spec.Decisions)
	}

	csv := do(s, http.MethodGet, "/review.csv?ns=team&name=q4", nil, true, nil)
	if csv.Code != http.StatusOK || !strings.Contains(csv.Body.String(), "omar,,omar@example.com,Admin,Invited,,,Revoke,lead@example.com,") {
		t.Errorf("%d\n%s", csv.Code, csv.Body.String())
	}
}

func TestCompletedReviewShowsOutcomesAndNoButtons(t *testing.T) {
	s, c := reviewServer(t)
	rv, _ := ops.GetReview(context.Background(), c, "team", "q4")
	rv.Status.Phase, rv.Status.CompletedAt = accessv1alpha1.ReviewCompleted, &metav1.Time{Time: time.Now()}
	rv.Status.Users[0].Decision, rv.Status.Users[0].Outcome = accessv1alpha1.ReviewRevoke, accessv1alpha1.OutcomeRevoked
	rv.Status.Users[1].Decision, rv.Status.Users[1].Outcome = accessv1alpha1.ReviewKeep, accessv1alpha1.OutcomeKept
	if err := c.Update(context.Background(), rv); err != nil {
		t.Fatal(err)
	}
	page := do(s, http.MethodGet, "/review?ns=team&name=q4", nil, true, nil).Body.String()
	if strings.Contains(page, `action="/review/decide"`) || !strings.Contains(page, "<th scope=\"col\">Outcome</th>") ||
		!strings.Contains(page, `<td data-label="Outcome">Revoked</td>`) || !strings.Contains(page, "(default decision)") {
		t.Errorf("completed review page:\n%s", page)
	}
	if w := do(s, http.MethodGet, "/review?ns=team&name=nope", nil, true, nil); w.Code != http.StatusNotFound ||
		!strings.Contains(w.Body.String(), "access review &#34;nope&#34; not found") {
		t.Errorf("%d", w.Code)
	}
}
