package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// observed is everything one Passcode reconcile read: decide takes nothing else. Reading stops at
// the first thing that ends the reconcile (a refused spec, a failed read, a backoff that holds, a
// Secret of someone else's, a status write of ours still on its way), so what follows it is zero.
type observed struct {
	// pc is the Passcode decided on: the cached one, or the stored one when the cache was behind.
	pc *accessv1alpha1.Passcode
	// specErr is what checkSpec refused; t the spec's durations.
	specErr error
	t       timings
	// readErr is a read that failed, and what it read.
	readErr error
	reading string
	user    *accessv1alpha1.DashboardUser
	ustate  userState
	// backoff is how long a persisted backoff still holds (zero: it does not).
	backoff time.Duration
	// pastGate: the reconcile got past the spec, the user and the backoff: act makes the user an
	// owner (ensureOwner) whatever else follows.
	pastGate bool
	secret   secretRead
	// foreign: the Secret exists and belongs to someone else.
	foreign bool
	// behind: the Secret carries a newer revision than the stored status: our own last status
	// write has not reached the cache yet.
	behind bool
	// written is a passcode an interrupted issue wrote to the Secret and never recorded in status.
	// passcodesecret.Unrecorded finds it through the Secret's managedFields, which the cache keeps
	// for Secrets (setup.TrimForCache strips them from the other kinds only).
	written *passcodesecret.Written
}

// secretRead is what observe found of the Passcode's Secret.
type secretRead struct {
	// obj is the Secret; nil when a live read found none.
	obj *corev1.Secret
	// live: obj (or its absence) was read from the API server in this reconcile.
	live bool
	// absentAt is the resourceVersion of the live list that found no Secret: creating it is
	// conditional on nothing having been written since.
	absentAt string
}

// observe reads what decide needs, from the cache where it can be trusted. A passcode is issued,
// expired or revoked only from the API server's truth, so a stale cache never issues a revision
// twice nor ends one twice: before such a decision the stored Passcode and Secret are read, and when
// the stored Passcode is newer than the cached one, it is the one observed (read once more, as live:
// the informers come back one by one after an outage, and waiting for them would hold everything up).
func (r *PasscodeReconciler) observe(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time) observed {
	o := r.read(ctx, pc, now)
	if !r.needsTruth(now, o) {
		return o
	}
	stored, w, err := r.readStored(ctx, pc, r.confirmedByOwnerPatch(o), o.secret)
	switch {
	case err != nil:
		o.readErr, o.reading = err, "reading the Passcode and its Secret"
	case stored != nil:
		o = r.read(ctx, stored, now)
		if r.needsTruth(now, o) {
			// The stored Passcode needs no confirming (pcLive); its Secret might hold an
			// unrecorded write.
			if _, w, err := r.readStored(ctx, stored, true, o.secret); err != nil {
				o.readErr, o.reading = err, "reading the Passcode and its Secret"
			} else {
				o.written = w
			}
		}
	case w != nil:
		o.written = w
	}
	return o
}

// stopped names what ends the reconcile before a decision ("" when nothing does).
func (o *observed) stopped() string {
	switch {
	case o.specErr != nil:
		return "spec"
	case o.readErr != nil:
		return "read"
	case o.backoff > 0:
		return "backoff"
	case o.foreign:
		return "foreign"
	case o.behind:
		return "behind"
	}
	return ""
}

// read reads, for pc, its user, its Secret and what an interrupted issue left: one pass, in the
// order the reconcile may end.
func (r *PasscodeReconciler) read(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time) observed {
	o := observed{pc: pc}
	if o.t, o.specErr = checkSpec(pc); o.specErr != nil {
		return o
	}
	if o.user, o.ustate, o.readErr = r.user(ctx, pc); o.readErr != nil {
		o.reading = "reading the DashboardUser"
		return o
	}
	// A persisted backoff holds across restarts and unrelated events; a spec change retries at
	// once, and a revocation or a reset never waits for it.
	if wait, ok := backingOff(passcodeBackoff(pc), now); ok && !urgent(pc, o.ustate) {
		o.backoff = wait
		return o
	}
	o.pastGate = true
	if o.secret, o.readErr = r.secret(ctx, pc); o.readErr != nil {
		o.reading = "reading the Secret"
		return o
	}
	if o.secret.obj != nil && !passcodesecret.OwnedBy(o.secret.obj, pc) {
		o.foreign = true
		return o
	}
	if passcodesecret.Revision(o.secret.obj) > pc.Status.Revision && ownerDue(pc, o.user) {
		// The Secret is ahead of the cached status, and act's owner patch on pc's resourceVersion
		// settles whether the cache is behind (it conflicts) without a read: wait for it.
		o.behind = true
		return o
	}
	if o.behind, o.readErr = r.statusBehindSecret(ctx, pc, o.secret.obj); o.readErr != nil {
		o.reading = "reading the Passcode"
		return o
	}
	if w, ok := passcodesecret.Unrecorded(o.secret.obj, pc); ok {
		o.written = &w
	}
	return o
}

// needsTruth: the decision on o would issue or end a passcode, and nothing read so far proves the
// cache current (this process's own last write, see cacheConfirmed; or a live read already).
// Issuing (rare: once per tenure) always reads the stored Passcode and Secret first.
func (r *PasscodeReconciler) needsTruth(now time.Time, o observed) bool {
	if o.stopped() != "" || o.written != nil {
		return false
	}
	d := decide(now, o).d
	switch d.kind {
	case actIssue:
		return true
	case actExpire, actRevoke:
		return !r.cacheConfirmed(o.pc)
	case actNone, actWait, actRefuseReset, actSyncSecret:
	}
	return false
}

// confirmedByOwnerPatch: act will add the user's owner reference under pc's resourceVersion
// (ensureOwner) before it writes anything else. That patch fails on a Passcode older than the
// stored one, so it confirms pc as well as a read would, and the read is saved.
func (r *PasscodeReconciler) confirmedByOwnerPatch(o observed) bool {
	return ownerDue(o.pc, o.user)
}

// readStored reads the Passcode and its Secret from the API server. stored is the stored Passcode
// when the cached one is older; w is a passcode an interrupted issue already wrote under the next
// revision. What this reconcile already read live is not read again: pc when pcLive, the Secret when
// secret.live (Unrecorded was asked of that live copy already).
func (r *PasscodeReconciler) readStored(ctx context.Context, pc *accessv1alpha1.Passcode, pcLive bool, secret secretRead) (
	stored *accessv1alpha1.Passcode, w *passcodesecret.Written, err error) {
	if !pcLive {
		live := &accessv1alpha1.Passcode{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pc), live); err != nil {
			return nil, nil, err
		}
		if live.ResourceVersion != pc.ResourceVersion {
			return live, nil, nil
		}
	}
	if secret.live {
		return nil, nil, nil
	}
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: pc.Namespace, Name: passcodesecret.Name(pc)}, s); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	if w, ok := passcodesecret.Unrecorded(s, pc); ok {
		return nil, &w, nil
	}
	return nil, nil, nil
}

// user reads the Passcode's DashboardUser from the cache.
func (r *PasscodeReconciler) user(ctx context.Context, pc *accessv1alpha1.Passcode) (*accessv1alpha1.DashboardUser, userState, error) {
	u := &accessv1alpha1.DashboardUser{}
	err := r.Get(ctx, types.NamespacedName{Namespace: pc.Namespace, Name: pc.Spec.UserRef.Name}, u)
	switch {
	case apierrors.IsNotFound(err):
		return nil, userMissing, nil
	case err != nil:
		return nil, userMissing, err
	case !u.DeletionTimestamp.IsZero():
		return u, userMissing, nil
	case u.Spec.Access == accessv1alpha1.AccessRevoked:
		return u, userRevoked, nil
	case pc.Status.Phase == accessv1alpha1.PasscodeActive && pc.BoundUserUID() != "" && pc.BoundUserUID() != u.UID:
		return u, userReplaced, nil
	}
	return u, userGranted, nil
}

// secret returns the Passcode's Secret, or nil when a live read confirmed it does not exist. The
// cache is trusted only when it shows the Secret in sync; anything that could lead to a new
// passcode (missing, tampered) is confirmed with a live read, and any error is returned, never
// taken for "missing".
//
// The live read is a list of that one name rather than a get: when it finds nothing, its
// resourceVersion lets the Secret be created in one conditional write (passcodesecret.Create).
func (r *PasscodeReconciler) secret(ctx context.Context, pc *accessv1alpha1.Passcode) (secretRead, error) {
	name := passcodesecret.Name(pc)
	cached := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: pc.Namespace, Name: name}, cached)
	if err == nil && passcodesecret.Classify(cached, pc) == passcodesecret.InSync &&
		passcodesecret.Revision(cached) <= pc.Status.Revision {
		return secretRead{obj: cached}, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return secretRead{}, err
	}
	list := &corev1.SecretList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(pc.Namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)}); err != nil {
		return secretRead{}, err
	}
	if len(list.Items) == 0 {
		return secretRead{live: true, absentAt: list.ResourceVersion}, nil
	}
	return secretRead{obj: &list.Items[0], live: true}, nil
}

// statusBehindSecret reports whether the Secret carries a newer revision than the cached Passcode:
// the status patch of our own last issue has not reached the cache yet. A live read of the Passcode
// settles it; when the live status is behind too, the status write after that issue failed, and
// the Secret is treated like any other Secret whose passcode does not match (repaired).
func (r *PasscodeReconciler) statusBehindSecret(ctx context.Context, pc *accessv1alpha1.Passcode, s *corev1.Secret) (bool, error) {
	if passcodesecret.Revision(s) <= pc.Status.Revision {
		return false, nil
	}
	live := &accessv1alpha1.Passcode{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pc), live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return live.Status.Revision >= passcodesecret.Revision(s), nil
}
