package controllers

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/consumers"
	"github.com/dashboardops/access-operator/internal/metrics"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=patch

// markRestartDue records, in the status written with a new revision, that its workloads are to be
// restarted. Only a revision that replaces another calls for it (a rotation, a reset, a repair):
// the first passcode's consumers start with it. A restart still due for an older revision is
// superseded: the new one restarts them anyway.
func markRestartDue(pc *accessv1alpha1.Passcode) {
	if pc.Status.Revision > 1 && len(pc.Spec.RolloutRestartTargets) > 0 {
		pc.Status.RolloutRestart = &accessv1alpha1.RolloutRestartStatus{Revision: pc.Status.Revision}
	}
}

// restartTargets restarts spec.rolloutRestartTargets for the current revision, once: it runs after
// the Secret holds that revision, and status.rolloutRestart.restartedAt says it is done, so neither
// a re-reconcile nor another Passcode restarting the same workload since makes it happen again. A
// crash before that status write repeats the call, which changes nothing the second time (the
// annotation's value is derived from the revision: see consumers.Value).
func (r *PasscodeReconciler) restartTargets(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time) error {
	st := pc.Status.RolloutRestart
	if st == nil || st.RestartedAt != nil || st.Revision != pc.Status.Revision ||
		pc.Status.Phase != accessv1alpha1.PasscodeActive || pc.Status.IssuedAt == nil {
		return nil
	}
	out, err := consumers.Restart(ctx, r.Client, pc.Namespace, pc.Spec.RolloutRestartTargets,
		consumers.Value(pc.Status.IssuedAt.Time, pc.Status.Revision))
	if err != nil {
		return err
	}
	st.RestartedAt, st.Missing = ptrTime(now.Truncate(time.Second)), out.Missing
	if len(out.Restarted) > 0 {
		metrics.RolloutRestarts.WithLabelValues(pc.Namespace).Add(float64(len(out.Restarted)))
		r.event(pc, corev1.EventTypeNormal, accessv1alpha1.ReasonRolloutRestarted, "Restarted %s for revision %d",
			strings.Join(out.Restarted, ", "), st.Revision)
	}
	if len(out.Missing) > 0 {
		r.event(pc, corev1.EventTypeWarning, accessv1alpha1.ReasonRestartTargetNotFound, "%s not found in namespace %s: nothing restarted there for revision %d",
			strings.Join(out.Missing, ", "), pc.Namespace, st.Revision)
	}
	return nil
}

// missingTargets is the end of the Ready message while restart targets of the current revision
// were not found.
func missingTargets(pc *accessv1alpha1.Passcode) string {
	st := pc.Status.RolloutRestart
	if st == nil || st.Revision != pc.Status.Revision || len(st.Missing) == 0 {
		return ""
	}
	return "; restart targets not found: " + strings.Join(st.Missing, ", ")
}
