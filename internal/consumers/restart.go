// Package consumers restarts the workloads that hold a passcode when a new one is written, the way
// `kubectl rollout restart` does: a new value of one pod template annotation, so the workload's own
// controller rolls its pods, which read the Secret again as they start.
package consumers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// Outcome is what Restart did.
type Outcome struct {
	// Restarted are the targets whose pod template holds the value now ("Deployment/api").
	Restarted []string
	// Missing do not exist.
	Missing []string
}

// Value is the RestartedAtAnnotation value for a revision issued at issuedAt: that time in RFC 3339
// (UTC) with the revision number as its nanoseconds. It is derived, not the time of the call, so a
// retry after a crash sends the same value, which the API server stores as no change (the workload
// is not rolled twice); and it differs for every revision, even two issued within one second.
func Value(issuedAt time.Time, revision int64) string {
	return issuedAt.UTC().Truncate(time.Second).Add(time.Duration(revision % int64(time.Second))).Format(time.RFC3339Nano)
}

// Restart sets the RestartedAtAnnotation of each target's pod template to value (see Value). It is
// a patch: the operator needs no read access to workloads. A target that does not exist is
// reported, not an error; any other failure stops and is returned.
func Restart(ctx context.Context, cl client.Client, namespace string, targets []accessv1alpha1.RolloutRestartTarget, value string) (Outcome, error) {
	var out Outcome
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{accessv1alpha1.RestartedAtAnnotation: value}}}}})
	if err != nil {
		return out, err
	}
	for _, t := range targets {
		name := t.Kind + "/" + t.Name
		obj, err := workload(t.Kind)
		if err != nil {
			return out, err
		}
		obj.SetNamespace(namespace)
		obj.SetName(t.Name)
		switch err := cl.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); {
		case apierrors.IsNotFound(err):
			out.Missing = append(out.Missing, name)
		case err != nil:
			return out, fmt.Errorf("restarting %s: %w", name, err)
		default:
			out.Restarted = append(out.Restarted, name)
		}
	}
	return out, nil
}

func workload(kind string) (client.Object, error) {
	switch kind {
	case "Deployment":
		return &appsv1.Deployment{}, nil
	case "StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "DaemonSet":
		return &appsv1.DaemonSet{}, nil
	}
	return nil, fmt.Errorf("rolloutRestartTargets: kind %q is not Deployment, StatefulSet or DaemonSet", kind)
}
