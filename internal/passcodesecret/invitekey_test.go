package passcodesecret

import (
	"bytes"
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// TestAnInviteKeyCachedWithoutDataIsReadLive: the manager's cache keeps an oversized Secret
// without its data (setup.TrimManagedSecret). The invite key is then read from the API server,
// never reported as too short nor made anew.
func TestAnInviteKeyCachedWithoutDataIsReadLive(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "team", Name: accessv1alpha1.InviteKeySecretName,
		Labels:      map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.InviteKeyLabel: "true"},
		Annotations: map[string]string{InviteKeyGeneratedAnnotation: "true"}}
	want := bytes.Repeat([]byte{7}, inviteKeySize)
	cached := fake.NewClientBuilder().WithObjects(&corev1.Secret{ObjectMeta: meta}).Build()
	live := fake.NewClientBuilder().WithObjects(&corev1.Secret{ObjectMeta: meta,
		Data: map[string][]byte{KeyInviteKey: want, "bulky": make([]byte, 900<<10)}}).Build()
	got, err := InviteKey(context.Background(), cached, live, "team")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("InviteKey = %x, %v; want the live key", got, err)
	}
}

// A Secret named like the invite key that the operator did not create is never the key: whoever
// made it would know every invite link. It is neither used nor overwritten.
func TestInviteKeyAdoptsOnlyASecretTheOperatorCreated(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	ctx := context.Background()
	planted := []byte("0123456789abcdef0123456789abcdef") // a key the planter knows
	ours := map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.InviteKeyLabel: "true"}
	for name, meta := range map[string]metav1.ObjectMeta{
		"someone's Secret": {},
		"a Passcode's Secret of that name": {Labels: map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue,
			accessv1alpha1.InviteKeyLabel: "true", accessv1alpha1.PasscodeLabel: "p"}},
		"a copy of that name":     {Labels: ours, Annotations: map[string]string{CopyOfAnnotation: "other/p"}},
		"the mark, not our label": {Annotations: map[string]string{InviteKeyGeneratedAnnotation: "true"}},
	} {
		meta.Namespace, meta.Name = "team", accessv1alpha1.InviteKeySecretName
		foreign := &corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{KeyInviteKey: planted}}
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(foreign.DeepCopy()).Build()
		key, err := InviteKey(ctx, c, c, "team")
		var fe *ForeignInviteKeyError
		if !errors.As(err, &fe) || key != nil {
			t.Errorf("%s: got key %q, err %v; want ForeignInviteKeyError", name, key, err)
		}
		after := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(foreign), after); err != nil || string(after.Data[KeyInviteKey]) != string(planted) {
			t.Errorf("%s: the Secret must be left as it was: %v", name, err)
		}
	}

	// Planted between our live read and our create: AlreadyExists, and the Secret found is refused too.
	planter := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: accessv1alpha1.InviteKeySecretName},
		Data: map[string][]byte{KeyInviteKey: planted}}
	racy := interceptor.NewClient(fake.NewClientBuilder().WithScheme(scheme).Build(), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, _ client.Object, _ ...client.CreateOption) error {
			if err := c.Create(ctx, planter.DeepCopy()); err != nil {
				return err
			}
			return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, planter.Name)
		},
	})
	var fe *ForeignInviteKeyError
	if key, err := InviteKey(ctx, racy, racy, "team"); !errors.As(err, &fe) || key != nil {
		t.Errorf("a key planted during our create: got %q, %v", key, err)
	}

	// The key the operator creates carries the mark, and is then used.
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	if _, err := InviteKey(ctx, c, c, "team"); err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team", Name: accessv1alpha1.InviteKeySecretName}, s); err != nil {
		t.Fatal(err)
	}
	if s.Annotations[InviteKeyGeneratedAnnotation] != "true" {
		t.Errorf("the operator's key must carry %s: %v", InviteKeyGeneratedAnnotation, s.Annotations)
	}
}

// A key with the operator's labels but not its mark (made by a release before the mark, or planted
// with those labels) is replaced by a new marked key, never used: invites go on after an upgrade,
// and whoever planted it learns nothing.
func TestAnUnmarkedKeyWithOurLabelsIsReplaced(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	ctx := context.Background()
	old := []byte("0123456789abcdef0123456789abcdef")
	legacy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: accessv1alpha1.InviteKeySecretName, UID: "old",
		Labels: map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.InviteKeyLabel: "true"}},
		Data: map[string][]byte{KeyInviteKey: old}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(legacy).Build()
	key, err := InviteKey(ctx, c, c, "team")
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != inviteKeySize || string(key) == string(old) {
		t.Fatalf("got the old key back (%d bytes); want a new one", len(key))
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(legacy), s); err != nil {
		t.Fatal(err)
	}
	if s.Annotations[InviteKeyGeneratedAnnotation] != "true" || string(s.Data[KeyInviteKey]) != string(key) {
		t.Errorf("the new key must be marked and stored: %v", s.Annotations)
	}
	if again, err := InviteKey(ctx, c, c, "team"); err != nil || string(again) != string(key) {
		t.Errorf("the new key must be kept: %v", err)
	}
}
