package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// This file is the baseline: what a plain client doing the least an operator could do per user
// costs the API server, in a namespace the manager does not watch.

// rawResult is the raw phase's figures.
type rawResult struct {
	elapsed time.Duration
	writes  int // the bench's writes in that namespace, from the audit log (3 per user expected)
	// same is the plain client doing the writes the operator path costs per user (the user's two
	// creates and the manager's four writes): how long the API server itself takes for them.
	same       time.Duration
	sameWrites int
	// cpu and sameCPU are what each process used while the two loops ran.
	cpu, sameCPU cpuUse
}

const rawTenure = 30 * 24 * time.Hour

// benchTenure is the tenure of every Passcode but the expiry phase's (rawTenure, as text).
const benchTenure = "30d"

// runRaw creates, per user, a Passcode, its Secret, and one status update, with -workers clients.
func (b *bench) runRaw(ctx context.Context, rep *report) error {
	cfg := rest.CopyConfig(b.cp.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: the baseline is what the API server takes
	cl, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	say("  %d users with %d workers in namespace %s (unwatched)", b.cfg.n, b.cfg.workers, rawNamespace)
	cpuBefore, start := sampleCPU(b.dir), time.Now()
	err = parallel(ctx, b.cfg.n, b.cfg.workers, func(ctx context.Context, i int) error {
		return rawUser(ctx, cl, fmt.Sprintf("raw-%d", i+1))
	})
	if err != nil {
		return err
	}
	res := &rawResult{elapsed: time.Since(start), cpu: cpuSince(b.dir, cpuBefore, start)}
	say("  done in %s", res.elapsed.Round(time.Millisecond))
	writes, err := b.audit.between(start, time.Now(), func(c apiCall) bool { return c.isWrite() && c.namespace == rawNamespace })
	if err != nil {
		return err
	}
	res.writes = len(writes)
	rep.raw = res

	say("  the operator path's writes by a plain client: %d users in namespace %s (unwatched)", b.cfg.n, rawSameNamespace)
	cpuBefore, start = sampleCPU(b.dir), time.Now()
	err = parallel(ctx, b.cfg.n, b.cfg.workers, func(ctx context.Context, i int) error {
		return sameWritesUser(ctx, cl, fmt.Sprintf("same-%d", i+1))
	})
	if err != nil {
		return err
	}
	rep.raw.same, rep.raw.sameCPU = time.Since(start), cpuSince(b.dir, cpuBefore, start)
	say("  done in %s", rep.raw.same.Round(time.Millisecond))
	writes, err = b.audit.between(start, time.Now(), func(c apiCall) bool { return c.isWrite() && c.namespace == rawSameNamespace })
	rep.raw.sameWrites = len(writes)
	return err
}

// sameWritesUser makes, per user, the writes the operator path costs the API server: the user's
// DashboardUser and Passcode, then what the manager writes (the owner reference, the Secret in one
// apply, the Passcode's status, the user's status), without any controller logic between them.
func sameWritesUser(ctx context.Context, cl client.Client, name string) error {
	u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: rawSameNamespace, Name: name},
		Spec: accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: accessv1alpha1.RoleMember}}
	if err := cl.Create(ctx, u); err != nil {
		return fmt.Errorf("creating DashboardUser %s/%s: %w", rawSameNamespace, name, err)
	}
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: rawSameNamespace, Name: name},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: name}, Tenure: benchTenure}}
	if err := cl.Create(ctx, pc); err != nil {
		return fmt.Errorf("creating Passcode %s/%s: %w", rawSameNamespace, name, err)
	}
	owned := pc.DeepCopy()
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardUser", Name: name, UID: u.UID}}
	if err := cl.Patch(ctx, owned, client.MergeFrom(pc)); err != nil {
		return fmt.Errorf("patching Passcode %s/%s: %w", rawSameNamespace, name, err)
	}
	code := passcode.Generate()
	secret := corev1ac.Secret(name, rawSameNamespace).WithData(map[string][]byte{passcodesecret.KeyPasscode: []byte(code)})
	if err := cl.Apply(ctx, secret, client.FieldOwner("bench"), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying Secret %s/%s: %w", rawSameNamespace, name, err)
	}
	before := owned.DeepCopy()
	now := metav1.Now()
	owned.Status = accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, IssuedAt: &now, Revision: 1,
		SecretName: name, Hash: passcode.Hash(code), ObservedGeneration: owned.Generation}
	if err := cl.Status().Patch(ctx, owned, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patching the status of Passcode %s/%s: %w", rawSameNamespace, name, err)
	}
	userBefore := u.DeepCopy()
	u.Status = accessv1alpha1.DashboardUserStatus{Phase: accessv1alpha1.UserInvited, PasscodeStatus: accessv1alpha1.PasscodeSummaryActive,
		ObservedGeneration: u.Generation}
	if err := cl.Status().Patch(ctx, u, client.MergeFrom(userBefore)); err != nil {
		return fmt.Errorf("patching the status of DashboardUser %s/%s: %w", rawSameNamespace, name, err)
	}
	return nil
}

// rawUser is the minimum per user: create the Passcode, create its Secret holding a fresh passcode,
// and record it in the Passcode's status with one update.
func rawUser(ctx context.Context, cl client.Client, name string) error {
	pc := &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: rawNamespace, Name: name},
		Spec: accessv1alpha1.PasscodeSpec{
			UserRef: accessv1alpha1.UserReference{Name: name}, Tenure: benchTenure,
			Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationManual},
		},
	}
	if err := cl.Create(ctx, pc); err != nil {
		return fmt.Errorf("creating Passcode %s/%s: %w", rawNamespace, name, err)
	}
	code := passcode.Generate()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: rawNamespace, Name: name},
		Data:       map[string][]byte{passcodesecret.KeyPasscode: []byte(code)},
	}
	if err := cl.Create(ctx, s); err != nil {
		return fmt.Errorf("creating Secret %s/%s: %w", rawNamespace, name, err)
	}
	now := metav1.Now()
	expires := metav1.NewTime(now.Add(rawTenure))
	pc.Status = accessv1alpha1.PasscodeStatus{
		Phase: accessv1alpha1.PasscodeActive, IssuedAt: &now, ExpiresAt: &expires, Revision: 1,
		SecretName: name, Hash: passcode.Hash(code), ObservedGeneration: pc.Generation,
	}
	apimeta.SetStatusCondition(&pc.Status.Conditions, metav1.Condition{
		Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Issued",
		Message: "raw client baseline", ObservedGeneration: pc.Generation,
	})
	if err := cl.Status().Update(ctx, pc); err != nil {
		return fmt.Errorf("updating the status of Passcode %s/%s: %w", rawNamespace, name, err)
	}
	return nil
}
