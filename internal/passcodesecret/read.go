package passcodesecret

import (
	"bytes"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
)

// State compares a Secret with what the Passcode's status says it should hold.
type State int

const (
	// InSync means the Secret holds what the status says (or nothing, before the first issue).
	InSync State = iota
	// Missing means a live read confirmed the Secret does not exist.
	Missing
	// Tampered means the Secret's passcode is absent or does not match status.hash.
	Tampered
	// Drifted means labels, annotations, owner or the non-secret keys differ, or an expired or revoked
	// passcode is still in it.
	Drifted
)

// Classify compares the Secret (nil: confirmed missing) with the Passcode's status.
func Classify(s *corev1.Secret, pc *accessv1alpha1.Passcode) State {
	switch pc.Status.Phase {
	case "", accessv1alpha1.PasscodePending:
		return InSync // nothing issued yet
	case accessv1alpha1.PasscodeActive:
		if s == nil {
			return Missing
		}
		if !passcode.Matches(string(s.Data[KeyPasscode]), pc.Status.Hash) {
			return Tampered
		}
	default:
		if s == nil {
			return InSync // nothing to wipe
		}
		if _, has := s.Data[KeyPasscode]; has {
			return Drifted
		}
	}
	if differs(s, pc, Current(pc, "", s)) {
		return Drifted
	}
	return InSync
}

// Current is what the Secret holds without issuing anything: the current passcode while Active
// (read from the Secret, where it matched status.hash), none once Expired or Revoked. email is the
// user's; empty keeps the Secret's.
func Current(pc *accessv1alpha1.Passcode, email string, s *corev1.Secret) Contents {
	c := Contents{Revision: pc.Status.Revision, Email: email}
	if pc.Status.ExpiresAt != nil {
		c.ExpiresAt = pc.Status.ExpiresAt.Time
	}
	if c.Email == "" && s != nil {
		c.Email = string(s.Data[KeyEmail])
	}
	if pc.Status.Phase == accessv1alpha1.PasscodeActive && s != nil {
		if v := string(s.Data[KeyPasscode]); passcode.Matches(v, pc.Status.Hash) {
			c.Passcode = v
		}
	}
	return c
}

// Revision is the Passcode revision the Secret says it holds (0 when unknown).
func Revision(s *corev1.Secret) int64 {
	if s == nil {
		return 0
	}
	rev, err := strconv.ParseInt(s.Annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return rev
}

// Written is a passcode the operator wrote to the Secret and whose status write did not happen (the
// manager crashed, or the status patch failed): the next reconcile adopts it instead of issuing yet
// another passcode under the same revision.
type Written struct {
	Passcode  string
	Revision  int64
	ExpiresAt time.Time
}

// Unrecorded returns the passcode in s when the operator wrote it as the revision after the
// Passcode's status: the revision annotation is status.revision+1, the expiry is readable, and the
// passcode key was last written by this operator's field manager (a live read carries
// managedFields; an edit by anyone else moves the key's ownership to them, and is repaired instead).
// A cached Secret has none (setup.TrimForCache strips them), so s must come from a live read.
func Unrecorded(s *corev1.Secret, pc *accessv1alpha1.Passcode) (Written, bool) {
	if s == nil || Revision(s) != pc.Status.Revision+1 || !OwnedBy(s, pc) {
		return Written{}, false
	}
	value := string(s.Data[KeyPasscode])
	expires, err := time.Parse(time.RFC3339, string(s.Data[KeyExpiresAt]))
	if value == "" || err != nil || !passcodeKeyOurs(s) {
		return Written{}, false
	}
	return Written{Passcode: value, Revision: Revision(s), ExpiresAt: expires}, true
}

// passcodeKeyOurs reports whether the Secret's data.passcode is owned by FieldManager's apply and
// by no other manager.
func passcodeKeyOurs(s *corev1.Secret) bool {
	ours := false
	for _, mf := range s.ManagedFields {
		if mf.FieldsV1 == nil || !bytes.Contains(mf.FieldsV1.GetRawBytes(), []byte(`"f:`+KeyPasscode+`"`)) {
			continue
		}
		if mf.Manager != FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply {
			return false
		}
		ours = true
	}
	return ours
}

// OwnedBy reports whether s is the Secret of pc: controlled by it, or (without any controller)
// labelled for it. Anything else with the same name belongs to someone else and must not be
// written. The controller reference decides first, so a Secret whose labels were removed (it
// dropped out of the label-filtered cache) is still ours and gets its labels back.
func OwnedBy(s *corev1.Secret, pc *accessv1alpha1.Passcode) bool {
	if ref := metav1.GetControllerOf(s); ref != nil {
		return ref.UID == pc.UID
	}
	// A copy of another namespace's Passcode of the same name carries the same two labels: never ours.
	return s.Labels[accessv1alpha1.ManagedByLabel] == accessv1alpha1.ManagedByValue && s.Labels[accessv1alpha1.PasscodeLabel] == PasscodeLabelValue(pc.Name) &&
		s.Annotations[CopyOfAnnotation] == ""
}
