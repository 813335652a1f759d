package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/validity"
)

// importError is a spec.import that cannot be carried out until someone fixes the source Secret.
// Its message is the same whatever the cause (importRefused), so that whoever may create Passcodes
// but not read Secrets learns nothing from it about a Secret: not whether it exists, nor how long
// its value is, nor whose passcode it holds. The cause goes to the manager's log (cause), never
// with the value.
type importError struct{ msg, cause string }

func (e *importError) Error() string { return e.msg }

// importRefused is the one importError of spec.import naming Secret name in namespace ns.
func importRefused(name, ns, cause string) *importError {
	return &importError{cause: cause, msg: fmt.Sprintf("spec.import.secretRef: Secret %q cannot be imported: it must exist in namespace %s, "+
		"hold in key %q a passcode of %d to %d characters of A-Z, a-z, 0-9, '-' and '_' that no other Passcode of the namespace has, "+
		"and not be this Passcode's own Secret", name, ns, passcodesecret.KeyPasscode, passcode.ImportMinLen, passcode.ImportMaxLen)}
}

// importedPasscode reads the passcode spec.import names, for revision 1. The source Secret is read
// live (it carries none of the operator's labels, so it is not in the cache) and never written.
func (r *PasscodeReconciler) importedPasscode(ctx context.Context, pc *accessv1alpha1.Passcode) (string, error) {
	name := pc.Spec.Import.SecretRef.Name
	src := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pc.Namespace, Name: name}, src)
	switch {
	case apierrors.IsNotFound(err):
		return "", importRefused(name, pc.Namespace, "the Secret does not exist")
	case err != nil:
		return "", fmt.Errorf("reading the Secret spec.import names: %w", err)
	case passcodesecret.OwnedBy(src, pc):
		return "", importRefused(name, pc.Namespace, "the Secret is the Passcode's own")
	}
	value, ok := src.Data[passcodesecret.KeyPasscode]
	if !ok {
		return "", importRefused(name, pc.Namespace, "the Secret has no key "+passcodesecret.KeyPasscode)
	}
	if err := passcode.CheckImport(string(value)); err != nil {
		return "", importRefused(name, pc.Namespace, "the value: "+err.Error())
	}
	if other, err := r.passcodeWithHash(ctx, pc, passcode.Hash(string(value))); err != nil {
		return "", err
	} else if other != "" {
		// One passcode, two users: the access server could not tell whose it is.
		return "", importRefused(name, pc.Namespace, "the value is the passcode of Passcode "+other)
	}
	return string(value), nil
}

// passcodeWithHash names another Passcode of the namespace that hash may open (validity.Hashes, as
// the access server indexes them), or "" when none. Imports are rare: a scan of the namespace's
// cached Passcodes costs less than one more index on every Passcode.
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
		if slices.Contains(validity.Hashes(&other.Status), hash) {
			return other.Name, nil
		}
	}
	return "", nil
}
