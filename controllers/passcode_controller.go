package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// PasscodeReconciler issues, expires, rotates, resets, revokes and repairs passcodes.
type PasscodeReconciler struct {
	// Client reads from the informer cache and writes to the API server.
	client.Client
	// APIReader reads straight from the API server: the only source trusted before generating a
	// new passcode because something looks missing or wrong in the cache.
	APIReader client.Reader
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
	// Recorder emits Events. Event text never holds a passcode.
	Recorder events.EventRecorder
	// Workers is how many Passcodes are reconciled at once (one key is never reconciled twice at
	// once); zero means 1.
	Workers int
	// WatchNamespaces is --watch-namespaces (nil: every namespace); copies go nowhere else.
	WatchNamespaces []string

	// written remembers, per Passcode, the status this process last wrote (see statusMark); a
	// Passcode's mark goes with it (forget), so the map holds no more than the Passcodes there are.
	written sync.Map
}

// statusMark is what a status write of this process stored: while the cache shows the same
// revision and phase, the cache is at least as new as that write, and every Secret write of this
// process is recorded in it (a failed status write forgets the mark). Only this process (the
// leader) writes them, so ending a passcode from such a cached copy needs no live read: the
// "expectations" of Kubernetes controllers. Without a mark (a new process, a new leader) the stored
// Passcode and Secret are read before a passcode is ended, and always before one is issued.
type statusMark struct {
	uid      types.UID // the object the mark is of: a Passcode created again under the name has none
	revision int64
	phase    accessv1alpha1.PasscodePhase
}

// cacheConfirmed reports whether pc's cached status is the one this process last wrote.
func (r *PasscodeReconciler) cacheConfirmed(pc *accessv1alpha1.Passcode) bool {
	m, ok := r.written.Load(client.ObjectKeyFromObject(pc))
	return ok && m.(statusMark) == statusMark{uid: pc.UID, revision: pc.Status.Revision, phase: pc.Status.Phase}
}

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes/status,verbs=get;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes/finalizers,verbs=update
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Passcode to the state its spec, its user and the clock call for. It reads
// top-down: get, one deferred status patch, observe (user, Secret), decide, act, schedule.
func (r *PasscodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pc := &accessv1alpha1.Passcode{}
	if err := r.Get(ctx, req.NamespacedName, pc); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Delete(req.NamespacedName) // its deletion is the last event it gets
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return r.reconcile(ctx, pc, false)
}

// reconcile is Reconcile on pc, read from the cache or, when live, from the API server.
func (r *PasscodeReconciler) reconcile(ctx context.Context, pc *accessv1alpha1.Passcode, live bool) (res ctrl.Result, retErr error) {
	if !pc.DeletionTimestamp.IsZero() {
		return r.finalizeCopies(ctx, pc) // the Secret goes with it (owner reference), its copies by the finalizer
	}
	logger := log.FromContext(ctx).WithValues("user", pc.Spec.UserRef.Name)
	ctx = log.IntoContext(ctx, logger)
	now := r.Clock.Now()

	before := pc.DeepCopy()
	handedOver := false // to a reconcile of the live Passcode: this stale copy writes nothing
	defer func() {
		if !handedOver {
			if failed, ok := r.writeStatus(ctx, before, pc); !ok {
				res, retErr = failed, nil
			}
		}
	}()

	t, err := checkSpec(pc)
	if err != nil {
		r.stall(pc, now, accessv1alpha1.ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, nil
	}
	user, ustate, err := r.user(ctx, pc)
	if err != nil {
		return r.retry(ctx, pc, now, "reading the DashboardUser", err)
	}
	// A persisted backoff holds across restarts and unrelated events; a spec change retries at
	// once, and a revocation or a reset never waits for it.
	if wait, ok := backingOff(passcodeBackoff(pc), now); ok && !urgent(pc, ustate) {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	patched, err := r.ownedByUser(ctx, pc, user)
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil // the cache is behind: the newer Passcode comes by watch
	}
	if err != nil {
		return r.retry(ctx, pc, now, "adding the owner reference to the DashboardUser", err)
	}
	// A patch under pc's resourceVersion succeeded: pc is what the API server stores.
	live = live || patched
	secret, stop := r.observeSecret(ctx, pc, now)
	if stop != nil {
		return *stop, nil
	}

	clampToSpec(pc, t)
	refreshRenewal(pc, t)
	if graceOver(now, pc) {
		pc.Status.Previous = nil
	}
	d, fresh, err := r.decide(ctx, pc, now, ustate, secret, live)
	switch {
	case err != nil:
		return r.retry(ctx, pc, now, "reading the Passcode and its Secret", err)
	case fresh != nil && !live:
		// The cache is behind (informers come back one by one after an outage): decide again on
		// the stored Passcode instead of waiting for the cache.
		handedOver = true
		return r.reconcile(ctx, fresh, true)
	case fresh != nil:
		return ctrl.Result{RequeueAfter: time.Second}, nil // it changed again meanwhile
	}
	if err := r.act(ctx, pc, user, secret, now, t, d); err != nil {
		return r.actFailed(ctx, pc, now, err)
	}

	return r.finish(ctx, pc, user, secret, now, d)
}

// actFailed records why act did not finish: what only a person can fix stalls, the rest retries.
func (r *PasscodeReconciler) actFailed(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, err error) (ctrl.Result, error) {
	var imp *importError
	switch {
	case errors.Is(err, passcodesecret.ErrNotOurs):
		r.stall(pc, now, accessv1alpha1.ReasonSecretConflict, secretConflictMessage(pc))
		return ctrl.Result{}, nil
	case errors.As(err, &imp):
		// The source Secret is not watched (it carries none of the operator's labels): look again.
		// The cause is for the operator's log only (importError).
		log.FromContext(ctx).Info("spec.import refused", "cause", imp.cause)
		r.stall(pc, now, accessv1alpha1.ReasonImportFailed, imp.msg)
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}
	return r.retry(ctx, pc, now, "writing the Secret", err)
}

// finish records a decision carried out: conditions, then what follows the primary Secret's write
// or wipe in the same reconcile (the copies in other namespaces, the rollout restarts of a new
// revision), then the next deadline.
func (r *PasscodeReconciler) finish(ctx context.Context, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser,
	secret secretRead, now time.Time, d decision) (ctrl.Result, error) {
	copyErr := r.syncCopies(ctx, pc, user, secret, d, now)
	restartErr := r.restartTargets(ctx, pc, now) // first: the Ready message names missing targets
	setPasscodeConditions(pc, now, d)
	pc.Status.ObservedGeneration = pc.Generation
	if restartErr != nil {
		return r.retry(ctx, pc, now, "restarting spec.rolloutRestartTargets", restartErr)
	}
	return r.schedule(ctx, pc, now, copyErr)
}

// schedule ends a reconcile that reached its outcome for the primary Secret: a copy that failed is
// retried (copiesFailed), else the backoff is cleared and the next deadline awaited.
func (r *PasscodeReconciler) schedule(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, copyErr error) (ctrl.Result, error) {
	if copyErr != nil {
		return r.copiesFailed(ctx, pc, now, copyErr), nil
	}
	succeeded(passcodeBackoff(pc))
	if wait, ok := nextDeadline(now, pc); ok {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	return ctrl.Result{}, nil
}

// checkSpec parses the spec's durations and checks its Secret templates: what the CRD could not
// refuse at apply stalls the Passcode before any passcode is issued.
func checkSpec(pc *accessv1alpha1.Passcode) (timings, error) {
	t, err := specTimings(pc)
	if err != nil {
		return t, err
	}
	return t, passcodesecret.CheckTemplate(pc.Spec.SecretTemplate)
}

// writeStatus patches pc's status when it changed (patchStatus) and keeps the mark of what this
// process wrote. A failed write returns the result that retries it.
func (r *PasscodeReconciler) writeStatus(ctx context.Context, before, pc *accessv1alpha1.Passcode) (ctrl.Result, bool) {
	wrote, err := patchStatus(ctx, r.Client, before, pc, passcodeStatus, pc.Status.Failures > before.Status.Failures)
	if !wrote {
		return ctrl.Result{}, true // nothing to write; the mark, if any, still holds
	}
	if err != nil {
		r.written.Delete(client.ObjectKeyFromObject(pc))
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// A conflict: the copy was behind, nothing recorded from it. NotFound: deleted
			// meanwhile, or an API server still starting that does not serve the CRD yet. Either
			// way look again shortly (a deleted Passcode ends at the Get).
			return ctrl.Result{RequeueAfter: time.Second}, false
		}
		return statusWriteFailed(ctx, err, pc.Status.Failures), false
	}
	r.written.Store(client.ObjectKeyFromObject(pc), statusMark{uid: pc.UID, revision: pc.Status.Revision, phase: pc.Status.Phase})
	return ctrl.Result{}, true
}

func secretConflictMessage(pc *accessv1alpha1.Passcode) string {
	return fmt.Sprintf("Secret %q exists and is not managed by this Passcode; choose another spec.secretName or delete that Secret",
		passcodesecret.Name(pc))
}

// secretRead is what observeSecret found.
type secretRead struct {
	// obj is the Secret; nil when a live read found none.
	obj *corev1.Secret
	// live: obj (or its absence) was read from the API server in this reconcile.
	live bool
	// absentAt is the resourceVersion of the live list that found no Secret: creating it is
	// conditional on nothing having been written since.
	absentAt string
}

// decide takes the decision for pc. A passcode this operator wrote whose status write never
// happened (a crash, a failed patch) is the one the interrupted issue made: the decision is taken
// again and finishes with it instead of issuing another passcode under the same revision. A
// passcode is issued, expired or revoked only from the API server's truth, so a stale cache never
// issues a revision twice nor ends one twice (a second Secret write, status write and Event): when
// the cached Passcode is older than the stored one, fresh is the stored one and nothing is decided.
func (r *PasscodeReconciler) decide(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, ustate userState,
	secret secretRead, pcLive bool) (d decision, fresh *accessv1alpha1.Passcode, err error) {
	d = decidePasscode(now, pc, ustate, passcodesecret.Classify(secret.obj, pc))
	if w, ok := passcodesecret.Unrecorded(secret.obj, pc); ok {
		return adoptWritten(d, w), nil, nil
	}
	if d.kind != actIssue && d.kind != actExpire && d.kind != actRevoke {
		return d, nil, nil // nothing that ends or makes a passcode
	}
	if d.kind != actIssue && r.cacheConfirmed(pc) {
		// Ending a passcode from a cache that holds this process's last write: nothing newer to
		// read. Issuing (rare: once per tenure) still reads the stored Passcode and Secret first.
		return d, nil, nil
	}
	fresh, w, err := r.confirmLive(ctx, pc, pcLive, secret)
	if err != nil || fresh != nil {
		return d, fresh, err
	}
	if w != nil {
		d = adoptWritten(d, *w)
	}
	return d, nil, nil
}

// observeSecret reads the Passcode's Secret. stop is the result when the reconcile ends here: a
// read failed (retry), the Secret belongs to someone else (stall), or the cached Passcode is older
// than our own last write to the Secret (wait for it).
func (r *PasscodeReconciler) observeSecret(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time) (secretRead, *ctrl.Result) {
	secret, err := r.secret(ctx, pc)
	if err != nil {
		res, _ := r.retry(ctx, pc, now, "reading the Secret", err)
		return secretRead{}, &res
	}
	if secret.obj != nil && !passcodesecret.OwnedBy(secret.obj, pc) {
		r.stall(pc, now, accessv1alpha1.ReasonSecretConflict, secretConflictMessage(pc))
		return secretRead{}, &ctrl.Result{}
	}
	stale, err := r.statusBehindSecret(ctx, pc, secret.obj)
	if err != nil {
		res, _ := r.retry(ctx, pc, now, "reading the Passcode", err)
		return secretRead{}, &res
	}
	if stale {
		return secretRead{}, &ctrl.Result{RequeueAfter: time.Second}
	}
	return secret, nil
}

// newPasscode is the passcode an issue writes and when it counts as issued: a fresh one, the one an
// interrupted issue already wrote, or the one spec.import names (revision 1).
func (r *PasscodeReconciler) newPasscode(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, t timings,
	d decision) (string, time.Time, error) {
	switch {
	case d.adopt != nil:
		// Finish the interrupted issue: same passcode, same expiry as the Secret already says.
		return d.adopt.Passcode, d.adopt.ExpiresAt.Add(-t.tenure), nil
	case d.reason == accessv1alpha1.ReasonImported:
		value, err := r.importedPasscode(ctx, pc)
		return value, now, err
	}
	return passcode.Generate(), now, nil
}

// act carries out a decision: the Secret is written first, and the status (patched when Reconcile
// returns) only describes what was written.
func (r *PasscodeReconciler) act(ctx context.Context, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser,
	read secretRead, now time.Time, t timings, d decision) error {
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
		eventType := corev1.EventTypeNormal
		if d.kind == actRevoke {
			eventType = corev1.EventTypeWarning
		}
		r.event(pc, eventType, d.reason, "%s: revision %d no longer works", d.message, pc.Status.Revision)
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

// ownedByUser makes the user an owner of the Passcode, so that deleting the user deletes its
// Passcodes and, through them, their Secrets. The patch carries the resourceVersion it was computed
// from, so it can never drop an owner reference someone else added meanwhile (it conflicts and is
// retried instead); it touches no other field.
func (r *PasscodeReconciler) ownedByUser(ctx context.Context, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser) (
	patched bool, err error) {
	if user == nil || !user.DeletionTimestamp.IsZero() {
		return false, nil
	}
	if bound := pc.BoundUserUID(); bound != "" && bound != user.UID {
		return false, nil // a user created again under the old name owns nothing of the old one
	}
	for _, ref := range pc.OwnerReferences {
		if ref.UID == user.UID {
			return false, nil
		}
	}
	owned := pc.DeepCopy()
	owned.OwnerReferences = append(owned.OwnerReferences, metav1.OwnerReference{
		APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardUser", Name: user.Name, UID: user.UID,
	})
	if err := r.Patch(ctx, owned, client.MergeFromWithOptions(pc, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, err
	}
	pc.OwnerReferences, pc.ResourceVersion = owned.OwnerReferences, owned.ResourceVersion
	return true, nil
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

// confirmLive reads the Passcode and its Secret from the API server before a new passcode is
// issued. fresh is the stored Passcode when the cached one is older; w is a passcode an
// interrupted issue already wrote under the next revision (then that one is finished instead).
//
// What this reconcile already read live is not read again: pc when pcLive (a handed-over live read,
// or a patch under its resourceVersion just succeeded), the Secret when secret.live.
func (r *PasscodeReconciler) confirmLive(ctx context.Context, pc *accessv1alpha1.Passcode, pcLive bool, secret secretRead) (
	fresh *accessv1alpha1.Passcode, w *passcodesecret.Written, err error) {
	if !pcLive {
		stored := &accessv1alpha1.Passcode{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pc), stored); err != nil {
			return nil, nil, err
		}
		if stored.ResourceVersion != pc.ResourceVersion {
			return stored, nil, nil
		}
	}
	if secret.live {
		return nil, nil, nil // Unrecorded was already asked of this live copy (decide)
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

// retry records a failed step (see failed).
func (r *PasscodeReconciler) retry(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, what string, err error) (ctrl.Result, error) {
	return failed(ctx, passcodeBackoff(pc), now, what, err), nil
}

// stall records a problem only a person can fix: no retry until the Passcode changes.
func (r *PasscodeReconciler) stall(pc *accessv1alpha1.Passcode, now time.Time, reason, msg string) {
	stall(passcodeBackoff(pc), now, reason, msg)
	if pc.Status.Phase == "" {
		pc.Status.Phase = accessv1alpha1.PasscodePending
	}
	pc.Status.ObservedGeneration = pc.Generation
}

// setPasscodeConditions derives Ready, Reconciling and Stalled from the phase after a decision.
func setPasscodeConditions(pc *accessv1alpha1.Passcode, now time.Time, d decision) {
	conds := &pc.Status.Conditions
	apimeta.RemoveStatusCondition(conds, accessv1alpha1.ConditionStalled)
	if d.kind == actWait {
		if pc.Status.Phase == "" {
			pc.Status.Phase = accessv1alpha1.PasscodePending
		}
		setCondition(conds, accessv1alpha1.ConditionReady, metav1.ConditionFalse, d.reason, d.message, pc.Generation, now)
		setCondition(conds, accessv1alpha1.ConditionReconciling, metav1.ConditionTrue, d.reason, d.message, pc.Generation, now)
		return
	}
	apimeta.RemoveStatusCondition(conds, accessv1alpha1.ConditionReconciling)
	ready := apimeta.FindStatusCondition(*conds, accessv1alpha1.ConditionReady)
	switch pc.Status.Phase {
	case accessv1alpha1.PasscodeActive:
		reason := accessv1alpha1.ReasonIssued
		if d.kind == actIssue {
			reason = d.reason
		} else if ready != nil && ready.Status == metav1.ConditionTrue {
			reason = ready.Reason // keep how the current passcode came to be
		}
		setCondition(conds, accessv1alpha1.ConditionReady, metav1.ConditionTrue, reason, fmt.Sprintf(
			"Revision %d is valid until %s%s", pc.Status.Revision, pc.Status.ExpiresAt.UTC().Format(time.RFC3339), missingTargets(pc)), pc.Generation, now)
	case accessv1alpha1.PasscodeExpired:
		setCondition(conds, accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonExpired, fmt.Sprintf(
			"Revision %d expired at %s; set the %s annotation to grant a new passcode", pc.Status.Revision,
			pc.Status.ExpiresAt.UTC().Format(time.RFC3339), accessv1alpha1.ResetRequestedAtAnnotation), pc.Generation, now)
	case accessv1alpha1.PasscodeRevoked:
		msg := d.message
		switch {
		case d.kind == actRefuseReset:
		case d.kind == actRevoke:
			msg += "; the passcode no longer works"
		case ready != nil && ready.Reason == accessv1alpha1.ReasonRevoked:
			msg = ready.Message
		default:
			msg = "The passcode was revoked"
		}
		setCondition(conds, accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonRevoked, msg, pc.Generation, now)
	}
	if d.kind == actRefuseReset && pc.Status.Phase != accessv1alpha1.PasscodeRevoked {
		// Keep Ready as it is, but say why the reset did not happen.
		if c := apimeta.FindStatusCondition(*conds, accessv1alpha1.ConditionReady); c != nil {
			c.Message = d.message
		}
	}
}

func countIssue(namespace, reason string) {
	switch reason {
	case accessv1alpha1.ReasonRotated:
		metrics.PasscodeRotations.WithLabelValues(namespace).Inc()
	case accessv1alpha1.ReasonReset:
		metrics.PasscodeResets.WithLabelValues(namespace).Inc()
	case accessv1alpha1.ReasonRepaired:
		metrics.PasscodeRepairs.WithLabelValues(namespace).Inc()
	default:
		metrics.PasscodeIssues.WithLabelValues(namespace).Inc()
	}
}

func (r *PasscodeReconciler) event(pc *accessv1alpha1.Passcode, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pc, nil, eventType, reason, reason, format, args...)
	}
}

func passcodeStatus(pc *accessv1alpha1.Passcode) any { return pc.Status }

// SetupWithManager registers the reconciler: Passcodes (spec and annotation changes), their
// Secrets (owned) and copies (by their annotation, and for the Passcodes refused their names), the
// holders of the copies a Passcode asks for, their users (through the userRef index), and the
// namespaces they copy to (metadata only, through the secretCopies index).
// The UserRefIndex and SecretCopiesIndex must be registered (internal/setup does it).
func (r *PasscodeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Passcode{}, builder.WithPredicates(
			// Status writes (ours, and the access server's last-use stamps) need no reconcile.
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.passcodesOfCopy)).
		Watches(&accessv1alpha1.Passcode{}, handler.EnqueueRequestsFromMapFunc(r.ownersOfCopiesAskedFor),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.passcodesOfNamespace),
			builder.WithPredicates(predicate.AnnotationChangedPredicate{})).
		Watches(&accessv1alpha1.DashboardUser{}, handler.EnqueueRequestsFromMapFunc(r.passcodesOfUser)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		Named("passcode").
		Complete(r)
}

// passcodesOfUser maps a DashboardUser to its Passcodes.
func (r *PasscodeReconciler) passcodesOfUser(ctx context.Context, o client.Object) []reconcile.Request {
	list := &accessv1alpha1.PasscodeList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{UserRefIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the Passcodes of a DashboardUser", "user", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}
