package passcodesecret

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// KeyInviteKey is the data key of the invite key Secret.
const KeyInviteKey = "key"

// inviteKeySize is the key's length in bytes (HMAC-SHA256's block-sized keys need no more).
const inviteKeySize = 32

// InviteKeyGeneratedAnnotation set to "true" marks an invite key Secret the operator created. Only a
// Secret with this mark (and the managed-by label) is used as a key: a Secret of that name made by
// anyone else (directly, or through a Passcode or a copy of that name) would give them every
// invite link of the project. A Passcode's secretTemplate cannot set access.dashboardops.io/
// annotations, and the invite-key-guard admission policy (config/admission) lets no one but the
// operator's ServiceAccount create a Secret with it or change such a Secret's key.
const InviteKeyGeneratedAnnotation = "access.dashboardops.io/invite-key-generated"

// inviteKeyMarked is the value of InviteKeyGeneratedAnnotation (and of the InviteKeyLabel).
const inviteKeyMarked = "true"

// ForeignInviteKeyError is a Secret named like the invite key that the operator did not create:
// invites of the project wait until someone deletes it (the operator never uses nor overwrites it).
type ForeignInviteKeyError struct{ Namespace string }

func (e *ForeignInviteKeyError) Error() string {
	return fmt.Sprintf("Secret %s in namespace %s was not created by the operator (it lacks the label %s=%s or the annotation %s=true), "+
		"so it is not used as the invite key: invites wait until it is deleted, then the operator makes a new key",
		accessv1alpha1.InviteKeySecretName, e.Namespace, accessv1alpha1.ManagedByLabel, accessv1alpha1.ManagedByValue, InviteKeyGeneratedAnnotation)
}

// generatedInviteKey reports whether s is an invite key the operator created.
func generatedInviteKey(s *corev1.Secret) bool {
	return s.Labels[accessv1alpha1.ManagedByLabel] == accessv1alpha1.ManagedByValue && s.Annotations[InviteKeyGeneratedAnnotation] == inviteKeyMarked
}

// legacyInviteKey reports whether s carries the labels the operator puts on its invite key but not
// the mark: a key made by a release before the mark existed, or one planted with those labels.
// Nobody can tell which, so it is replaced, never used. A Passcode's Secret or a copy of that name
// (their own label or annotation) is not the operator's key and is left alone.
func legacyInviteKey(s *corev1.Secret) bool {
	_, passcode := s.Labels[accessv1alpha1.PasscodeLabel]
	_, copied := s.Annotations[CopyOfAnnotation]
	return s.Labels[accessv1alpha1.ManagedByLabel] == accessv1alpha1.ManagedByValue &&
		s.Labels[accessv1alpha1.InviteKeyLabel] == inviteKeyMarked && !passcode && !copied &&
		s.Annotations[InviteKeyGeneratedAnnotation] != inviteKeyMarked
}

// InviteKey returns the project's invite key, creating it on first use. Invite links are derived
// from it (and the user's UID and invite number), so a delivery retried after a crash or a failed
// status write carries the same link as the first try. The key is created, never updated: Create
// is atomic, so two replicas (or a restarted manager) can never end up with two keys, and an
// existing key found by a live read wins. cache reads first; reader confirms before creating. A
// Secret of that name the operator did not create is never used: ForeignInviteKeyError.
func InviteKey(ctx context.Context, cl client.Client, reader client.Reader, namespace string) ([]byte, error) {
	key := client.ObjectKey{Namespace: namespace, Name: accessv1alpha1.InviteKeySecretName}
	s := &corev1.Secret{}
	err := cl.Get(ctx, key, s)
	if apierrors.IsNotFound(err) || (err == nil && len(s.Data[KeyInviteKey]) < inviteKeySize) {
		// Only a live NotFound may lead to a new key: the cache may be behind our own create. The
		// cache keeps no data of an oversized Secret (setup.TrimManagedSecret): read it live.
		err = reader.Get(ctx, key, s)
	}
	if err == nil && legacyInviteKey(s) {
		err = replaceLegacyInviteKey(ctx, cl, reader, s)
	}
	switch {
	case err == nil:
		return ownInviteKey(s)
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading Secret %s: %w", accessv1alpha1.InviteKeySecretName, err)
	}
	s = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: accessv1alpha1.InviteKeySecretName, Labels: map[string]string{
			accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.InviteKeyLabel: inviteKeyMarked,
		}, Annotations: map[string]string{InviteKeyGeneratedAnnotation: inviteKeyMarked}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{KeyInviteKey: randomKey()},
	}
	if err := cl.Create(ctx, s, client.FieldOwner(FieldManager)); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating Secret %s: %w", accessv1alpha1.InviteKeySecretName, err)
		}
		// Another replica created it first: theirs is the key (if it is the operator's).
		if err := reader.Get(ctx, key, s); err != nil {
			return nil, fmt.Errorf("reading Secret %s: %w", accessv1alpha1.InviteKeySecretName, err)
		}
	}
	return ownInviteKey(s)
}

// ownInviteKey is the key s holds, when the operator created s.
func ownInviteKey(s *corev1.Secret) ([]byte, error) {
	if !generatedInviteKey(s) {
		return nil, &ForeignInviteKeyError{Namespace: s.Namespace}
	}
	return inviteKeyOf(s)
}

func inviteKeyOf(s *corev1.Secret) ([]byte, error) {
	k := s.Data[KeyInviteKey]
	if len(k) < inviteKeySize {
		return nil, fmt.Errorf("secret %s: data.%s must hold at least %d bytes; delete the Secret to make a new key "+
			"(links not yet delivered are then made anew)", s.Name, KeyInviteKey, inviteKeySize)
	}
	return k, nil
}

func randomKey() []byte {
	b := make([]byte, inviteKeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// replaceLegacyInviteKey deletes an unmarked key (legacyInviteKey) as read live, so that a new,
// marked one is made: it returns NotFound once it is gone. Links already delivered keep working
// (acceptance checks the hash in the user's status); links not yet delivered are made with the new
// key. The delete is conditional on the UID and resourceVersion read, so a key another replica made
// meanwhile is never deleted; any other outcome leaves s as read live, and InviteKey judges that.
func replaceLegacyInviteKey(ctx context.Context, cl client.Client, reader client.Reader, s *corev1.Secret) error {
	if err := reader.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil || !legacyInviteKey(s) {
		return err
	}
	uid, rv := s.UID, s.ResourceVersion
	err := cl.Delete(ctx, s, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return apierrors.NewNotFound(corev1.Resource("secrets"), s.Name)
	case apierrors.IsConflict(err):
		return reader.Get(ctx, client.ObjectKeyFromObject(s), s)
	}
	return fmt.Errorf("replacing the unmarked Secret %s: %w", accessv1alpha1.InviteKeySecretName, err)
}
