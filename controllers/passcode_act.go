package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// newPasscode is the passcode an issue writes and when it counts as issued: a fresh one, the one an
// interrupted issue already wrote, or the one spec.import names (revision 1).
func (r *PasscodeReconciler) newPasscode(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, t timings,
	d decision) (string, time.Time, error) {
	switch {
	case d.adopt != nil:
		// Finish the interrupted issue: same passcode, same expiry as the Secret already says.
		return d.adopt.Passcode, d.adopt.ExpiresAt.Add(-t.Tenure), nil
	case d.reason == accessv1alpha1.ReasonImported:
		value, err := r.importedPasscode(ctx, pc)
		return value, now, err
	}
	return passcode.Generate(), now, nil
}

// writeSecret carries out decision d on the Secret; pc's status is changed only to describe what
// was written (recorded in the one status write of the reconcile).
func (r *PasscodeReconciler) writeSecret(ctx context.Context, pc *accessv1alpha1.Passcode, o observed, now time.Time, d decision) error {
	user, read, t := o.user, o.secret, o.t
	secret := read.obj
	switch d.kind {
	case actIssue:
		value, issuedAt, err := r.newPasscode(ctx, pc, now, t, d)
		if err != nil {
			return err
		}
		next := pc.DeepCopy()
		issuedStatus(issuedAt, next, t, passcode.Hash(value), d.grace, user.UID)
		if d.adopt != nil {
			next.Status.ExpiresAt = ptrTime(d.adopt.ExpiresAt)
			refreshRenewal(next, t)
		}
		contents := passcodesecret.Contents{
			Passcode: value, Email: user.Spec.Email, ExpiresAt: next.Status.ExpiresAt.Time, Revision: next.Status.Revision,
		}
		write := passcodesecret.Apply
		if secret == nil {
			write = func(ctx context.Context, cl client.Client, pc *accessv1alpha1.Passcode, c passcodesecret.Contents) error {
				return passcodesecret.Create(ctx, cl, r.APIReader, pc, c, read.absentAt)
			}
		}
		if err := write(ctx, r.Client, pc, contents); err != nil {
			return err
		}
		pc.Status = next.Status
		pc.Status.SecretName = passcodesecret.Name(pc)
		markRestartDue(pc)
		if d.adopt == nil {
			countIssue(pc.Namespace, d.reason) // an adopted issue was counted when it was written
		}
		if d.reason != accessv1alpha1.ReasonIssued {
			// A first issue is told by status (Ready: Issued) alone; a rotation, reset or repair
			// replaces a passcode someone may hold, so it is also recorded as an Event.
			r.event(pc, corev1.EventTypeNormal, d.reason, "%s: revision %d is valid until %s", d.message,
				pc.Status.Revision, pc.Status.ExpiresAt.UTC().Format(time.RFC3339))
		}
	case actExpire, actRevoke:
		phase, counter := accessv1alpha1.PasscodeExpired, metrics.PasscodeExpirations
		if d.kind == actRevoke {
			phase, counter = accessv1alpha1.PasscodeRevoked, metrics.PasscodeRevocations
		}
		endedStatus(pc, phase)
		if d.adopt != nil {
			// An interrupted issue wrote this revision: it is used up, never issued again.
			pc.Status.Revision = d.adopt.Revision
		}
		if secret != nil {
			if err := passcodesecret.Apply(ctx, r.Client, pc, passcodesecret.Current(pc, boundEmail(pc, user), secret)); err != nil {
				return err
			}
		}
		counter.WithLabelValues(pc.Namespace).Inc()
		if d.kind == actRevoke {
			// A revocation ends a passcode before its time, so it is an Event too. An expiry is the
			// end status.expiresAt announced: Ready: Expired and passcode.expired tell it, and an
			// Event would be one more write for each of a burst of expiries.
			r.event(pc, corev1.EventTypeWarning, d.reason, "%s: revision %d no longer works", d.message, pc.Status.Revision)
		}
	case actSyncSecret:
		if err := passcodesecret.Apply(ctx, r.Client, pc, passcodesecret.Current(pc, boundEmail(pc, user), secret)); err != nil {
			return err
		}
		r.event(pc, corev1.EventTypeNormal, d.reason, "%s", d.message)
	case actRefuseReset:
		r.event(pc, corev1.EventTypeWarning, d.reason, "%s", d.message)
	case actWait, actNone:
	}
	// Only a reset that happened (or was refused) is handled: a failed write leaves it pending.
	if d.reset != "" {
		pc.Status.LastResetRequestedAt = d.reset
	}
	return nil
}

// boundEmail is the email the Secret names: the user's, unless the user is not the one the
// passcode was issued to ("": the Secret keeps the email it has).
func boundEmail(pc *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser) string {
	if bound := pc.BoundUserUID(); u == nil || (bound != "" && bound != u.UID) {
		return ""
	}
	return u.Spec.Email
}

// ownerDue: the user is to be made an owner of the Passcode, so that deleting the user deletes its
// Passcodes and, through them, their Secrets. A user created again under the old name owns nothing
// of the old one, and a user being deleted gets nothing new.
func ownerDue(pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser) bool {
	if user == nil || !user.DeletionTimestamp.IsZero() {
		return false
	}
	if bound := pc.BoundUserUID(); bound != "" && bound != user.UID {
		return false
	}
	for _, ref := range pc.OwnerReferences {
		if ref.UID == user.UID {
			return false
		}
	}
	return true
}

// ensureOwner adds the user's owner reference when it is due. The patch carries the resourceVersion
// it was computed from, so it can never drop an owner reference someone else added meanwhile (it
// conflicts and is retried instead); it touches no other field.
func (r *PasscodeReconciler) ensureOwner(ctx context.Context, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser) error {
	if !ownerDue(pc, user) {
		return nil
	}
	if pc.Status.UserUID == user.UID && r.APIReader != nil {
		// Issued for this user and no longer owned by it: the garbage collector orphans the
		// Passcodes of a user deleted with --cascade=orphan before the cache shows the deletion,
		// and a reference put back would have the Passcode collected once the user is gone. Only
		// a user read live, and not being deleted, gets it back (a rare read: a Passcode from Git
		// is owned before its first issue).
		live := &accessv1alpha1.DashboardUser{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(user), live); err != nil {
			return client.IgnoreNotFound(err)
		}
		if live.UID != user.UID || !ownerDue(pc, live) {
			return nil
		}
	}
	owned := pc.DeepCopy()
	owned.OwnerReferences = append(owned.OwnerReferences, metav1.OwnerReference{
		APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardUser", Name: user.Name, UID: user.UID,
	})
	if err := r.Patch(ctx, owned, client.MergeFromWithOptions(pc, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	pc.OwnerReferences, pc.ResourceVersion = owned.OwnerReferences, owned.ResourceVersion
	return nil
}
