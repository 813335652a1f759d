package passcodestatus

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// The users page reads Passcodes page by page and keeps one summary per user: Better folded over
// each Passcode's own summary must be Summarize over them all, whatever the order.
func TestBetterFoldIsSummarize(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(d)} }
	kinds := []accessv1alpha1.Passcode{
		{}, // Pending: None
		{Spec: accessv1alpha1.PasscodeSpec{Tenure: "30d"}, Status: accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, ExpiresAt: at(20 * 24 * time.Hour)}},
		{Spec: accessv1alpha1.PasscodeSpec{Tenure: "30d"}, Status: accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, ExpiresAt: at(time.Hour)}},
		{Spec: accessv1alpha1.PasscodeSpec{Tenure: "30d"}, Status: accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, ExpiresAt: at(-time.Hour)}},
		{Status: accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeExpired}},
		{Status: accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeRevoked}},
	}
	for a := range kinds {
		for b := range kinds {
			for c := range kinds {
				pcs := []accessv1alpha1.Passcode{kinds[a], kinds[b], kinds[c]}
				want, _ := Summarize(now, pcs)
				var got accessv1alpha1.PasscodeSummary
				for i := range pcs {
					one, _ := Summarize(now, pcs[i:i+1])
					got = Better(got, one)
				}
				if got == "" {
					got = accessv1alpha1.PasscodeSummaryNone
				}
				if got != want {
					t.Errorf("passcodes %d, %d, %d: folded %s, Summarize %s", a, b, c, got, want)
				}
			}
		}
	}
}
