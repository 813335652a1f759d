package setup

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/controllers"
)

// indexScope is how the callers of a field index list by it: always within one namespace
// (client.InNamespace) or always across all of them. No index of the operator is asked both ways.
type indexScope int

const (
	inNamespace indexScope = iota
	acrossNamespaces
)

// The names controller-runtime's cache reader looks a field index up by (its internal package's
// FieldIndexName and KeyToNamespacedKey): a List with client.MatchingFields{field: v} reads index
// fieldIndexPrefix+field at "<namespace>/v", or at allNamespacesKey+"/v" when it names no namespace.
// TestFieldIndexesKeepOneKeyPerValue lists through the real cache by every index, so a change of
// these names fails there, not silently in production.
const (
	fieldIndexPrefix = "field:"
	allNamespacesKey = "__all_namespaces"
)

// fieldIndexKeys are the index keys of a namespaced object's values for an index asked in scope.
// controller-runtime's IndexField stores both forms of every value (two keys, each with a set of
// its own: about half of what the indexes cost per user); each index here is asked one way only.
func fieldIndexKeys(scope indexScope, namespace string, values []string) []string {
	prefix := namespace
	if scope == acrossNamespaces || namespace == "" {
		prefix = allNamespacesKey
	}
	keys := make([]string, len(values))
	for i, v := range values {
		keys[i] = prefix + "/" + v
	}
	return keys
}

// Indexes registers the cache indexes the controllers list by (indexField): a user's Passcodes and
// a role's users are listed in their namespace, the Passcodes that want copies in a namespace
// across all of them.
func Indexes(c cache.Cache) error {
	ctx := context.Background()
	if err := indexField(ctx, c, &accessv1alpha1.Passcode{},
		controllers.UserRefIndex, inNamespace, controllers.UserRefIndexFunc); err != nil {
		return err
	}
	if err := indexField(ctx, c, &accessv1alpha1.Passcode{},
		controllers.SecretCopiesIndex, acrossNamespaces, controllers.SecretCopiesIndexFunc); err != nil {
		return err
	}
	return indexField(ctx, c, &accessv1alpha1.DashboardUser{},
		controllers.RoleIndex, inNamespace, controllers.RoleIndexFunc)
}

// indexField is controller-runtime's FieldIndexer.IndexField with one key per value (fieldIndexKeys):
// a List by field in the other scope than the one given finds nothing, so each index's scope must
// be the one all its callers use (see Indexes).
func indexField(ctx context.Context, c cache.Cache, obj client.Object, field string, scope indexScope, extract client.IndexerFunc) error {
	informer, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("the informer of index %s: %w", field, err)
	}
	return informer.AddIndexers(toolscache.Indexers{fieldIndexPrefix + field: func(raw any) ([]string, error) {
		o, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("index %s: %T is not an object", field, raw)
		}
		return fieldIndexKeys(scope, o.GetNamespace(), extract(o)), nil
	}})
}
