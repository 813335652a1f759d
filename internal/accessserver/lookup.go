package accessserver

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// lookup finds the Passcode that hash may open in account (exactly one, or none) and the user it
// names, from the cache, without copying either: both are the cache's own objects, only read.
//
// The informer cache's List and Get cost several times the lookup itself per request (the GVK
// from the scheme by reflection, options and a field selector built for each call, the result set
// into a new PasscodeList by reflection, a PasscodeList and a DashboardUser allocated; with
// --watch-namespaces also a REST mapping of the kind on each call), so the cache is read more
// directly once its informers have synced:
//   - the manager's cache (all namespaces): the informers' own indexers, the same index
//     (HashIndex, registered through the manager's FieldIndexer) and the same store List and Get
//     read (DashboardRoles too, for a custom role's permissions: permissions.go);
//   - a cache whose informers hide their indexers (--watch-namespaces): a mirror kept by event
//     handlers (mirror.go);
//   - any other Reader (a fake client in tests): List and Get, as before.
func (s *Server) lookup(ctx context.Context, account, hash string) (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	ix := s.indexes(ctx)
	switch {
	case ix.passcodes != nil:
		return ix.lookup(account, hash)
	case ix.mirror != nil && ix.mirror.ready():
		return ix.mirror.lookup(account, hash)
	}
	return s.list(ctx, account, hash)
}

// list is lookup with the Reader's List and Get.
func (s *Server) list(ctx context.Context, account, hash string) (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	list := &accessv1alpha1.PasscodeList{}
	if err := s.cfg.Reader.List(ctx, list, client.InNamespace(account), client.MatchingFields{HashIndex: hash},
		client.UnsafeDisableDeepCopy); err != nil || len(list.Items) != 1 {
		return nil, nil, false
	}
	pc := &list.Items[0]
	user := &accessv1alpha1.DashboardUser{}
	if err := s.cfg.Reader.Get(ctx, types.NamespacedName{Namespace: pc.Namespace, Name: pc.Spec.UserRef.Name}, user,
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, false
	}
	return pc, user, true
}

// cacheIndexes are the indexers behind the informer cache's Passcodes, DashboardUsers and
// DashboardRoles, or else a mirror of them. Zero means the Reader is asked instead.
type cacheIndexes struct {
	passcodes, users, roles toolscache.Indexer
	mirror                  *mirror
}

// informerGetter is the part of the manager's cache (cache.Informers) that hands out informers.
type informerGetter interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// indexerGetter is a client-go SharedIndexInformer, which the informer cache's informers are.
type indexerGetter interface {
	GetIndexer() toolscache.Indexer
}

// fieldIndexName and namespacedIndexKey are how controller-runtime's informer cache names a field
// index in the informer's indexer and keys a value in a namespace (pkg/cache/internal:
// FieldIndexName and KeyToNamespacedKey). resolveIndexes checks that the index is there by that
// name; the envtest suite checks that lookups find what List finds.
const fieldIndexName = "field:" + HashIndex

func namespacedIndexKey(namespace, value string) string {
	if namespace == "" {
		return "__all_namespaces/" + value // never asked: an account is never empty
	}
	return namespace + "/" + value
}

// storeKey is the key of an object in an informer's store (client-go's MetaNamespaceKeyFunc, which
// the informer cache's Get uses too).
func storeKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// indexes resolves how to read the cache once the three informers have synced (before that, List and
// Get wait for the sync as they always did) and remembers the answer. Resolving is serialized, so
// that a mirror is registered once.
func (s *Server) indexes(ctx context.Context) cacheIndexes {
	if ix := s.index.Load(); ix != nil {
		return *ix
	}
	s.resolving.Lock()
	defer s.resolving.Unlock()
	if ix := s.index.Load(); ix != nil {
		return *ix
	}
	ix, final := resolveIndexes(ctx, s.cfg.Reader)
	if final {
		s.index.Store(&ix)
	}
	return ix
}

// resolveIndexes finds the indexers behind r, or mirrors them; final is false while the informers
// have not synced yet (or could not be had).
func resolveIndexes(ctx context.Context, r client.Reader) (ix cacheIndexes, final bool) {
	informers, ok := r.(informerGetter)
	if !ok {
		return cacheIndexes{}, true
	}
	synced := func(obj client.Object) cache.Informer {
		inf, err := informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil || !inf.HasSynced() {
			return nil
		}
		return inf
	}
	passcodes := synced(&accessv1alpha1.Passcode{})
	if passcodes == nil {
		return cacheIndexes{}, false
	}
	users := synced(&accessv1alpha1.DashboardUser{})
	if users == nil {
		return cacheIndexes{}, false
	}
	roles := synced(&accessv1alpha1.DashboardRole{})
	if roles == nil {
		return cacheIndexes{}, false
	}
	pg, ok1 := passcodes.(indexerGetter)
	ug, ok2 := users.(indexerGetter)
	rg, ok3 := roles.(indexerGetter)
	if ok1 && ok2 && ok3 {
		if _, ok := pg.GetIndexer().GetIndexers()[fieldIndexName]; ok {
			return cacheIndexes{passcodes: pg.GetIndexer(), users: ug.GetIndexer(), roles: rg.GetIndexer()}, true
		}
	}
	m, err := newMirror(passcodes, users, roles)
	if err != nil {
		return cacheIndexes{}, true
	}
	return cacheIndexes{mirror: m}, true
}

// lookup is what List (InNamespace(account), MatchingFields{HashIndex: hash}) and Get do in the
// informer cache, minus the copies: the index entry of the hash in the namespace, exactly one
// Passcode there, and its user by namespace/name.
func (ix cacheIndexes) lookup(account, hash string) (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	objs, err := ix.passcodes.ByIndex(fieldIndexName, namespacedIndexKey(account, hash))
	if err != nil || len(objs) != 1 {
		return nil, nil, false
	}
	pc, ok := objs[0].(*accessv1alpha1.Passcode)
	if !ok {
		return nil, nil, false
	}
	obj, exists, err := ix.users.GetByKey(storeKey(pc.Namespace, pc.Spec.UserRef.Name))
	if err != nil || !exists {
		return nil, nil, false
	}
	user, ok := obj.(*accessv1alpha1.DashboardUser)
	if !ok {
		return nil, nil, false
	}
	return pc, user, true
}
