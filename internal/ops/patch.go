package ops

import (
	"context"
	"encoding/json"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SpecPatch is a JSON merge patch that sets one spec field and nothing else, so fields owned by
// someone else (a GitOps tool) are left alone.
func SpecPatch(field string, value any) client.Patch {
	return MergePatch(map[string]any{"spec": map[string]any{field: value}})
}

// AnnotationPatch is a JSON merge patch that sets one annotation and nothing else.
func AnnotationPatch(key, value string) client.Patch {
	return MergePatch(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
}

// MergePatch is a JSON merge patch of body.
func MergePatch(body map[string]any) client.Patch {
	data, err := json.Marshal(body)
	if err != nil {
		panic(err) // maps of strings and bools always marshal
	}
	return client.RawPatch(types.MergePatchType, data)
}

// ApplyPatch sends patch to obj unless the strategy is client; the server's answer fills obj.
func ApplyPatch(ctx context.Context, c client.Client, obj client.Object, patch client.Patch, dryRun DryRun) error {
	if dryRun == DryRunClient {
		return nil
	}
	return c.Patch(ctx, obj, patch, dryRun.patchOptions()...)
}

// RequestTime is the value of a *-requested-at annotation: now, RFC 3339 with nanoseconds, so that
// two requests never carry the same value.
func RequestTime() string {
	return time.Now().UTC().Format(time.RFC3339Nano)
}
