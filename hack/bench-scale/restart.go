package main

import (
	"context"
	"crypto/sha256"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// This file counts what the manager writes when nothing happens, and after a restart, when nothing
// should change either.

// quietResult is the manager's requests over an interval in which nobody asked for anything.
type quietResult struct {
	window time.Duration
	writes []callRow
	reads  []callRow
}

// restartResult is the restart phase's figures.
type restartResult struct {
	quietResult
	stop, ready    time.Duration // SIGTERM to exit; start to /readyz 200
	compared       int           // Passcodes compared before and after
	changed        int           // with another status.revision, status.hash or status.expiresAt
	secretsChanged int           // whose Secret holds another passcode
}

func (b *bench) runIdle(ctx context.Context, rep *report) error {
	if err := b.waitQuiet(ctx); err != nil {
		return err
	}
	say("  counting the manager's requests for %s", b.cfg.idle)
	start := time.Now()
	if err := sleep(ctx, b.cfg.idle); err != nil {
		return err
	}
	res, err := b.quiet(start, b.cfg.idle)
	if err != nil {
		return err
	}
	rep.idle = res
	return nil
}

func (b *bench) quiet(start time.Time, d time.Duration) (*quietResult, error) {
	calls, err := b.audit.manager(start, start.Add(d))
	if err != nil {
		return nil, err
	}
	return &quietResult{window: d, writes: tally(calls, apiCall.isWrite), reads: tally(calls, apiCall.isRead)}, nil
}

// passcodeFingerprint is what must not change across a restart; the Secret's passcode is kept
// only as its SHA-256, so the bench never holds more plaintext than it needs.
type passcodeFingerprint struct {
	revision  int64
	hash      string
	expiresAt time.Time
	secret    [sha256.Size]byte
}

func (b *bench) fingerprints(ctx context.Context, u userSet) (map[string]passcodeFingerprint, error) {
	want := map[string]bool{}
	for _, n := range u.passcodes() {
		want[n] = true
	}
	pcs := &accessv1alpha1.PasscodeList{}
	if err := b.cl.List(ctx, pcs, client.InNamespace(operatorNamespace)); err != nil {
		return nil, err
	}
	secrets := &corev1.SecretList{}
	if err := b.cl.List(ctx, secrets, client.InNamespace(operatorNamespace)); err != nil {
		return nil, err
	}
	out := map[string]passcodeFingerprint{}
	for _, pc := range pcs.Items {
		if !want[pc.Name] {
			continue
		}
		f := passcodeFingerprint{revision: pc.Status.Revision, hash: pc.Status.Hash}
		if pc.Status.ExpiresAt != nil {
			f.expiresAt = pc.Status.ExpiresAt.Time
		}
		out[pc.Name] = f
	}
	for _, s := range secrets.Items {
		if f, ok := out[s.Name]; ok {
			f.secret = sha256.Sum256(s.Data[passcodesecret.KeyPasscode])
			out[s.Name] = f
		}
	}
	return out, nil
}

func (b *bench) runRestart(ctx context.Context, rep *report) error {
	res := &restartResult{}
	before, err := b.fingerprints(ctx, b.operatorUsers())
	if err != nil {
		return err
	}
	say("  stopping the manager (SIGTERM)")
	t := time.Now()
	if err := b.mgr.Terminate(managerStopTimeout); err != nil {
		return err
	}
	res.stop = time.Since(t)
	say("  starting it again")
	start := time.Now()
	if err := b.startManager(ctx); err != nil {
		return err
	}
	res.ready = time.Since(start)
	say("  ready in %s; counting its requests for %s from its start", res.ready.Round(time.Millisecond), b.cfg.idle)
	if err := sleep(ctx, time.Until(start.Add(b.cfg.idle))); err != nil {
		return err
	}
	q, err := b.quiet(start, b.cfg.idle)
	if err != nil {
		return err
	}
	res.quietResult = *q
	after, err := b.fingerprints(ctx, b.operatorUsers())
	if err != nil {
		return err
	}
	res.compared, res.changed, res.secretsChanged = compareFingerprints(before, after)
	rep.restart = res
	return nil
}

func compareFingerprints(before, after map[string]passcodeFingerprint) (compared, changed, secretsChanged int) {
	for name, x := range before {
		y, ok := after[name]
		compared++
		if !ok || x.revision != y.revision || x.hash != y.hash || !x.expiresAt.Equal(y.expiresAt) {
			changed++
		}
		if !ok || x.secret != y.secret {
			secretsChanged++
		}
	}
	return compared, changed, secretsChanged
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
