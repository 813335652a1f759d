package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// setCondition sets one condition, stamping LastTransitionTime from the injected clock (never the
// wall clock) and only when the status changes.
func setCondition(conds *[]metav1.Condition, typ string, status metav1.ConditionStatus, reason, message string, generation int64, now time.Time) { //nolint:unparam,lll // one reason so far
	apimeta.SetStatusCondition(conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// patchStatus writes obj's status as a merge patch against before, and only when it changed:
// writing an unchanged status would wake every watcher for nothing (status churn makes hot loops).
// The patch carries no resourceVersion, so a concurrent status writer (the access server's last-use
// stamps) is not overwritten field by field and no conflict retry is needed.
func patchStatus[T client.Object](ctx context.Context, c client.Client, before, obj T, statusOf func(T) any) error {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return nil
	}
	return c.Status().Patch(ctx, obj, client.MergeFrom(before))
}
