package admission

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/setup"
)

// startOperator runs the production wiring as the shipped ServiceAccount (its RBAC and the
// admission policies apply to every write it makes), until the test ends.
func startOperator(t *testing.T) {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: managerSA,
		Groups: []string{"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:access-operator-system"}}
	opts := options.Default()
	opts.MetricsBindAddress, opts.HealthProbeBindAddress, opts.AccessBindAddress = "0", "0", "127.0.0.1:0"
	opts.InviteBatchWindow = time.Second
	opts.Dev = true
	conf, err := opts.Parse()
	if err != nil {
		t.Fatal(err)
	}
	op, err := setup.NewManager(c, conf, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- op.Start(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with %v", err)
		}
	})
	syncCtx, stop := context.WithTimeout(runCtx, time.Minute)
	defer stop()
	if !op.GetCache().WaitForCacheSync(syncCtx) {
		t.Fatal("the manager's cache did not sync: the ServiceAccount's RBAC is not enough to run it")
	}
}

func get[T client.Object](t *testing.T, obj T, ns, name string) T {
	t.Helper()
	if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// waitUntil fails the test when cond does not hold within a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := waitFor(cond, what); err != nil {
		t.Fatal(err)
	}
}

// The operator's real flows, run as its ServiceAccount with the policies enforced: issue, copy,
// reset with a rollout restart, invite (the invite key), delete (the copies go). Then a foreign
// invite key stalls the invites of its project and is left alone (issue 22 item 6).
func TestOperatorFlowsPassThePolicies(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t, "flows")
	dest := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "consumer-",
		Annotations: map[string]string{accessv1alpha1.AcceptPasscodesFromAnnotation: ns}}}
	if err := admin.Create(ctx, dest); err != nil {
		t.Fatal(err)
	}
	workloads(t, ns)
	user := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jane"},
		Spec: accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", Role: accessv1alpha1.RoleMember}}
	if err := admin.Create(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, passcode(ns, "jane-api", copyingTo(dest.Name), restarting("Deployment", "api"))); err != nil {
		t.Fatal(err)
	}
	pcOf := func() *accessv1alpha1.Passcode { return get(t, &accessv1alpha1.Passcode{}, ns, "jane-api") }
	waitUntil(t, "the passcode and its copy", func() bool {
		pc := pcOf()
		c := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies)
		return pc.Status.Phase == accessv1alpha1.PasscodeActive && c != nil && c.Status == metav1.ConditionTrue
	})
	get(t, &corev1.Secret{}, ns, "jane-api")
	get(t, &corev1.Secret{}, dest.Name, "jane-api")

	pc := pcOf()
	before := pc.DeepCopy()
	pc.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-01-02T00:00:00Z"}
	if err := admin.Patch(ctx, pc, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reset to restart the Deployment", func() bool {
		pc := pcOf()
		return pc.Status.Revision == 2 && pc.Status.RolloutRestart != nil && pc.Status.RolloutRestart.RestartedAt != nil
	})
	if d := get(t, &appsv1.Deployment{}, ns, "api"); d.Spec.Template.Annotations[accessv1alpha1.RestartedAtAnnotation] == "" {
		t.Error("the Deployment was not restarted")
	}

	waitUntil(t, "the invite", func() bool {
		u := get(t, &accessv1alpha1.DashboardUser{}, ns, "jane")
		return u.Status.Invite != nil && u.Status.Invite.SentAt != nil
	})
	key := get(t, &corev1.Secret{}, ns, accessv1alpha1.InviteKeySecretName)
	if key.Annotations[passcodesecret.InviteKeyGeneratedAnnotation] != "true" || key.Labels[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue {
		t.Errorf("the invite key must carry the operator's label and mark: %v %v", key.Labels, key.Annotations)
	}

	if err := admin.Delete(ctx, pcOf()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the Passcode and its copy to go", func() bool {
		err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "jane-api"}, &accessv1alpha1.Passcode{})
		copyErr := admin.Get(ctx, client.ObjectKey{Namespace: dest.Name, Name: "jane-api"}, &corev1.Secret{})
		return apierrors.IsNotFound(err) && apierrors.IsNotFound(copyErr)
	})

	t.Run("a foreign invite key stalls the invites and is left alone", func(t *testing.T) {
		ns := newNamespace(t, "planted")
		// Someone's Secret of that name: the operator neither uses it (its maker knows the key) nor
		// takes it over.
		planted := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: accessv1alpha1.InviteKeySecretName},
			Data: map[string][]byte{passcodesecret.KeyInviteKey: []byte("0123456789abcdef0123456789abcdef")}}
		if err := admin.Create(ctx, planted); err != nil {
			t.Fatal(err)
		}
		kim := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kim"},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "kim@example.com", Role: accessv1alpha1.RoleMember}}
		if err := admin.Create(ctx, kim); err != nil {
			t.Fatal(err)
		}
		want := (&passcodesecret.ForeignInviteKeyError{Namespace: ns}).Error()
		var stalled *metav1.Condition
		waitUntil(t, "the invite to stall", func() bool {
			u := get(t, &accessv1alpha1.DashboardUser{}, ns, "kim")
			stalled = apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionStalled)
			return stalled != nil && stalled.Status == metav1.ConditionTrue
		})
		if stalled.Reason != accessv1alpha1.ReasonInviteKeyConflict || stalled.Message != want {
			t.Errorf("Stalled %s: %s\nwant %s: %s", stalled.Reason, stalled.Message, accessv1alpha1.ReasonInviteKeyConflict, want)
		}
		if u := get(t, &accessv1alpha1.DashboardUser{}, ns, "kim"); u.Status.Invite != nil && u.Status.Invite.SentAt != nil {
			t.Error("an invite was sent with the planted key")
		}
		waitUntil(t, "a Warning Event", func() bool {
			list := &eventsv1.EventList{}
			if err := admin.List(ctx, list, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			for _, e := range list.Items {
				if e.Reason == accessv1alpha1.ReasonInviteKeyConflict && e.Type == corev1.EventTypeWarning && e.Note == want {
					return true
				}
			}
			return false
		})
		if after := get(t, &corev1.Secret{}, ns, planted.Name); after.ResourceVersion != planted.ResourceVersion {
			t.Error("the planted Secret must be left as it is")
		}

		// Once it is deleted, the operator makes its own key and the invite goes out.
		if err := admin.Delete(ctx, planted); err != nil {
			t.Fatal(err)
		}
		u := get(t, &accessv1alpha1.DashboardUser{}, ns, "kim")
		if err := admin.Patch(ctx, u, mergePatch(fmt.Sprintf(`{"metadata":{"annotations":{"test.dashboardops.io/poke":"%d"}}}`, time.Now().UnixNano()))); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the invite with the operator's key", func() bool {
			u := get(t, &accessv1alpha1.DashboardUser{}, ns, "kim")
			return u.Status.Invite != nil && u.Status.Invite.SentAt != nil
		})
		key := get(t, &corev1.Secret{}, ns, accessv1alpha1.InviteKeySecretName)
		if key.Annotations[passcodesecret.InviteKeyGeneratedAnnotation] != "true" || string(key.Data[passcodesecret.KeyInviteKey]) == string(planted.Data[passcodesecret.KeyInviteKey]) {
			t.Error("the new key must be the operator's")
		}
	})

	t.Run("an unmarked key with the operator's labels is replaced and invites go on", func(t *testing.T) {
		ns := newNamespace(t, "legacy")
		// As a release before the mark made its keys (or someone planted with the operator's labels):
		// replaced by a new marked key, so invites go on after an upgrade and a planter learns nothing.
		legacy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: accessv1alpha1.InviteKeySecretName,
			Labels: map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.InviteKeyLabel: "true"}},
			Data: map[string][]byte{passcodesecret.KeyInviteKey: []byte("0123456789abcdef0123456789abcdef")}}
		if err := admin.Create(ctx, legacy); err != nil {
			t.Fatal(err)
		}
		lee := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lee"},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "lee@example.com", Role: accessv1alpha1.RoleMember}}
		if err := admin.Create(ctx, lee); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the invite with a new key", func() bool {
			u := get(t, &accessv1alpha1.DashboardUser{}, ns, "lee")
			return u.Status.Invite != nil && u.Status.Invite.SentAt != nil
		})
		key := get(t, &corev1.Secret{}, ns, accessv1alpha1.InviteKeySecretName)
		if key.UID == legacy.UID || key.Annotations[passcodesecret.InviteKeyGeneratedAnnotation] != "true" ||
			string(key.Data[passcodesecret.KeyInviteKey]) == string(legacy.Data[passcodesecret.KeyInviteKey]) {
			t.Error("the unmarked key must be replaced by a new marked one")
		}
	})
}
