package accessserver

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// lookup finds the Passcode that hash may open in account (exactly one, or none) and the user it
// names, without copying either: both are the cache's own objects, only read. Every answer comes
// from the server's own index (index.go), whatever the cache:
//   - a cache that hands out informers (the manager's, over all namespaces or, with
//     --watch-namespaces, one per namespace behind a wrapper): the index is kept by event handlers
//     on its Passcode, DashboardUser and DashboardRole informers, and read alone once it has been
//     told of everything they held; the cache's List and Get would cost several times the lookup
//     itself (a GVK by reflection, a field selector and a result list per call, and with
//     --watch-namespaces a REST mapping of the kind on each call);
//   - a Reader with no informers (a plain client in unit tests), and a cache whose informers have
//     not synced yet: an index of the account's Passcodes filled from List and Get for the request.
//
// So the rule (exactly one Passcode of the account holding the hash, its user by name in the same
// namespace) is index.lookup's in every mode, and nothing depends on how controller-runtime names
// its own indexes.
func (s *Server) lookup(ctx context.Context, account, hash string) (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	if ix := s.cacheIndex(ctx); ix != nil {
		return ix.lookup(account, hash)
	}
	return s.listed(ctx, account, hash)
}

// listed is lookup through an index of the account's Passcodes filled from List and Get.
func (s *Server) listed(ctx context.Context, account, hash string) (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	ix := newIndex()
	list := &accessv1alpha1.PasscodeList{}
	if err := s.cfg.Reader.List(ctx, list, client.InNamespace(account), client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, false
	}
	for i := range list.Items {
		ix.setPasscode(&list.Items[i])
	}
	pc, ok := ix.only(account, hash)
	if !ok {
		return nil, nil, false
	}
	user := &accessv1alpha1.DashboardUser{}
	if err := s.cfg.Reader.Get(ctx, types.NamespacedName{Namespace: pc.Namespace, Name: pc.Spec.UserRef.Name}, user,
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, false
	}
	ix.setUser(user)
	return ix.lookup(account, hash)
}

// dashboardRole reads a DashboardRole the way lookup reads Passcodes: from the index, or with Get
// while there is none. The object is the cache's own, only read.
func (s *Server) dashboardRole(ctx context.Context, namespace, name string) *accessv1alpha1.DashboardRole {
	if ix := s.cacheIndex(ctx); ix != nil {
		return ix.role(namespace, name)
	}
	dr := &accessv1alpha1.DashboardRole{}
	if err := s.cfg.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, dr, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return dr
}

// resolvedIndex is what the server found behind its Reader: its index, or nil for a Reader that
// hands out no informers (asked with List and Get for good).
type resolvedIndex struct{ ix *index }

// informerGetter is the part of the manager's cache (cache.Informers) that hands out informers.
type informerGetter interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// cacheIndex is the server's index once it holds everything the informers held, or nil. The first
// call after the three informers have synced registers the index's handlers (serialized, so once);
// until the index is told of every object, and before the informers sync, callers read with List
// and Get, which wait for the sync as they always did.
func (s *Server) cacheIndex(ctx context.Context) *index {
	if r := s.index.Load(); r != nil {
		if r.ix != nil && !r.ix.ready() {
			return nil
		}
		return r.ix
	}
	s.resolving.Lock()
	defer s.resolving.Unlock()
	if s.index.Load() == nil {
		ix, final := resolveIndex(ctx, s.cfg.Reader)
		if !final {
			return nil
		}
		s.index.Store(&resolvedIndex{ix: ix})
	}
	r := s.index.Load()
	if r.ix != nil && !r.ix.ready() {
		return nil
	}
	return r.ix
}

// resolveIndex registers an index on r's informers once they have synced; final is false while
// they have not (or could not be had), and nil with final true means r hands out no informers.
func resolveIndex(ctx context.Context, r client.Reader) (ix *index, final bool) {
	informers, ok := r.(informerGetter)
	if !ok {
		return nil, true
	}
	kinds := []client.Object{&accessv1alpha1.Passcode{}, &accessv1alpha1.DashboardUser{}, &accessv1alpha1.DashboardRole{}}
	synced := make([]cache.Informer, 0, len(kinds))
	for _, obj := range kinds {
		inf, err := informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil || !inf.HasSynced() {
			return nil, false
		}
		synced = append(synced, inf)
	}
	ix, err := registerIndex(synced[0], synced[1], synced[2])
	if err != nil {
		return nil, false
	}
	return ix, true
}
