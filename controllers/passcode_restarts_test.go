package controllers

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// A workload is restarted only once the Secret holds the revision it is restarted for: pods that
// start then read the new passcode.
func TestRestartComesAfterTheSecretWrite(t *testing.T) {
	pc := testPasscode("30h", nil)
	pc.Spec.RolloutRestartTargets = []accessv1alpha1.RolloutRestartTarget{{Kind: "Deployment", Name: "etl"}}
	base := faultyClient(t, &faultPlan{}, testUser(), pc, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "etl"}})
	var restarted []int64 // the Secret's revision at each restart
	c := interceptor.NewClient(base, interceptor.Funcs{
		Patch: func(ctx context.Context, cl client.WithWatch, o client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := o.(*appsv1.Deployment); ok {
				s := &corev1.Secret{}
				if err := cl.Get(ctx, types.NamespacedName{Namespace: "team", Name: "jane-api"}, s); err != nil {
					t.Fatal(err)
				}
				restarted = append(restarted, passcodesecret.Revision(s))
			}
			return cl.Patch(ctx, o, patch, opts...)
		},
	})
	r := &PasscodeReconciler{Client: c, APIReader: c, Clock: clocktesting.NewFakeClock(t0), Recorder: events.NewFakeRecorder(100)}
	restarts := &PasscodeRestartReconciler{Client: c, Clock: r.Clock, Recorder: r.Recorder}
	reconcileBoth := func() *accessv1alpha1.Passcode {
		_, pc := reconcileOnce(t, r)
		if _, err := restarts.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pc)}); err != nil {
			t.Fatal(err)
		}
		return pc
	}
	reconcileBoth()
	if len(restarted) != 0 {
		t.Fatalf("the first passcode restarted its consumers: %v", restarted)
	}
	got := &accessv1alpha1.Passcode{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(pc), got); err != nil {
		t.Fatal(err)
	}
	got.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-03-01T10:30:00Z"}
	if err := c.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	after := reconcileBoth()
	reconcileBoth()
	if len(restarted) != 1 || restarted[0] != 2 || after.Status.Revision != 2 {
		t.Fatalf("restarts saw the Secret at revisions %v (want [2]); status revision %d", restarted, after.Status.Revision)
	}
}

// TestARestartWhoseRecordConflictsIsNotRepeated: another status write between the restart and its
// record makes the record conflict; the retry records the same outcome without restarting the
// workloads (or telling of it) a second time.
func TestARestartWhoseRecordConflictsIsNotRepeated(t *testing.T) {
	pc := testPasscode("30h", nil)
	pc.Spec.RolloutRestartTargets = []accessv1alpha1.RolloutRestartTarget{{Kind: "Deployment", Name: "etl"}}
	base := faultyClient(t, &faultPlan{}, testUser(), pc, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "etl"}})
	r := &PasscodeReconciler{Client: base, APIReader: base, Clock: clocktesting.NewFakeClock(t0), Recorder: events.NewFakeRecorder(100)}
	reconcileOnce(t, r)
	got := &accessv1alpha1.Passcode{}
	if err := base.Get(context.Background(), client.ObjectKeyFromObject(pc), got); err != nil {
		t.Fatal(err)
	}
	got.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-03-01T10:30:00Z"}
	if err := base.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	reconcileOnce(t, r) // revision 2: a restart is due

	restarts, conflicts := 0, 1
	c := interceptor.NewClient(base, interceptor.Funcs{
		Patch: func(ctx context.Context, cl client.WithWatch, o client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := o.(*appsv1.Deployment); ok {
				restarts++
			}
			return cl.Patch(ctx, o, patch, opts...)
		},
		SubResourceApply: func(ctx context.Context, cl client.Client, sub string, o runtime.ApplyConfiguration,
			opts ...client.SubResourceApplyOption) error {
			if conflicts > 0 {
				conflicts--
				return apierrors.NewConflict(accessv1alpha1.GroupVersion.WithResource("passcodes").GroupResource(), "jane-api",
					errors.New("the object has been modified"))
			}
			return cl.SubResource(sub).Apply(ctx, o, opts...)
		},
	})
	recorder := events.NewFakeRecorder(100)
	restarter := &PasscodeRestartReconciler{Client: c, Clock: r.Clock, Recorder: recorder}
	key := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pc)}
	for range 2 {
		if _, err := restarter.Reconcile(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	if err := base.Get(context.Background(), client.ObjectKeyFromObject(pc), got); err != nil {
		t.Fatal(err)
	}
	if restarts != 1 || len(recorder.Events) != 1 || got.Status.RolloutRestart == nil || got.Status.RolloutRestart.RestartedAt == nil {
		t.Fatalf("%d restarts, %d Events (want 1 each); status.rolloutRestart %+v", restarts, len(recorder.Events), got.Status.RolloutRestart)
	}
}
