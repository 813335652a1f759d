package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// The copies reconciler's reads and writes of the copies themselves, its finalizer and the mappings
// of its watches.

// refusal reads the target namespace's consent from the cache (metadata only).
func (r *PasscodeCopiesReconciler) refusal(ctx context.Context, pc *accessv1alpha1.Passcode, ns string) (string, error) {
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
func (r *PasscodeCopiesReconciler) writeCopy(ctx context.Context, pc *accessv1alpha1.Passcode, t passcodesecret.CopyTarget, c passcodesecret.Contents) error {
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
func (r *PasscodeCopiesReconciler) copyOwner(ctx context.Context, t passcodesecret.CopyTarget) string {
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
func (r *PasscodeCopiesReconciler) contenders(ctx context.Context, pc *accessv1alpha1.Passcode, t passcodesecret.CopyTarget) []string {
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
func (r *PasscodeCopiesReconciler) passcodesCopyingTo(ctx context.Context, t passcodesecret.CopyTarget) []accessv1alpha1.Passcode {
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
func (r *PasscodeCopiesReconciler) cachedCopies(ctx context.Context, pc *accessv1alpha1.Passcode) ([]corev1.Secret, error) {
	list := &corev1.SecretList{}
	if err := r.List(ctx, list, client.MatchingLabelsSelector{Selector: passcodesecret.CopySelector(pc)}); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list.Items, func(s corev1.Secret) bool { return !passcodesecret.CopyOwnedBy(&s, pc) }), nil
}

// setCopiesFinalizer adds or removes CopiesFinalizer. The patch carries the resourceVersion it was
// computed from, so it never drops a finalizer someone else added meanwhile (it conflicts and is
// retried).
func (r *PasscodeCopiesReconciler) setCopiesFinalizer(ctx context.Context, pc *accessv1alpha1.Passcode, want bool) error {
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
func (r *PasscodeCopiesReconciler) finalizeCopies(ctx context.Context, pc *accessv1alpha1.Passcode) (ctrl.Result, error) {
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
func (r *PasscodeCopiesReconciler) passcodesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
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
func (r *PasscodeCopiesReconciler) passcodesOfCopy(ctx context.Context, o client.Object) []reconcile.Request {
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
func (r *PasscodeCopiesReconciler) ownersOfCopiesAskedFor(ctx context.Context, o client.Object) []reconcile.Request {
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
