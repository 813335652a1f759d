package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// importError is a spec.import that cannot be carried out until someone fixes the source Secret.
// Its message names the Secret and the problem, never the value.
type importError struct{ msg string }

func (e *importError) Error() string { return e.msg }

// importedPasscode reads the passcode spec.import names, for revision 1. The source Secret is read
// live (it carries none of the operator's labels, so it is not in the cache) and never written.
func (r *PasscodeReconciler) importedPasscode(ctx context.Context, pc *accessv1alpha1.Passcode) (string, error) {
	name := pc.Spec.Import.SecretRef.Name
	src := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pc.Namespace, Name: name}, src)
	switch {
	case apierrors.IsNotFound(err):
		return "", &importError{fmt.Sprintf("spec.import.secretRef: Secret %q does not exist in namespace %s", name, pc.Namespace)}
	case err != nil:
		return "", fmt.Errorf("reading the Secret spec.import names: %w", err)
	case passcodesecret.OwnedBy(src, pc):
		return "", &importError{fmt.Sprintf("spec.import.secretRef: Secret %q is this Passcode's own Secret; name the Secret that holds the passcode in use", name)}
	}
	value, ok := src.Data[passcodesecret.KeyPasscode]
	if !ok {
		return "", &importError{fmt.Sprintf("spec.import.secretRef: Secret %q has no key %q", name, passcodesecret.KeyPasscode)}
	}
	if err := passcode.CheckImport(string(value)); err != nil {
		return "", &importError{fmt.Sprintf("spec.import.secretRef: the key %q of Secret %q must be %d to %d characters of A-Z, a-z, 0-9, '-' and '_': %v",
			passcodesecret.KeyPasscode, name, passcode.ImportMinLen, passcode.ImportMaxLen, err)}
	}
	if other, err := r.passcodeWithHash(ctx, pc, passcode.Hash(string(value))); err != nil {
		return "", err
	} else if other != "" {
		// One passcode, two users: the access server could not tell whose it is.
		return "", &importError{fmt.Sprintf("spec.import.secretRef: the passcode in Secret %q is already the passcode of Passcode %q in this namespace", name, other)}
	}
	return string(value), nil
}

// passcodeWithHash names another Passcode of the namespace whose current or previous passcode has
// hash ("" when none).
func (r *PasscodeReconciler) passcodeWithHash(ctx context.Context, pc *accessv1alpha1.Passcode, hash string) (string, error) {
	list := &accessv1alpha1.PasscodeList{}
	if err := r.List(ctx, list, client.InNamespace(pc.Namespace)); err != nil {
		return "", fmt.Errorf("listing the namespace's Passcodes: %w", err)
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == pc.UID {
			continue
		}
		if other.Status.Hash == hash || (other.Status.Previous != nil && other.Status.Previous.Hash == hash) {
			return other.Name, nil
		}
	}
	return "", nil
}
