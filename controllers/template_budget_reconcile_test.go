package controllers

import (
	"runtime"
	"strings"
	"testing"

	apimeta "k8s.io/apimachinery/pkg/api/meta"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// Issue 22, item 1. The bombs are sized so that the manager as it was renders them to the end (a
// moment and megabytes each, writing nothing), so these tests fail on it instead of hanging; the
// full-size ones (1 GiB, hours) are in internal/passcodesecret's TestBombsAreRefusedBeforeTheyRun.

// CELTemplateBombs are refused at apply by the CRD's rules; the controller refuses the same texts when
// they reach it another way (TestReconcileStallsBombsThatBypassTheCRD).
var CELTemplateBombs = map[string]string{
	"range":    "{{ range 1000000 }}{{ end }}",
	"doubling": `{{ $x := "aaaa" }}` + strings.Repeat(`{{ $x = printf "%s%s" $x $x }}`, 22), // 16 MiB
}

// The CRD's rules can be bypassed (an object stored before an upgrade, a CRD installed without
// them): the controller refuses the same texts, stalls the Passcode naming the key, issues nothing
// and allocates next to nothing doing so.
func TestReconcileStallsBombsThatBypassTheCRD(t *testing.T) {
	for name, text := range CELTemplateBombs {
		pc := testPasscode("1h", nil)
		pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"bomb": accessv1alpha1.DataTemplate(text)}}
		r, _, _ := newFakeReconciler(t, testUser(), pc)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, got := reconcileOnce(t, r)
		runtime.ReadMemStats(&after)
		stalled := apimeta.FindStatusCondition(got.Status.Conditions, accessv1alpha1.ConditionStalled)
		if stalled == nil || stalled.Reason != accessv1alpha1.ReasonInvalidSpec || !strings.HasPrefix(stalled.Message, "spec.secretTemplate.data[bomb]: templates may not") {
			t.Errorf("%s: stalled %+v", name, stalled)
		}
		if got.Status.Phase != accessv1alpha1.PasscodePending {
			t.Errorf("%s: phase %s", name, got.Status.Phase)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
			t.Errorf("%s: one reconcile allocated %d bytes", name, n)
		}
	}
}
