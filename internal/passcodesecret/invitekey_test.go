package passcodesecret

import (
	"bytes"
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// TestAnInviteKeyCachedWithoutDataIsReadLive: the manager's cache keeps an oversized Secret
// without its data (setup.TrimManagedSecret). The invite key is then read from the API server,
// never reported as too short nor made anew.
func TestAnInviteKeyCachedWithoutDataIsReadLive(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "team", Name: accessv1alpha1.InviteKeySecretName,
		Labels: map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.InviteKeyLabel: "true"}}
	want := bytes.Repeat([]byte{7}, inviteKeySize)
	cached := fake.NewClientBuilder().WithObjects(&corev1.Secret{ObjectMeta: meta}).Build()
	live := fake.NewClientBuilder().WithObjects(&corev1.Secret{ObjectMeta: meta,
		Data: map[string][]byte{KeyInviteKey: want, "bulky": make([]byte, 900<<10)}}).Build()
	got, err := InviteKey(context.Background(), cached, live, "team")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("InviteKey = %x, %v; want the live key", got, err)
	}
}
