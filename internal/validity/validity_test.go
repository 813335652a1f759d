package validity

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec accessv1alpha1.PasscodeSpec
		want Timings
		err  string
	}{
		{"no rotation: a third of the tenure before", accessv1alpha1.PasscodeSpec{Tenure: "30d"},
			Timings{Tenure: 30 * 24 * time.Hour, RenewBefore: 10 * 24 * time.Hour}, ""},
		{"rotation", accessv1alpha1.PasscodeSpec{Tenure: "12h", Rotation: &accessv1alpha1.RotationSpec{RenewBefore: "2h", GracePeriod: "30m"}},
			Timings{Tenure: 12 * time.Hour, RenewBefore: 2 * time.Hour, Grace: 30 * time.Minute}, ""},
		{"bad tenure", accessv1alpha1.PasscodeSpec{Tenure: "1y"}, Timings{}, "spec.tenure: "},
		{"renewBefore past the tenure", accessv1alpha1.PasscodeSpec{Tenure: "1h", Rotation: &accessv1alpha1.RotationSpec{RenewBefore: "2h"}},
			Timings{}, "spec.rotation.renewBefore: "},
		{"grace too long", accessv1alpha1.PasscodeSpec{Tenure: "30d", Rotation: &accessv1alpha1.RotationSpec{GracePeriod: "2d"}},
			Timings{}, "spec.rotation.gracePeriod: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(&tt.spec)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("Parse = %v, want an error starting %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// Clamp shortens, never extends, and leaves a passcode that is not Active alone.
func TestClamp(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { m := metav1.NewTime(issued.Add(d)); return &m }
	status := func(phase accessv1alpha1.PasscodePhase) accessv1alpha1.PasscodeStatus {
		return accessv1alpha1.PasscodeStatus{Phase: phase, IssuedAt: at(0), ExpiresAt: at(30 * 24 * time.Hour),
			Previous: &accessv1alpha1.PreviousPasscode{Hash: "h", ValidUntil: *at(time.Hour)}}
	}
	short := Timings{Tenure: 24 * time.Hour, Grace: 10 * time.Minute}
	st := status(accessv1alpha1.PasscodeActive)
	Clamp(&st, short)
	if !st.ExpiresAt.Time.Equal(issued.Add(24*time.Hour)) || !st.Previous.ValidUntil.Time.Equal(issued.Add(10*time.Minute)) {
		t.Errorf("shortened: expiresAt %v, previous until %v", st.ExpiresAt, st.Previous.ValidUntil)
	}
	st = status(accessv1alpha1.PasscodeActive)
	Clamp(&st, Timings{Tenure: 60 * 24 * time.Hour, Grace: 2 * time.Hour})
	if !st.ExpiresAt.Time.Equal(issued.Add(30*24*time.Hour)) || !st.Previous.ValidUntil.Time.Equal(issued.Add(time.Hour)) {
		t.Errorf("lengthened: expiresAt %v, previous until %v", st.ExpiresAt, st.Previous.ValidUntil)
	}
	st = status(accessv1alpha1.PasscodeExpired)
	Clamp(&st, short)
	if !st.ExpiresAt.Time.Equal(issued.Add(30 * 24 * time.Hour)) {
		t.Errorf("an Expired passcode was changed: %v", st.ExpiresAt)
	}
	if l := LimitsOf(issued, short); !l.Expires.Equal(issued.Add(24*time.Hour)) || !l.PreviousUntil.Equal(issued.Add(10*time.Minute)) {
		t.Errorf("LimitsOf = %+v", l)
	}
}

func TestHashes(t *testing.T) {
	st := accessv1alpha1.PasscodeStatus{Hash: "sha256:cur", Previous: &accessv1alpha1.PreviousPasscode{Hash: "sha256:prev"}}
	if got := Hashes(&st); len(got) != 2 || got[0] != "sha256:cur" || got[1] != "sha256:prev" {
		t.Errorf("Hashes = %v", got)
	}
	if got := Hashes(&accessv1alpha1.PasscodeStatus{Previous: &accessv1alpha1.PreviousPasscode{}}); len(got) != 0 {
		t.Errorf("Hashes of an unissued Passcode = %v", got)
	}
}
