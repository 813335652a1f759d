package controllers

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

func TestCopyRefusal(t *testing.T) {
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "api"}}
	for _, c := range []struct {
		name, ns   string
		watched    []string
		found      bool
		annotation string
		want       string // substring; "" = allowed
	}{
		{"consents", "b", nil, true, "team", ""},
		{"consents to any", "b", nil, true, "*", ""},
		{"consents among others", "b", []string{"team", "b"}, true, "x, team", ""},
		{"no annotation", "b", nil, true, "", `namespace "b" does not accept passcodes from "team"`},
		{"another account", "b", nil, true, "other", `does not accept passcodes from "team"`},
		{"missing namespace", "b", nil, false, "*", `namespace "b" does not exist`},
		{"outside --watch-namespaces", "b", []string{"team"}, true, "*", `namespace "b" is outside the manager's --watch-namespaces`},
		{"own namespace", "team", nil, true, "*", `namespace "team" is the Passcode's own`},
	} {
		got := copyRefusal(pc, c.ns, c.watched, c.found, c.annotation)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: copyRefusal = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCopiesCondition(t *testing.T) {
	status, reason, msg := copiesCondition(true, nil, 2, nil)
	if status != metav1.ConditionTrue || reason != accessv1alpha1.ReasonCopiesSynced || msg != "2 copies hold the Secret" {
		t.Errorf("all written: %s %s %q", status, reason, msg)
	}
	status, reason, _ = copiesCondition(false, nil, 2, nil)
	if status != metav1.ConditionFalse || reason != accessv1alpha1.ReasonCopiesPending {
		t.Errorf("nothing issued: %s %s", status, reason)
	}
	status, reason, msg = copiesCondition(true, []copyProblem{
		{accessv1alpha1.ReasonCopyRefused, `namespace "b" refuses`}, {accessv1alpha1.ReasonCopyFailed, "writing Secret c/api failed"},
	}, 3, nil)
	if status != metav1.ConditionFalse || reason != accessv1alpha1.ReasonCopyRefused ||
		msg != `Not copied: namespace "b" refuses; writing Secret c/api failed` {
		t.Errorf("problems: %s %s %q", status, reason, msg)
	}
}

// TestACopyContestIsShownOnBothSides: the Passcode refused a copy's name is told which namespace's
// Passcode holds it; the holder is told which namespaces ask for it too.
func TestACopyContestIsShownOnBothSides(t *testing.T) {
	shared := passcodesecret.CopyTarget{Namespace: "gateway", Name: "shared"}
	if got := conflictMessage(shared, "team-a"); got != `Secret gateway/shared is the copy of a Passcode in namespace "team-a", which wrote it first; it is left alone` {
		t.Errorf("refused: %q", got)
	}
	if got := conflictMessage(shared, ""); !strings.Contains(got, "is not a copy of this Passcode") {
		t.Errorf("someone else's Secret: %q", got)
	}
	note := contestedMessage(shared, []string{"team-b", "team-c"})
	status, reason, msg := copiesCondition(true, nil, 1, []string{note})
	if status != metav1.ConditionTrue || reason != accessv1alpha1.ReasonCopiesContested ||
		msg != `1 copies hold the Secret; kept against other Passcodes (the first to write a copy keeps its name): `+
			`Secret gateway/shared is also asked for by a Passcode in namespace "team-b", "team-c", refused there` {
		t.Errorf("holder: %s %s %q", status, reason, msg)
	}
	status, reason, msg = copiesCondition(true, []copyProblem{{accessv1alpha1.ReasonCopyFailed, "writing Secret c/api failed"}}, 2, []string{note})
	if status != metav1.ConditionFalse || reason != accessv1alpha1.ReasonCopyFailed || !strings.Contains(msg, `"team-b"`) {
		t.Errorf("a problem comes first, the contest still shows: %s %s %q", status, reason, msg)
	}
}
