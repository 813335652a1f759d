package accessserver

import (
	"slices"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/validity"
)

// index is the access server's own index of the cache (see lookup): Passcodes by namespace and
// hash (validity.Hashes: the current and the previous one), users by namespace and name and by
// their invite link's hash, DashboardRoles by namespace and name. It holds the cache's own objects (never copied, never modified) and follows the
// informers' store as their handlers are told of each change: an add, update or delete reaches it
// just after the store (on the informer's notification goroutine, typically within microseconds).
//
// It costs a map entry per object beside the informers' own stores; in exchange it reads the same
// with or without --watch-namespaces (whose informers do not expose their indexers) and depends on
// no internal name of controller-runtime's.
type index struct {
	mu        sync.RWMutex
	passcodes map[string]*accessv1alpha1.Passcode      // store key -> Passcode
	byHash    map[string][]*accessv1alpha1.Passcode    // namespace/hash -> its Passcodes (almost always one)
	users     map[string]*accessv1alpha1.DashboardUser // store key -> DashboardUser
	// invites: invite token hash -> its users (almost always one), keyed by the user's own string:
	// an entry costs a few dozen bytes, where a controller-runtime field index cost a key and a set
	// of its own per user (issue 25).
	invites map[string][]*accessv1alpha1.DashboardUser
	roles   map[string]*accessv1alpha1.DashboardRole // store key -> DashboardRole

	registrations []toolscache.ResourceEventHandlerRegistration
	synced        atomic.Bool
}

// newIndex is an empty index: registerIndex fills it from informers, lookup from List and Get.
func newIndex() *index {
	return &index{passcodes: map[string]*accessv1alpha1.Passcode{}, byHash: map[string][]*accessv1alpha1.Passcode{},
		users: map[string]*accessv1alpha1.DashboardUser{}, invites: map[string][]*accessv1alpha1.DashboardUser{},
		roles: map[string]*accessv1alpha1.DashboardRole{}}
}

// registerIndex registers a new index's handlers on the Passcode, DashboardUser and DashboardRole
// informers. It is ready once all three have been told of every object already in the cache.
func registerIndex(passcodes, users, roles cache.Informer) (*index, error) {
	m := newIndex()
	handlers := []struct {
		informer cache.Informer
		funcs    toolscache.ResourceEventHandlerFuncs
	}{
		{passcodes, toolscache.ResourceEventHandlerFuncs{AddFunc: m.setPasscode, UpdateFunc: func(_, obj any) { m.setPasscode(obj) },
			DeleteFunc: m.deletePasscode}},
		{users, toolscache.ResourceEventHandlerFuncs{AddFunc: m.setUserEvent, UpdateFunc: func(_, obj any) { m.setUserEvent(obj) },
			DeleteFunc: m.deleteUser}},
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

// ready reports whether the index holds everything the cache held when its handlers were registered.
func (m *index) ready() bool {
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

func (m *index) setPasscode(obj any) {
	pc, ok := obj.(*accessv1alpha1.Passcode)
	if !ok {
		return
	}
	key := storeKey(pc.Namespace, pc.Name)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unindex(key)
	m.passcodes[key] = pc
	for _, hash := range validity.Hashes(&pc.Status) {
		// A slice, not a set: a hash is almost always one Passcode's, and a set per hash cost about
		// 200 bytes more per Passcode (issue 25). The current and previous hash may be equal.
		k := indexKey(pc.Namespace, hash)
		if !slices.Contains(m.byHash[k], pc) {
			m.byHash[k] = append(m.byHash[k], pc)
		}
	}
}

func (m *index) deletePasscode(obj any) {
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
func (m *index) unindex(key string) {
	old, ok := m.passcodes[key]
	if !ok {
		return
	}
	for _, hash := range validity.Hashes(&old.Status) {
		k := indexKey(old.Namespace, hash)
		if rest := slices.DeleteFunc(m.byHash[k], func(pc *accessv1alpha1.Passcode) bool { return pc == old }); len(rest) > 0 {
			m.byHash[k] = rest
		} else {
			delete(m.byHash, k)
		}
	}
}

// keepByName returns the event handlers that keep store (store key -> object) equal to an
// informer's objects of type T, under m's lock: the DashboardRoles, which are looked up by name only.
func keepByName[T metav1.Object](m *index, store map[string]T) toolscache.ResourceEventHandlerFuncs {
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
func (m *index) role(namespace, name string) *accessv1alpha1.DashboardRole {
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

// lookup finds the one Passcode of account whose current or previous hash is hash (two Passcodes
// with one hash open neither: whose would it be?) and the user it names in its namespace.
func (m *index) lookup(account, hash string) (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	pc, ok := m.onlyLocked(account, hash)
	if !ok {
		return nil, nil, false
	}
	user, ok := m.users[storeKey(pc.Namespace, pc.Spec.UserRef.Name)]
	if !ok {
		return nil, nil, false
	}
	return pc, user, true
}

// only is the one Passcode of account holding hash, as lookup finds it.
func (m *index) only(account, hash string) (*accessv1alpha1.Passcode, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.onlyLocked(account, hash)
}

// onlyLocked is only with m.mu held.
func (m *index) onlyLocked(account, hash string) (*accessv1alpha1.Passcode, bool) {
	if set := m.byHash[indexKey(account, hash)]; len(set) == 1 {
		return set[0], true
	}
	return nil, false
}

// setUser adds or replaces a user, and its invite link's hash.
func (m *index) setUser(u *accessv1alpha1.DashboardUser) {
	key := storeKey(u.Namespace, u.Name)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uninvite(key)
	m.users[key] = u
	if h := inviteHash(u); h != "" {
		m.invites[h] = append(m.invites[h], u)
	}
}

func (m *index) setUserEvent(obj any) {
	if u, ok := obj.(*accessv1alpha1.DashboardUser); ok {
		m.setUser(u)
	}
}

func (m *index) deleteUser(obj any) {
	key, ok := deletedKey(obj)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uninvite(key)
	delete(m.users, key)
}

// uninvite removes the invite hash of the user held under key; m.mu is held.
func (m *index) uninvite(key string) {
	old, ok := m.users[key]
	if !ok {
		return
	}
	h := inviteHash(old)
	if h == "" {
		return
	}
	if rest := slices.DeleteFunc(m.invites[h], func(u *accessv1alpha1.DashboardUser) bool { return u == old }); len(rest) > 0 {
		m.invites[h] = rest
	} else {
		delete(m.invites, h)
	}
}

// invited is the one user whose current invite link has hash hash (two users with one hash open
// neither, as with passcodes).
func (m *index) invited(hash string) (*accessv1alpha1.DashboardUser, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if us := m.invites[hash]; len(us) == 1 {
		return us[0], true
	}
	return nil, false
}

// inviteHash is the hash of u's current invite link, or "".
func inviteHash(u *accessv1alpha1.DashboardUser) string {
	if u.Status.Invite == nil {
		return ""
	}
	return u.Status.Invite.TokenHash
}

// indexKey keys a hash in a namespace. A namespace holds no '/'; an account asked for might, but a
// Passcode found is checked against the account again (validGrant), so a key read two ways cannot
// open another namespace's passcode.
func indexKey(namespace, hash string) string {
	return namespace + "/" + hash
}

// storeKey is the key of an object in an informer's store (client-go's MetaNamespaceKeyFunc).
func storeKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
