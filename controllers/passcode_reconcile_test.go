package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// Reconcile called directly, on a fake client and a fake clock: the returned RequeueAfter is the
// next deadline, to the second.
func newFakeReconciler(t *testing.T, objs ...client.Object) (*PasscodeReconciler, *clocktesting.FakeClock, client.Client) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithIndex(&corev1.Secret{}, "metadata.name", objectName).
		WithStatusSubresource(&accessv1alpha1.Passcode{}, &accessv1alpha1.DashboardUser{}).Build()
	clk := clocktesting.NewFakeClock(t0)
	return &PasscodeReconciler{Client: c, APIReader: c, Clock: clk, Recorder: events.NewFakeRecorder(100)}, clk, c
}

func testUser() *accessv1alpha1.DashboardUser {
	return &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane"},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", Role: accessv1alpha1.RoleMember, Access: accessv1alpha1.AccessGranted},
	}
}

func testPasscode(tenure string, rotation *accessv1alpha1.RotationSpec) *accessv1alpha1.Passcode {
	return &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api", UID: "uid-1", Generation: 1},
		Spec:       accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: tenure, Rotation: rotation},
	}
}

func reconcileOnce(t *testing.T, r *PasscodeReconciler) (ctrl.Result, *accessv1alpha1.Passcode) {
	t.Helper()
	key := types.NamespacedName{Namespace: "team", Name: "jane-api"}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	pc := &accessv1alpha1.Passcode{}
	if err := r.Get(context.Background(), key, pc); err != nil {
		t.Fatal(err)
	}
	return res, pc
}

func TestReconcileManualRequeuesAtExpiryThenExpires(t *testing.T) {
	r, clk, c := newFakeReconciler(t, testUser(), testPasscode("12h", nil))

	res, pc := reconcileOnce(t, r)
	if pc.Status.Phase != accessv1alpha1.PasscodeActive || pc.Status.Revision != 1 {
		t.Fatalf("after the first reconcile: %+v", pc.Status)
	}
	if res.RequeueAfter != 12*time.Hour {
		t.Fatalf("RequeueAfter = %v, want the 12h tenure", res.RequeueAfter)
	}
	if !apimeta.IsStatusConditionTrue(pc.Status.Conditions, accessv1alpha1.ConditionReady) {
		t.Fatalf("Ready must be True: %+v", pc.Status.Conditions)
	}
	secret := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, secret); err != nil {
		t.Fatal(err)
	}
	if !passcode.Matches(string(secret.Data[passcodesecret.KeyPasscode]), pc.Status.Hash) {
		t.Fatal("status.hash must be the hash of the passcode in the Secret")
	}

	clk.Step(5 * time.Hour)
	res, _ = reconcileOnce(t, r)
	if res.RequeueAfter != 7*time.Hour {
		t.Fatalf("5h later RequeueAfter = %v, want 7h", res.RequeueAfter)
	}

	clk.Step(7 * time.Hour)
	res, pc = reconcileOnce(t, r)
	if pc.Status.Phase != accessv1alpha1.PasscodeExpired || res.RequeueAfter != 0 {
		t.Fatalf("at expiresAt: phase %s, RequeueAfter %v", pc.Status.Phase, res.RequeueAfter)
	}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, secret); err != nil {
		t.Fatal(err)
	}
	if _, has := secret.Data[passcodesecret.KeyPasscode]; has {
		t.Fatal("an expired passcode must be wiped from the Secret")
	}
}

func TestReconcileAutomaticRequeuesAtRenewalAndGraceEnd(t *testing.T) {
	rot := &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, RenewBefore: "10d", GracePeriod: "1h"}
	r, clk, _ := newFakeReconciler(t, testUser(), testPasscode("30d", rot))

	res, pc := reconcileOnce(t, r)
	if res.RequeueAfter != 20*24*time.Hour {
		t.Fatalf("RequeueAfter = %v, want renewal in 20d", res.RequeueAfter)
	}
	first := pc.Status.Hash

	clk.Step(20 * 24 * time.Hour)
	res, pc = reconcileOnce(t, r)
	if pc.Status.Revision != 2 || pc.Status.Previous == nil || pc.Status.Previous.Hash != first {
		t.Fatalf("after renewal: %+v", pc.Status)
	}
	if res.RequeueAfter != time.Hour {
		t.Fatalf("RequeueAfter = %v, want the end of the 1h grace", res.RequeueAfter)
	}

	clk.Step(time.Hour)
	res, pc = reconcileOnce(t, r)
	if pc.Status.Previous != nil {
		t.Fatal("the previous passcode must be dropped when its grace ends")
	}
	if res.RequeueAfter != 20*24*time.Hour-time.Hour {
		t.Fatalf("RequeueAfter = %v, want the next renewal", res.RequeueAfter)
	}
}

func TestReconcileWaitsForAMissingUser(t *testing.T) {
	r, _, _ := newFakeReconciler(t, testPasscode("1h", nil))
	res, pc := reconcileOnce(t, r)
	ready := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady)
	if pc.Status.Phase != accessv1alpha1.PasscodePending || ready == nil || ready.Reason != accessv1alpha1.ReasonUserNotFound {
		t.Fatalf("phase %s, Ready %+v", pc.Status.Phase, ready)
	}
	if res.RequeueAfter != 0 {
		t.Fatalf("waiting for a user is event-driven (the user watch), not a poll: RequeueAfter %v", res.RequeueAfter)
	}
}

// failingReader stands for an API server that times out or conflicts.
type failingReader struct {
	client.Reader
	err error
}

func (f failingReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return f.err
}

func (f failingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return f.err
}

func TestOnlyAConfirmedNotFoundMakesANewPasscode(t *testing.T) {
	r, clk, c := newFakeReconciler(t, testUser(), testPasscode("1h", nil))
	_, pc := reconcileOnce(t, r)
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: "team", Name: "jane-api"}
	if err := c.Get(context.Background(), key, secret); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), secret); err != nil {
		t.Fatal(err)
	}

	for i, failure := range []error{
		apierrors.NewTimeoutError("the server was too slow", 1),
		apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, "jane-api", nil),
		apierrors.NewServiceUnavailable("etcd is down"),
	} {
		r.APIReader = failingReader{Reader: c, err: failure}
		res, got := reconcileOnce(t, r)
		if got.Status.Revision != pc.Status.Revision {
			t.Fatalf("%v made a new passcode", failure)
		}
		if got.Status.Failures != int32(i+1) || got.Status.NextRetryAt == nil {
			t.Fatalf("the backoff must be persisted: failures %d, nextRetryAt %v", got.Status.Failures, got.Status.NextRetryAt)
		}
		if want := retryBackoff(int32(i + 1)); res.RequeueAfter != want {
			t.Fatalf("RequeueAfter %v, want %v", res.RequeueAfter, want)
		}
		ready := apimeta.FindStatusCondition(got.Status.Conditions, accessv1alpha1.ConditionReady)
		if ready.Reason != accessv1alpha1.ReasonRetrying {
			t.Fatalf("Ready = %+v", ready)
		}
		// Inside the persisted backoff window nothing is tried, even on an unrelated event.
		res, _ = reconcileOnce(t, r)
		if res.RequeueAfter <= 0 || res.RequeueAfter > retryBackoff(int32(i+1)) {
			t.Fatalf("inside the backoff window: RequeueAfter %v", res.RequeueAfter)
		}
		clk.Step(retryBackoff(int32(i + 1)))
	}

	r.APIReader = c // the API server answers again: NotFound, confirmed
	_, got := reconcileOnce(t, r)
	if got.Status.Revision != pc.Status.Revision+1 || got.Status.Failures != 0 || got.Status.NextRetryAt != nil {
		t.Fatalf("after a confirmed NotFound: revision %d, failures %d", got.Status.Revision, got.Status.Failures)
	}
}

func TestAStaleCacheNeverRotates(t *testing.T) {
	r, _, c := newFakeReconciler(t, testUser(), testPasscode("1h", nil))
	_, pc := reconcileOnce(t, r)

	// The API server holds the right Secret; the cache lags with an old passcode.
	live := fake.NewClientBuilder().WithScheme(c.Scheme()).WithIndex(&corev1.Secret{}, "metadata.name", objectName).Build()
	secret := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, secret); err != nil {
		t.Fatal(err)
	}
	good := secret.DeepCopy()
	good.ResourceVersion = ""
	if err := live.Create(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	secret.Data[passcodesecret.KeyPasscode] = []byte(passcode.Generate())
	if err := c.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	r.APIReader = live
	_, got := reconcileOnce(t, r)
	if got.Status.Revision != pc.Status.Revision {
		t.Fatalf("a stale cache rotated the passcode: revision %d", got.Status.Revision)
	}
}

// TestABackoffNeverDelaysARevokeOrAReset: a persisted backoff from earlier failures holds back
// routine work, but revoking the user and asking for a reset act at once.
func TestABackoffNeverDelaysARevokeOrAReset(t *testing.T) {
	for _, what := range []string{"user revoked", "reset asked"} {
		r, clk, c := newFakeReconciler(t, testUser(), testPasscode("12h", nil))
		_, pc := reconcileOnce(t, r)
		pc.Status.Failures, pc.Status.NextRetryAt = 6, ptrTime(clk.Now().Add(time.Minute))
		if err := c.Status().Update(context.Background(), pc); err != nil {
			t.Fatal(err)
		}
		if res, _ := reconcileOnce(t, r); res.RequeueAfter != time.Minute {
			t.Fatalf("%s: routine work waits for the backoff, got %v", what, res.RequeueAfter)
		}
		if what == "user revoked" {
			u := &accessv1alpha1.DashboardUser{}
			_ = c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane"}, u)
			u.Spec.Access = accessv1alpha1.AccessRevoked
			if err := c.Update(context.Background(), u); err != nil {
				t.Fatal(err)
			}
		} else {
			pc = &accessv1alpha1.Passcode{}
			_ = c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, pc)
			pc.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-03-01T10:00:00Z"}
			if err := c.Update(context.Background(), pc); err != nil {
				t.Fatal(err)
			}
		}
		_, pc = reconcileOnce(t, r)
		switch {
		case what == "user revoked" && pc.Status.Phase != accessv1alpha1.PasscodeRevoked:
			t.Errorf("a revoke waited for the backoff: %s", pc.Status.Phase)
		case what == "reset asked" && pc.Status.Revision != 2:
			t.Errorf("a reset waited for the backoff: revision %d", pc.Status.Revision)
		}
		if pc.Status.Failures != 0 || pc.Status.NextRetryAt != nil {
			t.Errorf("%s: success clears the backoff", what)
		}
	}
}

// TestASecretThatLostItsLabelsIsRepaired: a Secret without the managed-by label (it left the
// label-filtered cache) but controlled by its Passcode is ours: its labels come back, its passcode
// stays.
func TestASecretThatLostItsLabelsIsRepaired(t *testing.T) {
	r, _, c := newFakeReconciler(t, testUser(), testPasscode("12h", nil))
	_, pc := reconcileOnce(t, r)
	s := &corev1.Secret{}
	key := types.NamespacedName{Namespace: "team", Name: "jane-api"}
	if err := c.Get(context.Background(), key, s); err != nil {
		t.Fatal(err)
	}
	held := string(s.Data[passcodesecret.KeyPasscode])
	s.Labels = nil
	if err := c.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	_, after := reconcileOnce(t, r)
	if err := c.Get(context.Background(), key, s); err != nil {
		t.Fatal(err)
	}
	if s.Labels[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue || s.Labels[accessv1alpha1.PasscodeLabel] != "jane-api" {
		t.Fatalf("labels not restored: %v", s.Labels)
	}
	if after.Status.Revision != pc.Status.Revision || string(s.Data[passcodesecret.KeyPasscode]) != held {
		t.Fatal("restoring labels must not rotate the passcode")
	}
	if c := apimeta.FindStatusCondition(after.Status.Conditions, accessv1alpha1.ConditionStalled); c != nil {
		t.Fatalf("the Passcode stalled: %s", c.Message)
	}
}

// TestAUserCreatedAgainInheritsNothing: the controller sees the new user (same name, new UID) before
// the garbage collector acts: the old user's passcode is revoked, the Secret keeps the old email,
// the new user is no owner, and a reset issues without grace for the old passcode.
func TestAUserCreatedAgainInheritsNothing(t *testing.T) {
	alice := testUser()
	alice.UID = "uid-alice"
	r, _, c := newFakeReconciler(t, alice, testPasscode("12h", &accessv1alpha1.RotationSpec{GracePeriod: "1h"}))
	_, pc := reconcileOnce(t, r)
	if pc.Status.UserUID != "uid-alice" {
		t.Fatalf("status.userUID = %q", pc.Status.UserUID)
	}
	if err := c.Delete(context.Background(), alice); err != nil {
		t.Fatal(err)
	}
	bob := testUser()
	bob.UID, bob.Spec.Email = "uid-bob", "bob@example.com"
	if err := c.Create(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	_, pc = reconcileOnce(t, r)
	ready := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady)
	if pc.Status.Phase != accessv1alpha1.PasscodeRevoked || ready == nil || !strings.Contains(ready.Message, "deleted and created again") {
		t.Fatalf("phase %s, Ready %+v", pc.Status.Phase, ready)
	}
	for _, ref := range pc.OwnerReferences {
		if ref.UID == bob.UID {
			t.Fatal("the new user became an owner of the old user's Passcode")
		}
	}
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, s); err != nil {
		t.Fatal(err)
	}
	if string(s.Data[passcodesecret.KeyEmail]) != "jane@example.com" || len(s.Data[passcodesecret.KeyPasscode]) != 0 {
		t.Fatalf("the Secret must keep the old email and lose the passcode: %q", s.Data[passcodesecret.KeyEmail])
	}
	pc.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-03-01T10:00:00Z"}
	if err := c.Update(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	_, pc = reconcileOnce(t, r)
	if pc.Status.Phase != accessv1alpha1.PasscodeActive || pc.Status.UserUID != bob.UID || pc.Status.Previous != nil {
		t.Fatalf("a reset issues for the new user, with no grace for the old passcode: %+v", pc.Status)
	}
}

// TestAnImmediateResetEndsTheOldPasscodeAtOnce: with a grace period, a reset keeps the old
// passcode working for it; an immediate reset (it leaked) does not.
func TestAnImmediateResetEndsTheOldPasscodeAtOnce(t *testing.T) {
	for _, immediate := range []bool{false, true} {
		r, _, c := newFakeReconciler(t, testUser(), testPasscode("12h", &accessv1alpha1.RotationSpec{GracePeriod: "1h"}))
		_, pc := reconcileOnce(t, r)
		old := pc.Status.Hash
		pc.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-03-01T10:00:00Z"}
		if immediate {
			pc.Annotations[accessv1alpha1.ResetImmediateAnnotation] = "true"
		}
		if err := c.Update(context.Background(), pc); err != nil {
			t.Fatal(err)
		}
		_, pc = reconcileOnce(t, r)
		if pc.Status.Revision != 2 {
			t.Fatalf("immediate=%v: revision %d", immediate, pc.Status.Revision)
		}
		graceKept := pc.Status.Previous != nil && pc.Status.Previous.Hash == old
		if graceKept == immediate {
			t.Errorf("immediate=%v: previous passcode kept for its grace: %v", immediate, graceKept)
		}
		ready := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady)
		if immediate && (ready == nil || ready.Reason != accessv1alpha1.ReasonReset) {
			t.Errorf("Ready %+v", ready)
		}
	}
}

// TestAShortenedTenureShortensTheCurrentPasscode: status, the Secret and the access server agree on
// issuedAt + the new tenure; no new passcode is issued.
func TestAShortenedTenureShortensTheCurrentPasscode(t *testing.T) {
	r, _, c := newFakeReconciler(t, testUser(), testPasscode("12h", nil))
	_, pc := reconcileOnce(t, r)
	pc.Spec.Tenure = "1h"
	if err := c.Update(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	res, pc := reconcileOnce(t, r)
	if pc.Status.Revision != 1 || !pc.Status.ExpiresAt.Time.Equal(t0.Add(time.Hour)) || res.RequeueAfter != time.Hour {
		t.Fatalf("revision %d expiresAt %v requeue %v", pc.Status.Revision, pc.Status.ExpiresAt, res.RequeueAfter)
	}
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, s); err != nil {
		t.Fatal(err)
	}
	if got := string(s.Data[passcodesecret.KeyExpiresAt]); got != t0.Add(time.Hour).Format(time.RFC3339) {
		t.Fatalf("the Secret's expiresAt is %s", got)
	}
	pc.Spec.Tenure = "30d"
	if err := c.Update(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	if _, pc = reconcileOnce(t, r); !pc.Status.ExpiresAt.Time.Equal(t0.Add(time.Hour)) {
		t.Fatal("a longer tenure applies from the next issue, never to the current passcode")
	}
}

// TestAPermanentRefusalStalls: a write the API server refuses as invalid is not retried forever: the
// Passcode is Stalled with the reason and the fields named (never their values), and no requeue is
// asked for.
func TestAPermanentRefusalStalls(t *testing.T) {
	r, _, c := newFakeReconciler(t, testUser(), testPasscode("12h", nil))
	r.Client = interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
			return apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "jane-api", field.ErrorList{
				field.Invalid(field.NewPath("metadata", "annotations"), "bad key", "name part must consist of alphanumeric characters")})
		},
	})
	res, pc := reconcileOnce(t, r)
	stalled := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionStalled)
	if res.RequeueAfter != 0 || stalled == nil || stalled.Reason != accessv1alpha1.ReasonRefused ||
		!strings.Contains(stalled.Message, "metadata.annotations") || strings.Contains(stalled.Message, "bad key") || pc.Status.Failures != 0 {
		t.Fatalf("requeue %v, Stalled %+v, failures %d", res.RequeueAfter, stalled, pc.Status.Failures)
	}
}

// TestASecretCreatedMeanwhileIsNeverTakenOver: someone creates a Secret of that name between the
// live read that found none and the write: the operator does not take it over (no passcode written
// into it, no owner reference), and the Passcode is Stalled with SecretConflict.
func TestASecretCreatedMeanwhileIsNeverTakenOver(t *testing.T) {
	r, _, c := newFakeReconciler(t, testUser(), testPasscode("12h", nil))
	theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api", Labels: map[string]string{"owner": "someone"}},
		Data: map[string][]byte{"token": []byte("theirs")}}
	r.Client = interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			if s, ok := obj.(*corev1ac.SecretApplyConfiguration); ok && s.ResourceVersion != nil {
				if err := c.Create(ctx, theirs.DeepCopy()); err != nil { // the race: theirs lands first
					return err
				}
				// What the API server answers a create-if-absent apply now (the envtest suite checks
				// it on the real one): the resourceVersion precondition fails.
				return apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, *s.Name, errors.New("the object has been modified"))
			}
			return c.Apply(ctx, obj, opts...)
		},
	})
	res, pc := reconcileOnce(t, r)
	stalled := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionStalled)
	if stalled == nil || stalled.Reason != accessv1alpha1.ReasonSecretConflict || res.RequeueAfter != 0 || pc.Status.Revision != 0 {
		t.Fatalf("Stalled %+v requeue %v revision %d", stalled, res.RequeueAfter, pc.Status.Revision)
	}
	got := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, got); err != nil {
		t.Fatal(err)
	}
	if _, has := got.Data[passcodesecret.KeyPasscode]; has || len(got.OwnerReferences) != 0 || got.Labels[accessv1alpha1.ManagedByLabel] != "" ||
		string(got.Data["token"]) != "theirs" {
		t.Fatalf("their Secret was taken over: labels %v owners %v keys %d", got.Labels, got.OwnerReferences, len(got.Data))
	}
}

// TestAStaleCacheNeverExpiresTwice: the cache still shows an Active passcode the API server already
// has as Expired: nothing is written again and no second Expired Event is emitted.
func TestAStaleCacheNeverExpiresTwice(t *testing.T) {
	stale, clk, c := newFakeReconciler(t, testUser(), testPasscode("1h", nil))
	_, pc := reconcileOnce(t, stale) // Active in both
	cached := pc.DeepCopy()
	clk.Step(time.Hour)
	if _, pc = reconcileOnce(t, stale); pc.Status.Phase != accessv1alpha1.PasscodeExpired {
		t.Fatalf("phase %s", pc.Status.Phase)
	}
	// A second reconciler whose cache still holds the Active copy; its live reader is the truth.
	behind, writes := staleCache(c.Scheme(), cached)
	recorder := events.NewFakeRecorder(10)
	r := &PasscodeReconciler{Client: behind, APIReader: c, Clock: clk, Recorder: recorder}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "team", Name: "jane-api"}}); err != nil {
		t.Fatal(err)
	}
	if *writes != 0 || len(recorder.Events) != 0 {
		t.Fatalf("a stale cache expired the passcode again: %d writes, %d Events", *writes, len(recorder.Events))
	}
}

// staleCache is a cache holding cached (and the test user): the writes a reconciler makes through
// it are counted and dropped.
func staleCache(scheme *runtime.Scheme, cached *accessv1alpha1.Passcode) (client.Client, *int) {
	cache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(testUser(), cached).WithIndex(&corev1.Secret{}, "metadata.name", objectName).
		WithStatusSubresource(&accessv1alpha1.Passcode{}, &accessv1alpha1.DashboardUser{}).Build()
	writes := 0
	return interceptor.NewClient(cache, interceptor.Funcs{
		Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
			writes++
			return nil
		},
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			writes++
			return nil
		},
	}), &writes
}

// objectName indexes Secrets by name in fake clients, which answer a metadata.name field selector
// (the controller's live read of one Secret) only through an index.
func objectName(o client.Object) []string { return []string{o.GetName()} }

// writeCounter counts what a reconciler asks of the API server, by call and kind.
type writeCounter struct{ calls map[string]int }

func (w *writeCounter) wrap(c client.WithWatch) client.WithWatch {
	w.calls = map[string]int{}
	kind := func(o any) string { return strings.TrimPrefix(fmt.Sprintf("%T", o), "*") }
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.calls["create "+kind(obj)]++
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.calls["update "+kind(obj)]++
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.calls["patch "+kind(obj)]++
			return c.Patch(ctx, obj, p, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			w.calls["apply "+kind(obj)]++
			return c.Apply(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			w.calls["patch "+kind(obj)+"/"+sub]++
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
}

// TestAFirstIssueIsThreeWrites: issuing a new Passcode's first passcode costs the API server three
// writes (the owner reference, the Secret made in one conditional apply, the status) and no Event:
// status tells it (docs/performance.md names every write per user).
func TestAFirstIssueIsThreeWrites(t *testing.T) {
	r, _, c := newFakeReconciler(t, testUser(), testPasscode("12h", nil))
	var w writeCounter
	counted := w.wrap(c.(client.WithWatch))
	r.Client = counted
	recorder := events.NewFakeRecorder(10)
	r.Recorder = recorder
	if _, pc := reconcileOnce(t, r); pc.Status.Revision != 1 {
		t.Fatalf("revision %d, want the first issue", pc.Status.Revision)
	}
	want := map[string]int{
		"patch v1alpha1.Passcode":           1, // the owner reference to the DashboardUser
		"apply v1.SecretApplyConfiguration": 1, // the Secret, created with the passcode in it
		"patch v1alpha1.Passcode/status":    1,
	}
	if fmt.Sprint(w.calls) != fmt.Sprint(want) {
		t.Fatalf("writes %v, want %v", w.calls, want)
	}
	if len(recorder.Events) != 0 {
		t.Fatalf("a first issue emitted an Event: %q", <-recorder.Events)
	}
	if _, pc := reconcileOnce(t, r); pc.Status.Revision != 1 || len(w.calls) != 3 {
		t.Fatalf("a reconcile with nothing to do wrote: %v", w.calls)
	}
}

// TestAnExpiryFromAConfirmedCacheReadsNothingLive: when the cache shows the status this process
// last wrote, ending the passcode costs two writes (Secret, status) and no live read; when the
// cache is behind that write (the same process, its own expiry not seen yet), nothing is written
// twice.
func TestAnExpiryFromAConfirmedCacheReadsNothingLive(t *testing.T) {
	r, clk, c := newFakeReconciler(t, testUser(), testPasscode("1h", nil))
	_, pc := reconcileOnce(t, r)
	cached := pc.DeepCopy()
	liveReads := 0
	r.APIReader = interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			liveReads++
			return c.Get(ctx, key, o, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
			liveReads++
			return c.List(ctx, l, opts...)
		},
	})
	clk.Step(time.Hour)
	if _, pc = reconcileOnce(t, r); pc.Status.Phase != accessv1alpha1.PasscodeExpired || liveReads != 0 {
		t.Fatalf("phase %s after %d live reads, want Expired after none", pc.Status.Phase, liveReads)
	}

	// The same process, its cache still showing the Active copy: a live read finds the expiry.
	behind, writes := staleCache(c.Scheme(), cached)
	r.Client = behind
	recorder := events.NewFakeRecorder(10)
	r.Recorder = recorder
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "team", Name: "jane-api"}}); err != nil {
		t.Fatal(err)
	}
	if *writes != 0 || len(recorder.Events) != 0 || liveReads == 0 {
		t.Fatalf("a cache behind this process's own expiry: %d writes, %d Events, %d live reads", *writes, len(recorder.Events), liveReads)
	}
}

// TestNothingIsWrittenFromACopyKnownToBeBehind: the cache still holds the Passcode from before a
// rotation (its Secret already carries the next revision) and the live read fails: no failure is
// written on top of the newer stored status (it would stay there, seen by no later reconcile).
func TestNothingIsWrittenFromACopyKnownToBeBehind(t *testing.T) {
	r, _, c := newFakeReconciler(t, testUser(), testPasscode("1h", nil))
	_, cached := reconcileOnce(t, r)
	// The rotation, as stored: the Secret at the next revision and the status that says so.
	secret := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Annotations[passcodesecret.RevisionAnnotation] = fmt.Sprint(cached.Status.Revision + 1)
	if err := c.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	stored := cached.DeepCopy()
	stored.Status.Revision++
	if err := c.Status().Update(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	// The cache still returns the old copy.
	r.Client = interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if pc, ok := o.(*accessv1alpha1.Passcode); ok {
				cached.DeepCopyInto(pc)
				return nil
			}
			return c.Get(ctx, key, o, opts...)
		},
	})
	r.APIReader = failingReader{Reader: c, err: apierrors.NewServiceUnavailable("etcd is down")}
	key := types.NamespacedName{Namespace: "team", Name: "jane-api"}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	got := &accessv1alpha1.Passcode{}
	if err := c.Get(context.Background(), key, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Failures != 0 || got.Status.NextRetryAt != nil || got.Status.Revision != stored.Status.Revision {
		t.Fatalf("stored status after a reconcile of a stale copy: failures %d, nextRetryAt %v, revision %d",
			got.Status.Failures, got.Status.NextRetryAt, got.Status.Revision)
	}
}

// liveUser is an API reader whose DashboardUsers are read as user is (the API server ahead of the
// cache); every other read goes to Reader.
type liveUser struct {
	client.Reader
	user *accessv1alpha1.DashboardUser
}

func (l liveUser) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if u, ok := obj.(*accessv1alpha1.DashboardUser); ok && key.Name == l.user.Name {
		l.user.DeepCopyInto(u)
		return nil
	}
	return l.Reader.Get(ctx, key, obj, opts...)
}

// A user deleted with --cascade=orphan: the garbage collector takes the owner reference off its
// Passcodes before the cache shows the user's deletion. Putting it back then would let the
// collector delete the Passcode once the user is gone (seen in CI: the orphaned Passcode deleted).
// A Passcode issued for the user and no longer owned by it gets its reference back only from a
// user read live and not being deleted.
func TestOrphanedPasscodeIsNotOwnedAgainByAUserBeingDeleted(t *testing.T) {
	user := testUser()
	user.UID = "uid-jane"
	r, _, c := newFakeReconciler(t, user, testPasscode("12h", nil))
	_, pc := reconcileOnce(t, r)
	if len(pc.OwnerReferences) != 1 || pc.Status.UserUID != user.UID {
		t.Fatalf("after the first issue: owners %v, userUID %q", pc.OwnerReferences, pc.Status.UserUID)
	}
	orphan := func() {
		pc.OwnerReferences = nil
		if err := c.Update(context.Background(), pc); err != nil {
			t.Fatal(err)
		}
	}
	orphan()
	deleting := user.DeepCopy()
	deleting.DeletionTimestamp, deleting.Finalizers = &metav1.Time{Time: t0}, []string{metav1.FinalizerOrphanDependents}
	r.APIReader = liveUser{Reader: c, user: deleting}
	if _, pc = reconcileOnce(t, r); len(pc.OwnerReferences) != 0 {
		t.Fatalf("the Passcode was made the deleting user's again: %v", pc.OwnerReferences)
	}
	// Removed by someone else while the user stays: put back, as before.
	r.APIReader = liveUser{Reader: c, user: user}
	if _, pc = reconcileOnce(t, r); len(pc.OwnerReferences) != 1 || pc.OwnerReferences[0].UID != user.UID {
		t.Fatalf("the owner reference was not restored for a user that stays: %v", pc.OwnerReferences)
	}
}
