package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// CopiesFinalizer is on a Passcode while copies of its Secret may exist in other namespaces: owner
// references cannot cross namespaces, so the controller deletes the copies before the Passcode goes.
const CopiesFinalizer = "access.dashboardops.io/secret-copies"

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

// syncCopies makes every copy of spec.secretCopies hold what the primary Secret holds after act (it
// runs after the primary's write or wipe, in the same reconcile), deletes the copies no longer asked
// for or no longer consented to, and records the outcome in the SecretCopies condition. A failing
// copy never stops the others: the errors are joined and retried together.
func (r *PasscodeReconciler) syncCopies(ctx context.Context, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser,
	read secretRead, d decision, now time.Time) error {
	if len(pc.Spec.SecretCopies) == 0 && !controllerutil.ContainsFinalizer(pc, CopiesFinalizer) {
		// No copy can exist (the finalizer comes before the first): no list of the cache's Secrets.
		apimeta.RemoveStatusCondition(&pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies)
		return nil
	}
	existing, err := r.cachedCopies(ctx, pc)
	if err != nil {
		return err
	}
	targets := passcodesecret.CopyTargets(pc)
	if len(targets) == 0 && len(existing) == 0 {
		apimeta.RemoveStatusCondition(&pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies)
		return r.setCopiesFinalizer(ctx, pc, false)
	}
	// Before the first copy is written, so that no copy can outlive the Passcode.
	if err := r.setCopiesFinalizer(ctx, pc, true); err != nil {
		return err
	}
	contents, issued, err := r.copyContents(ctx, pc, user, read, d)
	if err != nil {
		return err
	}
	var problems []copyProblem
	var contested []string
	var errs []error
	keep := map[passcodesecret.CopyTarget]bool{}
	for _, t := range targets {
		refusal, err := r.refusal(ctx, pc, t.Namespace)
		if err != nil {
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyFailed, fmt.Sprintf("reading namespace %q failed (%s)",
				t.Namespace, apierrors.ReasonForError(err))})
			errs = append(errs, err)
			keep[t] = true // unknown: a failed read never deletes a copy
			continue
		}
		if refusal != "" {
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyRefused, refusal})
			continue
		}
		keep[t] = true
		if !issued {
			continue
		}
		switch err := r.writeCopy(ctx, pc, t, contents); {
		case errors.Is(err, passcodesecret.ErrNotOurs):
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyConflict, conflictMessage(t, r.copyOwner(ctx, t))})
		case err != nil:
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyFailed,
				fmt.Sprintf("writing Secret %s failed (%s)", t, apierrors.ReasonForError(err))})
			errs = append(errs, err)
		default:
			if others := r.contenders(ctx, pc, t); len(others) > 0 {
				contested = append(contested, contestedMessage(t, others))
			}
		}
	}
	for i := range existing {
		s := &existing[i]
		if keep[passcodesecret.CopyTarget{Namespace: s.Namespace, Name: s.Name}] {
			continue
		}
		if err := passcodesecret.DeleteCopy(ctx, r.Client, s); err != nil {
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyFailed,
				fmt.Sprintf("deleting Secret %s/%s failed (%s)", s.Namespace, s.Name, apierrors.ReasonForError(err))})
			errs = append(errs, err)
		}
	}
	r.recordCopies(pc, now, issued, problems, len(keep), contested)
	return errors.Join(errs...)
}

// recordCopies sets the SecretCopies condition; a refusal or a contest that is new is also a
// Warning Event (an unchanged one is not repeated on every reconcile).
func (r *PasscodeReconciler) recordCopies(pc *accessv1alpha1.Passcode, now time.Time, issued bool, problems []copyProblem, written int,
	contested []string) {
	status, reason, msg := copiesCondition(issued, problems, written, contested)
	old := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies)
	switch reason {
	case accessv1alpha1.ReasonCopyRefused, accessv1alpha1.ReasonCopyConflict, accessv1alpha1.ReasonCopiesContested:
		if old == nil || old.Message != msg {
			r.event(pc, corev1.EventTypeWarning, reason, "%s", msg)
		}
	}
	setCondition(&pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies, status, reason, msg, pc.Generation, now)
}

// copiesFailed records a failed copy write: the primary is done (Ready describes it), so the retry
// is scheduled without the persisted gate (status.nextRetryAt), which would also hold back the next
// expiry or revocation; the failure count still grows the delay. It returns the result and why the
// Passcode is still Reconciling.
func (r *PasscodeReconciler) copiesFailed(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, err error) (ctrl.Result, [2]string) {
	countFailure("passcode", apiReason(err))
	pc.Status.Failures++
	pc.Status.NextRetryAt = nil
	wait := retryBackoff(pc.Status.Failures)
	if next, ok := nextDeadline(now, pc); ok && next < wait {
		wait = next
	}
	log.FromContext(ctx).Error(err, "Writing the Secret copies failed; retrying with backoff", "failures", pc.Status.Failures)
	return ctrl.Result{RequeueAfter: wait}, [2]string{accessv1alpha1.ReasonRetrying,
		fmt.Sprintf("writing the Secret copies failed; retry %d in %s", pc.Status.Failures, wait)}
}

// copyContents is what every copy holds: what the primary holds after act. issued is false before
// the first passcode (no copy is written then). After an issue the passcode is read back from the
// stored primary Secret, so that a copy never holds anything the primary does not.
func (r *PasscodeReconciler) copyContents(ctx context.Context, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser,
	read secretRead, d decision) (passcodesecret.Contents, bool, error) {
	switch pc.Status.Phase {
	case "", accessv1alpha1.PasscodePending:
		return passcodesecret.Contents{}, false, nil
	case accessv1alpha1.PasscodeActive:
		primary := read.obj
		if d.kind == actIssue || primary == nil {
			primary = &corev1.Secret{}
			key := types.NamespacedName{Namespace: pc.Namespace, Name: passcodesecret.Name(pc)}
			if err := r.APIReader.Get(ctx, key, primary); err != nil {
				return passcodesecret.Contents{}, true, err
			}
		}
		c := passcodesecret.Current(pc, boundEmail(pc, user), primary)
		if c.Passcode == "" {
			return c, true, errors.New("the primary Secret does not hold the current passcode yet")
		}
		return c, true, nil
	default: // Expired, Revoked: the copies are wiped like the primary
		return passcodesecret.Current(pc, boundEmail(pc, user), read.obj), true, nil
	}
}

// refusal reads the target namespace's consent from the cache (metadata only).
func (r *PasscodeReconciler) refusal(ctx context.Context, pc *accessv1alpha1.Passcode, ns string) (string, error) {
	if msg := copyRefusal(pc, ns, r.WatchNamespaces, true, "*"); msg != "" {
		return msg, nil // refused whatever the namespace says: not read
	}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	err := r.Get(ctx, types.NamespacedName{Name: ns}, meta)
	if err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	found := err == nil && meta.DeletionTimestamp.IsZero()
	return copyRefusal(pc, ns, r.WatchNamespaces, found, meta.Annotations[accessv1alpha1.AcceptPasscodesFromAnnotation]), nil
}

// writeCopy writes one copy unless it holds c already. The cache holds only labelled Secrets: a
// name it does not have is read live, and created only while it does not exist, so a Secret of
// someone else's is never taken over (ErrNotOurs), and a copy that lost its labels gets them back.
func (r *PasscodeReconciler) writeCopy(ctx context.Context, pc *accessv1alpha1.Passcode, t passcodesecret.CopyTarget, c passcodesecret.Contents) error {
	s := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, s)
	if apierrors.IsNotFound(err) {
		list := &corev1.SecretList{}
		if err := r.APIReader.List(ctx, list, client.InNamespace(t.Namespace),
			client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", t.Name)}); err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return passcodesecret.CreateCopy(ctx, r.Client, r.APIReader, pc, t, c, list.ResourceVersion)
		}
		s, err = &list.Items[0], nil
	}
	switch {
	case err != nil:
		return err
	case !passcodesecret.CopyOwnedBy(s, pc):
		return passcodesecret.ErrNotOurs
	case passcodesecret.CopyInSync(s, pc, c):
		return nil
	}
	return passcodesecret.ApplyCopy(ctx, r.Client, pc, t, c)
}

// copyOwner is the namespace of the Passcode whose copy the Secret at t is, read live (the cache
// may not have it yet); empty when it is no Passcode's copy or cannot be read.
func (r *PasscodeReconciler) copyOwner(ctx context.Context, t passcodesecret.CopyTarget) string {
	s := &metav1.PartialObjectMetadata{}
	s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, s); err != nil {
		return ""
	}
	ns, _, _ := passcodesecret.CopySource(s)
	return ns
}

// contenders are the namespaces of the other Passcodes that ask for a copy at t, which pc holds, and
// that t's namespace would accept: each is refused (CopyConflict) while pc's copy is there.
func (r *PasscodeReconciler) contenders(ctx context.Context, pc *accessv1alpha1.Passcode, t passcodesecret.CopyTarget) []string {
	var out []string
	for _, other := range r.passcodesCopyingTo(ctx, t) {
		if other.Namespace == pc.Namespace && other.Name == pc.Name || !other.DeletionTimestamp.IsZero() {
			continue
		}
		if refusal, err := r.refusal(ctx, &other, t.Namespace); err == nil && refusal == "" && !slices.Contains(out, other.Namespace) {
			out = append(out, other.Namespace)
		}
	}
	slices.Sort(out)
	return out
}

// passcodesCopyingTo lists the Passcodes (from the cache) whose spec.secretCopies asks for t.
func (r *PasscodeReconciler) passcodesCopyingTo(ctx context.Context, t passcodesecret.CopyTarget) []accessv1alpha1.Passcode {
	list := &accessv1alpha1.PasscodeList{}
	if err := r.List(ctx, list, client.MatchingFields{SecretCopiesIndex: t.Namespace}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the Passcodes that copy their Secret to a namespace", "namespace", t.Namespace)
		return nil
	}
	return slices.DeleteFunc(list.Items, func(pc accessv1alpha1.Passcode) bool {
		return !slices.Contains(passcodesecret.CopyTargets(&pc), t)
	})
}

// cachedCopies lists pc's copies in every namespace the cache holds.
func (r *PasscodeReconciler) cachedCopies(ctx context.Context, pc *accessv1alpha1.Passcode) ([]corev1.Secret, error) {
	list := &corev1.SecretList{}
	if err := r.List(ctx, list, client.MatchingLabelsSelector{Selector: passcodesecret.CopySelector(pc)}); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list.Items, func(s corev1.Secret) bool { return !passcodesecret.CopyOwnedBy(&s, pc) }), nil
}

// setCopiesFinalizer adds or removes CopiesFinalizer. The patch carries the resourceVersion it was
// computed from, so it never drops a finalizer someone else added meanwhile (it conflicts and is
// retried).
func (r *PasscodeReconciler) setCopiesFinalizer(ctx context.Context, pc *accessv1alpha1.Passcode, want bool) error {
	if controllerutil.ContainsFinalizer(pc, CopiesFinalizer) == want {
		return nil
	}
	changed := pc.DeepCopy()
	if want {
		controllerutil.AddFinalizer(changed, CopiesFinalizer)
	} else {
		controllerutil.RemoveFinalizer(changed, CopiesFinalizer)
	}
	if err := r.Patch(ctx, changed, client.MergeFromWithOptions(pc, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	pc.Finalizers, pc.ResourceVersion = changed.Finalizers, changed.ResourceVersion
	return nil
}

// finalizeCopies deletes a deleted Passcode's copies, then lets it go. The copies are listed live,
// in every namespace the spec names or the cache shows a copy in, so a copy written just before the
// deletion is not missed by a cache that is behind.
func (r *PasscodeReconciler) finalizeCopies(ctx context.Context, pc *accessv1alpha1.Passcode) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(pc, CopiesFinalizer) {
		return ctrl.Result{}, nil // the primary Secret goes with the Passcode (owner reference)
	}
	namespaces := map[string]bool{}
	for _, t := range passcodesecret.CopyTargets(pc) {
		namespaces[t.Namespace] = true
	}
	cached, err := r.cachedCopies(ctx, pc)
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, s := range cached {
		namespaces[s.Namespace] = true
	}
	var errs []error
	for ns := range namespaces {
		if r.WatchNamespaces != nil && !slices.Contains(r.WatchNamespaces, ns) {
			continue // never written there (refused), and not readable
		}
		list := &corev1.SecretList{}
		if err := r.APIReader.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: passcodesecret.CopySelector(pc)}); err != nil {
			errs = append(errs, err)
			continue
		}
		for i := range list.Items {
			if passcodesecret.CopyOwnedBy(&list.Items[i], pc) {
				errs = append(errs, passcodesecret.DeleteCopy(ctx, r.Client, &list.Items[i]))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, fmt.Errorf("deleting the copies of a deleted Passcode: %w", err)
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.setCopiesFinalizer(ctx, pc, false))
}

// passcodesOfNamespace maps a namespace (its consent annotation changed, or it was created) to the
// Passcodes that want copies in it.
func (r *PasscodeReconciler) passcodesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	list := &accessv1alpha1.PasscodeList{}
	if err := r.List(ctx, list, client.MatchingFields{SecretCopiesIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the Passcodes that copy their Secret to a namespace", "namespace", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// passcodesOfCopy maps a copy (edited, deleted) to its Passcode, and a Secret the operator wrote to
// the other Passcodes that ask for a copy of that name: when it goes, the first of them to write
// takes the name; while it is there, they say who holds it.
func (r *PasscodeReconciler) passcodesOfCopy(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	if ns, name, ok := passcodesecret.CopySource(o); ok {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	}
	for _, pc := range r.passcodesCopyingTo(ctx, passcodesecret.CopyTarget{Namespace: o.GetNamespace(), Name: o.GetName()}) {
		if req := (reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pc)}); !slices.Contains(reqs, req) {
			reqs = append(reqs, req)
		}
	}
	return reqs
}

// ownersOfCopiesAskedFor maps a Passcode (created, its spec changed, deleted) to the other Passcodes
// whose copies it asks for (from the cache), so that an owner's SecretCopies condition shows a
// Passcode refused its copy's name, and stops showing it when that one goes.
func (r *PasscodeReconciler) ownersOfCopiesAskedFor(ctx context.Context, o client.Object) []reconcile.Request {
	pc, ok := o.(*accessv1alpha1.Passcode)
	if !ok {
		return nil
	}
	var reqs []reconcile.Request
	for _, t := range passcodesecret.CopyTargets(pc) {
		s := &corev1.Secret{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, s); err != nil {
			continue // not cached: no copy of any Passcode's
		}
		ns, name, ok := passcodesecret.CopySource(s)
		req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
		if ok && (ns != pc.Namespace || name != pc.Name) && !slices.Contains(reqs, req) {
			reqs = append(reqs, req)
		}
	}
	return reqs
}
