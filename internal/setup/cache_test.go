package setup

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
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

// TestAnOversizedSecretCostsItsIdentityOnly: a Secret labelled as the operator's beyond
// maxCachedSecretBytes (anyone may label one) enters the cache as its name, the operator's labels
// and annotations and its controller: no data, no other labels or annotations, whatever its size.
func TestAnOversizedSecretCostsItsIdentityOnly(t *testing.T) {
	isController := true
	big := make([]byte, 900<<10)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "jane-api", Namespace: "team", UID: "u1", ResourceVersion: "7",
			Labels: map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.PasscodeLabel: "jane-api",
				passcodesecret.CopyOfNamespaceLabel: "src", "team": "a"},
			Annotations: map[string]string{passcodesecret.CopyOfAnnotation: "src/jane-api", passcodesecret.RevisionAnnotation: "3",
				"note": string(big[:100<<10])},
			OwnerReferences: []metav1.OwnerReference{{Name: "other", UID: "o"}, {Name: "jane-api", UID: "pc", Controller: &isController}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"passcode": big, "email": []byte("jane@example.com")},
	}
	out, err := TrimManagedSecret(s.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Secret)
	if got.Data != nil || len(got.Labels) != 3 || got.Labels["team"] != "" || len(got.Annotations) != 2 || got.Annotations["note"] != "" {
		t.Errorf("kept more than its identity: data %d keys, labels %v, annotations %d", len(got.Data), got.Labels, len(got.Annotations))
	}
	if got.Name != s.Name || got.Namespace != s.Namespace || got.UID != s.UID || got.ResourceVersion != s.ResourceVersion ||
		got.Annotations[passcodesecret.CopyOfAnnotation] != "src/jane-api" || got.Type != s.Type ||
		len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != "pc" {
		t.Errorf("lost what the operator reads: %+v", got.ObjectMeta)
	}
	if n := secretBytes(got); n > 1<<10 {
		t.Errorf("the identity costs %d bytes", n)
	}

	small := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jane-api", Namespace: "team", Labels: s.Labels},
		Data: map[string][]byte{"passcode": []byte("p"), "config": make([]byte, maxCachedSecretBytes/2)}}
	if out, _ := TrimManagedSecret(small.DeepCopy()); len(out.(*corev1.Secret).Data) != 2 || out.(*corev1.Secret).Labels["team"] != "a" {
		t.Errorf("a Secret within the bound must be cached whole")
	}
}

// TestAnOversizedSecretIsNeverInSyncFromTheCache: the operator trusts a cached Secret only when
// it classifies InSync (anything else is confirmed by a live read). What the cache keeps of an
// oversized Secret must never classify InSync once a passcode was issued, so tamper detection is
// decided on the live Secret as before; a copy never looks in sync either (it is re-applied).
func TestAnOversizedSecretIsNeverInSyncFromTheCache(t *testing.T) {
	expires := metav1.NewTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, phase := range []accessv1alpha1.PasscodePhase{accessv1alpha1.PasscodeActive, accessv1alpha1.PasscodeExpired, accessv1alpha1.PasscodeRevoked} {
		pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api", UID: "pc"},
			Status: accessv1alpha1.PasscodeStatus{Phase: phase, Revision: 1, Hash: passcode.Hash("p4ss-p4ss-p4ss"), ExpiresAt: &expires}}
		pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"config": "x"}}
		isController := true
		c := passcodesecret.Contents{Email: "jane@example.com", ExpiresAt: expires.Time, Revision: 1}
		if phase == accessv1alpha1.PasscodeActive {
			c.Passcode = "p4ss-p4ss-p4ss"
		}
		data, err := passcodesecret.Data(pc, c)
		if err != nil {
			t.Fatal(err)
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api",
			Labels: passcodesecret.Labels(pc), Annotations: passcodesecret.Annotations(pc, 1),
			OwnerReferences: []metav1.OwnerReference{{UID: pc.UID, Controller: &isController}}}, Data: data}
		if got := passcodesecret.Classify(s, pc); got != passcodesecret.InSync {
			t.Fatalf("%s: the Secret as written classifies %v", phase, got)
		}
		s.Data["someone-elses"] = make([]byte, 900<<10) // a key of another tool's: the live Secret is in sync
		cached, _ := TrimManagedSecret(s.DeepCopy())
		if got := passcodesecret.Classify(cached.(*corev1.Secret), pc); got == passcodesecret.InSync {
			t.Errorf("%s: what the cache keeps of an oversized Secret classifies InSync", phase)
		}
		copyOf := s.DeepCopy()
		copyOf.Labels = passcodesecret.CopyLabels(pc)
		copyOf.Annotations[passcodesecret.CopyOfAnnotation] = "team/jane-api"
		cached, _ = TrimManagedSecret(copyOf)
		if !passcodesecret.CopyOwnedBy(cached.(*corev1.Secret), pc) || passcodesecret.CopyInSync(cached.(*corev1.Secret), pc, c) {
			t.Errorf("%s: an oversized copy must stay ours and never look in sync", phase)
		}
	}
}

// TestTrimForCacheSharesRepeatedStrings (issue 25): two objects decoded apart hold one copy of the
// strings every object repeats (namespace, label and annotation keys, owner kind, finalizers,
// condition type and reason, data keys), and every value reads as it did.
func TestTrimForCacheSharesRepeatedStrings(t *testing.T) {
	decode := func(i int) (*accessv1alpha1.Passcode, *corev1.Secret) {
		// strings.Clone stands for the decoder: each object's strings are allocated apart.
		c := strings.Clone
		yes := true
		pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: c("team"), Name: fmt.Sprintf("user-%d-api", i),
			Finalizers: []string{c("access.dashboardops.io/secret-copies")}},
			Spec: accessv1alpha1.PasscodeSpec{Tenure: c("30d")},
			Status: accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodePhase(c("Active")),
				Conditions: []metav1.Condition{{Type: c("Ready"), Status: metav1.ConditionStatus(c("True")), Reason: c("Issued"), Message: fmt.Sprintf("issued %d", i)}}}}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: c("team"), Name: fmt.Sprintf("user-%d-api", i),
			Labels:          map[string]string{c(accessv1alpha1.ManagedByLabel): c(accessv1alpha1.ManagedByValue), c(accessv1alpha1.PasscodeLabel): fmt.Sprintf("user-%d-api", i)},
			Annotations:     map[string]string{c(passcodesecret.RevisionAnnotation): "1"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: c("access.dashboardops.io/v1alpha1"), Kind: c("Passcode"), Name: pc.Name, Controller: &yes}}},
			Type: corev1.SecretType(c("Opaque")), Data: map[string][]byte{c("passcode"): []byte(fmt.Sprint(i)), c("email"): []byte("x")}}
		for _, o := range []client.Object{pc, s} {
			if _, err := TrimForCache(o); err != nil {
				t.Fatal(err)
			}
		}
		return pc, s
	}
	pc1, s1 := decode(1)
	pc2, s2 := decode(2)
	same := func(what, a, b string) {
		t.Helper()
		if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
			t.Errorf("%s: %q and %q are two copies", what, a, b)
		}
	}
	key := func(m map[string][]byte, want string) string {
		for k := range m {
			if k == want {
				return k
			}
		}
		t.Fatalf("no key %s", want)
		return ""
	}
	labelKey := func(m map[string]string, want string) string {
		for k := range m {
			if k == want {
				return k
			}
		}
		t.Fatalf("no key %s", want)
		return ""
	}
	same("namespace", pc1.Namespace, s2.Namespace)
	same("finalizer", pc1.Finalizers[0], pc2.Finalizers[0])
	same("tenure", pc1.Spec.Tenure, pc2.Spec.Tenure)
	same("phase", string(pc1.Status.Phase), string(pc2.Status.Phase))
	same("condition type", pc1.Status.Conditions[0].Type, pc2.Status.Conditions[0].Type)
	same("condition reason", pc1.Status.Conditions[0].Reason, pc2.Status.Conditions[0].Reason)
	same("owner kind", s1.OwnerReferences[0].Kind, s2.OwnerReferences[0].Kind)
	same("secret type", string(s1.Type), string(s2.Type))
	same("data key", key(s1.Data, "passcode"), key(s2.Data, "passcode"))
	same("label key", labelKey(s1.Labels, accessv1alpha1.PasscodeLabel), labelKey(s2.Labels, accessv1alpha1.PasscodeLabel))
	same("managed-by value", s1.Labels[accessv1alpha1.ManagedByLabel], s2.Labels[accessv1alpha1.ManagedByLabel])
	if pc2.Name != "user-2-api" || s2.Labels[accessv1alpha1.PasscodeLabel] != "user-2-api" || string(s2.Data["passcode"]) != "2" ||
		s2.Annotations[passcodesecret.RevisionAnnotation] != "1" || pc2.Status.Conditions[0].Message != "issued 2" ||
		s2.OwnerReferences[0].Controller == nil || !*s2.OwnerReferences[0].Controller || s2.OwnerReferences[0].BlockOwnerDeletion != nil {
		t.Errorf("a value changed: %+v %+v", pc2, s2)
	}
}
