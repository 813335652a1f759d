package passcodesecret

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func activePasscode() *accessv1alpha1.Passcode {
	return &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api", UID: "uid-pc"},
		Status:     accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, Revision: 1, Hash: passcode.Hash("old")},
	}
}

// written is the Secret as the operator's apply of revision 2 leaves it, managedFields included.
func written(manager string, op metav1.ManagedFieldsOperationType) *corev1.Secret {
	pc := activePasscode()
	isController := true
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "jane-api", Namespace: "team", Labels: Labels(pc), Annotations: Annotations(pc, 2),
			OwnerReferences: []metav1.OwnerReference{{UID: pc.UID, Controller: &isController, Kind: "Passcode", Name: pc.Name}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: manager, Operation: op,
				FieldsV1: metav1.NewFieldsV1(`{"f:data":{"f:passcode":{},"f:email":{}}}`)}},
		},
		Data: mustData(pc, Contents{Passcode: "new", Email: "jane@example.com", ExpiresAt: t0.Add(time.Hour), Revision: 2}),
	}
}

func mustData(pc *accessv1alpha1.Passcode, c Contents) map[string][]byte {
	data, err := Data(pc, c)
	if err != nil {
		panic(err)
	}
	return data
}

func TestUnrecorded(t *testing.T) {
	pc := activePasscode()
	w, ok := Unrecorded(written(FieldManager, metav1.ManagedFieldsOperationApply), pc)
	if !ok || w.Passcode != "new" || w.Revision != 2 || !w.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("the operator's own next revision is adopted: %+v %v", w, ok)
	}
	if Classify(written(FieldManager, metav1.ManagedFieldsOperationApply), pc) != Tampered {
		t.Fatal("against the old status the Secret looks tampered: only Unrecorded tells it apart")
	}
	edited := written("kubectl-edit", metav1.ManagedFieldsOperationUpdate)
	if _, ok := Unrecorded(edited, pc); ok {
		t.Fatal("a passcode someone else wrote is never adopted")
	}
	shared := written(FieldManager, metav1.ManagedFieldsOperationApply)
	shared.ManagedFields = append(shared.ManagedFields, edited.ManagedFields...)
	if _, ok := Unrecorded(shared, pc); ok {
		t.Fatal("a passcode key touched by another manager is never adopted")
	}
	ahead := written(FieldManager, metav1.ManagedFieldsOperationApply)
	ahead.Annotations[RevisionAnnotation] = "3"
	if _, ok := Unrecorded(ahead, pc); ok {
		t.Fatal("only the very next revision is adopted")
	}
	noFields := written(FieldManager, metav1.ManagedFieldsOperationApply)
	noFields.ManagedFields = nil // a cached copy: managedFields stripped
	if _, ok := Unrecorded(noFields, pc); ok {
		t.Fatal("without managedFields (a cached copy) nothing is adopted")
	}
}

func TestOwnedBy(t *testing.T) {
	pc := activePasscode()
	s := written(FieldManager, metav1.ManagedFieldsOperationApply)
	unlabelled := s.DeepCopy()
	unlabelled.Labels = nil
	foreign := s.DeepCopy()
	foreign.OwnerReferences[0].UID = "someone-else"
	labelledOnly := s.DeepCopy()
	labelledOnly.OwnerReferences = nil
	plain := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jane-api", Namespace: "team"}}
	for name, c := range map[string]struct {
		s    *corev1.Secret
		want bool
	}{
		"ours": {s, true}, "ours without its labels": {unlabelled, true}, "controlled by another object": {foreign, false},
		"labelled, no controller": {labelledOnly, true}, "someone's own Secret": {plain, false},
	} {
		if got := OwnedBy(c.s, pc); got != c.want {
			t.Errorf("%s: OwnedBy = %v", name, got)
		}
	}
}

func TestInviteKeyIsCreatedOnceAndKept(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	ctx := context.Background()
	k1, err := InviteKey(ctx, c, c, "team")
	if err != nil || len(k1) != inviteKeySize {
		t.Fatalf("first use creates the key: %v", err)
	}
	k2, err := InviteKey(ctx, c, c, "team")
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("later uses read the same key: %v", err)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team", Name: accessv1alpha1.InviteKeySecretName}, s); err != nil {
		t.Fatal(err)
	}
	if s.Labels[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue || s.Labels[accessv1alpha1.InviteKeyLabel] != "true" {
		t.Fatalf("the key Secret is labelled for the operator's cache: %v", s.Labels)
	}

	// Another replica created it between our live read and our create: its key wins.
	theirs := s.DeepCopy()
	theirs.Namespace, theirs.ResourceVersion = "other", ""
	theirs.Data = map[string][]byte{KeyInviteKey: []byte("0123456789abcdef0123456789abcdef")}
	racy := interceptor.NewClient(fake.NewClientBuilder().WithScheme(scheme).Build(), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, _ client.Object, _ ...client.CreateOption) error {
			if err := c.Create(ctx, theirs.DeepCopy()); err != nil {
				return err
			}
			return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, theirs.Name)
		},
	})
	k3, err := InviteKey(ctx, racy, racy, "other")
	if err != nil || string(k3) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("AlreadyExists means the other key wins: %q %v", k3, err)
	}

	short := theirs.DeepCopy()
	short.Namespace, short.Data = "short", map[string][]byte{KeyInviteKey: []byte("x")}
	bad := fake.NewClientBuilder().WithScheme(scheme).WithObjects(short).Build()
	if _, err := InviteKey(ctx, bad, bad, "short"); err == nil {
		t.Fatal("a key too short to be ours is refused, naming the key")
	}
}
