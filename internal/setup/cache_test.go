package setup

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// TestTrimForCacheKeepsWhatTheOperatorReads: managedFields and kubectl's last-applied copy leave
// the cache; every other annotation, label, owner and the data stay.
func TestTrimForCacheKeepsWhatTheOperatorReads(t *testing.T) {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "jane-api", Namespace: "team",
			Labels:        map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue},
			Annotations:   map[string]string{lastAppliedAnnotation: `{"big":"copy"}`, "access.dashboardops.io/revision": "3"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "access-operator", Operation: metav1.ManagedFieldsOperationApply}},
		},
		Data: map[string][]byte{"passcode": []byte("x")},
	}
	out, err := TrimForCache(s)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Secret)
	if got.ManagedFields != nil || got.Annotations[lastAppliedAnnotation] != "" {
		t.Fatalf("not trimmed: managedFields %v annotations %v", got.ManagedFields, got.Annotations)
	}
	if got.Annotations["access.dashboardops.io/revision"] != "3" || len(got.Labels) != 1 || string(got.Data["passcode"]) != "x" {
		t.Fatalf("trimmed too much: %+v", got.ObjectMeta)
	}
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	if out, err := TrimForCache(pc); err != nil || out.(*accessv1alpha1.Passcode).Annotations != nil {
		t.Fatalf("an object without annotations stays without: %v", err)
	}
}
