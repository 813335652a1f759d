package admission

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// No Passcode may write the invite key's Secret: not by its name, not by spec.secretName, not as a
// copy (issue 22 item 6; the CRD's rules, on the real API server).
func TestPasscodesCannotWriteTheInviteKey(t *testing.T) {
	ns := newNamespace(t, "squat")
	refused(t, admin.Create(ctx, passcode(ns, accessv1alpha1.InviteKeySecretName)),
		"metadata.name must not be access-operator-invite-key unless spec.secretName is set")
	refused(t, admin.Create(ctx, passcode(ns, "squat", func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretName = accessv1alpha1.InviteKeySecretName })),
		"spec.secretName: Invalid value: must not be access-operator-invite-key")
	refused(t, admin.Create(ctx, passcode(ns, "squat-copy", func(pc *accessv1alpha1.Passcode) {
		pc.Spec.SecretCopies = []accessv1alpha1.SecretCopy{{Namespace: "other", Name: accessv1alpha1.InviteKeySecretName}}
	})), "spec.secretCopies: Invalid value: must not name a copy access-operator-invite-key")
	accepted(t, admin.Create(ctx, passcode(ns, accessv1alpha1.InviteKeySecretName, func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretName = "fine" })),
		"a Passcode of that name writing another Secret")
}

// Only the operator may mark a Secret as its invite key, or change a marked key.
func TestOnlyTheOperatorMakesInviteKeys(t *testing.T) {
	ns := newNamespace(t, "guard")
	grant(t, ns, "erin", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"},
		Verbs: []string{"get", "create", "update", "patch", "delete"}})
	erin := as("erin")
	marked := func() *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: accessv1alpha1.InviteKeySecretName,
			Labels:      map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.InviteKeyLabel: "true"},
			Annotations: map[string]string{passcodesecret.InviteKeyGeneratedAnnotation: "true"}},
			Data: map[string][]byte{passcodesecret.KeyInviteKey: []byte("0123456789abcdef0123456789abcdef")}}
	}
	want := "Secret " + ns + "/" + accessv1alpha1.InviteKeySecretName + ": only the access operator may create an invite key"
	refused(t, erin.Create(ctx, marked()), want)

	// An unmarked one may be made (the operator will not use it), but not marked afterwards.
	plain := marked()
	plain.Annotations = nil
	accepted(t, erin.Create(ctx, plain), "an unmarked Secret of that name")
	refused(t, erin.Patch(ctx, plain.DeepCopy(), mergePatch(`{"metadata":{"annotations":{"access.dashboardops.io/invite-key-generated":"true"}}}`)), want)
	accepted(t, erin.Delete(ctx, plain), "delete it")

	// The operator's key: its key cannot be changed by others, an unchanged write passes, delete passes.
	key := marked()
	accepted(t, as(managerSA).Create(ctx, key), "the operator creates its key")
	refused(t, erin.Patch(ctx, key.DeepCopy(), mergePatch(`{"data":{"key":"a25vd24ta2V5LWtub3duLWtleS1rbm93bi1rZXkh"}}`)), want)
	refused(t, erin.Patch(ctx, key.DeepCopy(), mergePatch(`{"metadata":{"annotations":{"access.dashboardops.io/invite-key-generated":null}}}`)), want)
	accepted(t, erin.Patch(ctx, key.DeepCopy(), mergePatch(`{"metadata":{"labels":{"backup":"nightly"}}}`)), "a write that leaves the key and mark alone")
	accepted(t, erin.Delete(ctx, key), "delete the key (the operator makes a new one)")
}
