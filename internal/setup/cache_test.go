package setup

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"

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

// TestEachCacheSelectsOnlyItsSecrets: the manager's cache takes the Secrets the operator writes, the
// SCIM token cache those labelled as tokens (for any kind it could be asked for), and neither takes
// an unlabelled Secret or the other's.
func TestEachCacheSelectsOnlyItsSecrets(t *testing.T) {
	managed := labels.Set{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}
	token := labels.Set{accessv1alpha1.SCIMTokenLabel: "true"}
	secretSelector := func(opts cache.Options) labels.Selector {
		t.Helper()
		for obj, by := range opts.ByObject {
			if _, ok := obj.(*corev1.Secret); ok {
				return by.Label
			}
		}
		t.Fatal("no Secret selector")
		return nil
	}
	for _, tc := range []struct {
		name     string
		selector labels.Selector
		takes    labels.Set
		refuses  []labels.Set
	}{
		{"manager cache", secretSelector(CacheOptions(nil)), managed, []labels.Set{{}, token, {accessv1alpha1.SCIMTokenLabel: "false"}}},
		{"SCIM token cache", secretSelector(SCIMTokenCacheOptions(nil)), token,
			[]labels.Set{{}, managed, {accessv1alpha1.SCIMTokenLabel: "false"}}},
		{"SCIM token cache, any kind", SCIMTokenCacheOptions([]string{"team-a"}).DefaultLabelSelector, token, []labels.Set{{}, managed}},
	} {
		if !tc.selector.Matches(tc.takes) {
			t.Errorf("%s: does not take %v", tc.name, tc.takes)
		}
		for _, l := range tc.refuses {
			if tc.selector.Matches(l) {
				t.Errorf("%s: takes a Secret labelled %v", tc.name, l)
			}
		}
	}
	if opts := SCIMTokenCacheOptions([]string{"team-a"}); len(opts.DefaultNamespaces) != 1 || opts.DefaultTransform == nil {
		t.Errorf("the SCIM token cache must keep --watch-namespaces and trim what it caches: %+v", opts)
	}
}
