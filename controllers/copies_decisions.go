package controllers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// Pure decisions of the copies reconciler: functions of the Passcode and what was read, table-tested
// without an API server.

// copyProblem is one copy that does not hold the primary's contents, and why.
type copyProblem struct {
	reason, message string
}

// copyRefusal is why a copy into namespace ns must not be written (empty: it may): the pure part of
// consent. found and annotation describe the target namespace; watched is --watch-namespaces (nil:
// all).
func copyRefusal(pc *accessv1alpha1.Passcode, ns string, watched []string, found bool, annotation string) string {
	switch {
	case ns == pc.Namespace:
		return fmt.Sprintf("namespace %q is the Passcode's own: the primary Secret is there", ns)
	case watched != nil && !slices.Contains(watched, ns):
		return fmt.Sprintf("namespace %q is outside the manager's --watch-namespaces", ns)
	case !found:
		return fmt.Sprintf("namespace %q does not exist", ns)
	case !passcodesecret.Consents(annotation, pc.Namespace):
		return fmt.Sprintf("namespace %q does not accept passcodes from %q (annotation %s)", ns, pc.Namespace,
			accessv1alpha1.AcceptPasscodesFromAnnotation)
	}
	return ""
}

// copiesCondition is the SecretCopies condition for what one reconcile found: True when every copy
// was written, else False with the first problem's reason and every problem's message. contested
// describes the copies of this Passcode that another Passcode asks for too (refused there): it makes
// a True condition CopiesContested and is added to any message, so the copy's owner sees the clash
// as well as the Passcode refused.
func copiesCondition(issued bool, problems []copyProblem, written int, contested []string) (metav1.ConditionStatus, string, string) {
	note := ""
	if len(contested) > 0 {
		note = "; kept against other Passcodes (the first to write a copy keeps its name): " + strings.Join(contested, "; ")
	}
	if len(problems) > 0 {
		msgs := make([]string, 0, len(problems))
		for _, p := range problems {
			msgs = append(msgs, p.message)
		}
		return metav1.ConditionFalse, problems[0].reason, "Not copied: " + strings.Join(msgs, "; ") + note
	}
	if !issued {
		return metav1.ConditionFalse, accessv1alpha1.ReasonCopiesPending, "No passcode was issued yet: nothing is copied"
	}
	if len(contested) > 0 {
		return metav1.ConditionTrue, accessv1alpha1.ReasonCopiesContested, fmt.Sprintf("%d copies hold the Secret", written) + note
	}
	return metav1.ConditionTrue, accessv1alpha1.ReasonCopiesSynced, fmt.Sprintf("%d copies hold the Secret", written)
}

// conflictMessage is why the copy at t is not written: the Secret there is owned by the Passcode
// of namespace owner (its copy, written first), or by no Passcode (owner empty).
func conflictMessage(t passcodesecret.CopyTarget, owner string) string {
	if owner != "" {
		return fmt.Sprintf("Secret %s is the copy of a Passcode in namespace %q, which wrote it first; it is left alone", t, owner)
	}
	return fmt.Sprintf("Secret %s exists and is not a copy of this Passcode; it is left alone", t)
}

// contestedMessage tells the owner of the copy at t which namespaces' Passcodes ask for it too.
func contestedMessage(t passcodesecret.CopyTarget, namespaces []string) string {
	quoted := make([]string, 0, len(namespaces))
	for _, ns := range namespaces {
		quoted = append(quoted, strconv.Quote(ns))
	}
	return fmt.Sprintf("Secret %s is also asked for by a Passcode in namespace %s, refused there", t, strings.Join(quoted, ", "))
}
