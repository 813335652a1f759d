package accessserver

import (
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// mirror indexes the cache's Passcodes by namespace and hash (HashIndex), and its users and
// DashboardRoles by namespace and name, kept up to date by event handlers on the cache's
// informers. It is for a cache
// whose informers do not expose their indexers: with --watch-namespaces the manager's cache keeps
// one informer per namespace behind a wrapper, and its List and Get map the kind to its REST
// mapping on every call, which costs more than the rest of a request.
//
// It holds the cache's own objects (never copied, never modified) and follows the informers' store
// as their handlers are told of each change: an add, update or delete reaches it just after the
// store (on the informer's notification goroutine, typically within microseconds).
type mirror struct {
	mu        sync.RWMutex
	passcodes map[string]*accessv1alpha1.Passcode            // store key -> Passcode
	byHash    map[string]map[string]*accessv1alpha1.Passcode // namespace/hash -> store key -> Passcode
	users     map[string]*accessv1alpha1.DashboardUser       // store key -> DashboardUser
	roles     map[string]*accessv1alpha1.DashboardRole       // store key -> DashboardRole

	registrations []toolscache.ResourceEventHandlerRegistration
	synced        atomic.Bool
}

// newMirror registers the mirror's handlers on the Passcode, DashboardUser and DashboardRole
// informers. It is ready once all three have been told of every object already in the cache.
func newMirror(passcodes, users, roles cache.Informer) (*mirror, error) {
	m := &mirror{passcodes: map[string]*accessv1alpha1.Passcode{}, byHash: map[string]map[string]*accessv1alpha1.Passcode{},
		users: map[string]*accessv1alpha1.DashboardUser{}, roles: map[string]*accessv1alpha1.DashboardRole{}}
	handlers := []struct {
		informer cache.Informer
		funcs    toolscache.ResourceEventHandlerFuncs
	}{
		{passcodes, toolscache.ResourceEventHandlerFuncs{AddFunc: m.setPasscode, UpdateFunc: func(_, obj any) { m.setPasscode(obj) },
			DeleteFunc: m.deletePasscode}},
		{users, keepByName(m, m.users)},
		{roles, keepByName(m, m.roles)},
	}
	for _, h := range handlers {
		r, err := h.informer.AddEventHandler(h.funcs)
		if err != nil {
			for j, done := range m.registrations { // leave no handler behind
				_ = handlers[j].informer.RemoveEventHandler(done)
			}
			return nil, err
		}
		m.registrations = append(m.registrations, r)
	}
	return m, nil
}

// ready reports whether the mirror holds everything the cache held when it was made.
func (m *mirror) ready() bool {
	if m.synced.Load() {
		return true
	}
	for _, r := range m.registrations {
		if !r.HasSynced() {
			return false
		}
	}
	m.synced.Store(true)
	return true
}

func (m *mirror) setPasscode(obj any) {
	pc, ok := obj.(*accessv1alpha1.Passcode)
	if !ok {
		return
	}
	key := storeKey(pc.Namespace, pc.Name)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unindex(key)
	m.passcodes[key] = pc
	for _, hash := range HashIndexFunc(pc) {
		k := namespacedIndexKey(pc.Namespace, hash)
		set := m.byHash[k]
		if set == nil {
			set = map[string]*accessv1alpha1.Passcode{}
			m.byHash[k] = set
		}
		set[key] = pc
	}
}

func (m *mirror) deletePasscode(obj any) {
	key, ok := deletedKey(obj)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unindex(key)
	delete(m.passcodes, key)
}

// unindex removes the hashes of the Passcode held under key; m.mu is held.
func (m *mirror) unindex(key string) {
	old, ok := m.passcodes[key]
	if !ok {
		return
	}
	for _, hash := range HashIndexFunc(old) {
		k := namespacedIndexKey(old.Namespace, hash)
		if set := m.byHash[k]; set != nil {
			delete(set, key)
			if len(set) == 0 {
				delete(m.byHash, k)
			}
		}
	}
}

// keepByName returns the event handlers that keep store (store key -> object) equal to an
// informer's objects of type T, under m's lock: the users and the DashboardRoles, which are looked
// up by name only.
func keepByName[T metav1.Object](m *mirror, store map[string]T) toolscache.ResourceEventHandlerFuncs {
	set := func(obj any) {
		o, ok := obj.(T)
		if !ok {
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		store[storeKey(o.GetNamespace(), o.GetName())] = o
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			key, ok := deletedKey(obj)
			if !ok {
				return
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			delete(store, key)
		},
	}
}

// role is the DashboardRole namespace/name, or nil.
func (m *mirror) role(namespace, name string) *accessv1alpha1.DashboardRole {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.roles[storeKey(namespace, name)]
}

// deletedKey is the store key of a deleted object, which may come as a tombstone (the informer
// missed the delete and found the object gone when it listed again).
func deletedKey(obj any) (string, bool) {
	key, err := toolscache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	return key, err == nil
}

// lookup is cacheIndexes.lookup on the mirror.
func (m *mirror) lookup(account, hash string) (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	set := m.byHash[namespacedIndexKey(account, hash)]
	if len(set) != 1 {
		return nil, nil, false
	}
	var pc *accessv1alpha1.Passcode
	for _, p := range set {
		pc = p
	}
	user, ok := m.users[storeKey(pc.Namespace, pc.Spec.UserRef.Name)]
	if !ok {
		return nil, nil, false
	}
	return pc, user, true
}
