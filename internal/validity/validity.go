// Package validity is how long a Passcode's spec lets an issued passcode work: the spec's durations
// parsed once, and the limits they put on status. The controller clamps status to the limits; the
// access server checks every request against them too, because status is written by whoever may
// patch passcodes/status and a shortened tenure must bite at once. One definition keeps the two
// from disagreeing about when a passcode ends.
package validity

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
)

// Timings are a Passcode spec's durations, parsed.
type Timings struct {
	Tenure      time.Duration // spec.tenure
	RenewBefore time.Duration // spec.rotation.renewBefore, or a third of the tenure
	Grace       time.Duration // spec.rotation.gracePeriod: how long a replaced passcode still works
}

// Parse parses the spec's durations. The CRD's CEL rules accept exactly what this accepts, so an
// error (naming the field) means the API server's validation was bypassed.
func Parse(spec *accessv1alpha1.PasscodeSpec) (Timings, error) {
	tenure, err := duration.Tenure(spec.Tenure)
	if err != nil {
		return Timings{}, fmt.Errorf("spec.tenure: %w", err)
	}
	t := Timings{Tenure: tenure}
	if r := spec.Rotation; r != nil {
		if t.RenewBefore, err = duration.RenewBefore(r.RenewBefore, tenure); err != nil {
			return Timings{}, fmt.Errorf("spec.rotation.renewBefore: %w", err)
		}
		if t.Grace, err = duration.GracePeriod(r.GracePeriod); err != nil {
			return Timings{}, fmt.Errorf("spec.rotation.gracePeriod: %w", err)
		}
	} else {
		t.RenewBefore = duration.DefaultRenewBefore(tenure)
	}
	return t, nil
}

// Limits are the latest times the spec allows a passcode issued at issuedAt, whatever status says.
type Limits struct {
	Expires       time.Time // issuedAt + tenure: the current passcode's end
	PreviousUntil time.Time // issuedAt + grace period: the replaced passcode's end
}

// LimitsOf are t's limits for a passcode issued at issued.
func LimitsOf(issued time.Time, t Timings) Limits {
	return Limits{Expires: issued.Add(t.Tenure), PreviousUntil: issued.Add(t.Grace)}
}

// Clamp keeps an Active passcode's status within the limits: a shortened tenure ends the current
// passcode at issuedAt + tenure, a shortened grace period ends the previous one at issuedAt +
// gracePeriod. A longer tenure applies from the next issue, so nothing is ever extended.
func Clamp(st *accessv1alpha1.PasscodeStatus, t Timings) {
	if st.Phase != accessv1alpha1.PasscodeActive || st.IssuedAt == nil {
		return
	}
	l := LimitsOf(st.IssuedAt.Time, t)
	if st.ExpiresAt != nil && l.Expires.Before(st.ExpiresAt.Time) {
		at := metav1.NewTime(l.Expires)
		st.ExpiresAt = &at
	}
	if p := st.Previous; p != nil && l.PreviousUntil.Before(p.ValidUntil.Time) {
		p.ValidUntil = metav1.NewTime(l.PreviousUntil)
	}
}

// Hashes are the hashes that may open a Passcode with status st: the current one and, while it
// exists, the previous one (the grace period after a rotation). The access server indexes Passcodes
// by them, and an import refuses a value whose hash another Passcode of the namespace holds.
func Hashes(st *accessv1alpha1.PasscodeStatus) []string {
	var out []string
	if st.Hash != "" {
		out = append(out, st.Hash)
	}
	if p := st.Previous; p != nil && p.Hash != "" {
		out = append(out, p.Hash)
	}
	return out
}
