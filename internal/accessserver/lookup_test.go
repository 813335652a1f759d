package accessserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// gated is an informer of the manager's cache whose sync the test decides: a real informer
// (runInformer) that says it has not synced until open.
type gated struct {
	cache.Informer
	open bool
}

func (g *gated) HasSynced() bool { return g.open && g.Informer.HasSynced() }

// informerCache stands for the manager's cache: a Reader that hands out informers.
type informerCache struct {
	client.Reader
	passcodes, users, roles cache.Informer
	asked                   int
}

func (c *informerCache) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	c.asked++
	switch obj.(type) {
	case *accessv1alpha1.Passcode:
		return c.passcodes, nil
	case *accessv1alpha1.DashboardRole:
		return c.roles, nil
	}
	return c.users, nil
}

// scan is the rule lookup keeps, written out plainly as the oracle: the Passcodes of account whose
// current or previous hash is hash, exactly one, and the user it names in its namespace.
func scan(pcs []*accessv1alpha1.Passcode, users []*accessv1alpha1.DashboardUser, account, hash string) (
	*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	var found []*accessv1alpha1.Passcode
	for _, pc := range pcs {
		if pc.Namespace == account && (pc.Status.Hash == hash || (pc.Status.Previous != nil && pc.Status.Previous.Hash == hash)) {
			found = append(found, pc)
		}
	}
	if len(found) != 1 {
		return nil, nil, false
	}
	for _, u := range users {
		if u.Namespace == found[0].Namespace && u.Name == found[0].Spec.UserRef.Name {
			return found[0], u, true
		}
	}
	return nil, nil, false
}

// storeScan is scan over what the informers' stores hold now.
func storeScan(pcs, users toolscache.SharedIndexInformer, account, hash string) (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser, bool) {
	stored := pcs.GetStore().List()
	ps := make([]*accessv1alpha1.Passcode, 0, len(stored))
	for _, o := range stored {
		ps = append(ps, o.(*accessv1alpha1.Passcode))
	}
	stored = users.GetStore().List()
	us := make([]*accessv1alpha1.DashboardUser, 0, len(stored))
	for _, o := range stored {
		us = append(us, o.(*accessv1alpha1.DashboardUser))
	}
	return scan(ps, us, account, hash)
}

// hidden is a client-go informer seen only through controller-runtime's Informer interface, as
// the multi-namespace cache's informers are: its indexer out of reach.
type hidden struct{ cache.Informer }

// runInformer runs a real SharedIndexInformer of obj's kind over a fake API source.
func runInformer(t *testing.T, obj runtime.Object) (*fcache.FakeControllerSource, toolscache.SharedIndexInformer) {
	t.Helper()
	src := fcache.NewFakeControllerSource()
	inf := toolscache.NewSharedIndexInformer(src, obj, 0, toolscache.Indexers{})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); src.Shutdown() })
	go inf.Run(stop)
	if !toolscache.WaitForCacheSync(stop, inf.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	return src, inf
}

// The server resolves its index once the three informers have synced, registers it once, and reads
// with List and Get before that and for a Reader that hands out no informers.
func TestResolveIndex(t *testing.T) {
	ctx := context.Background()
	_, pcs := runInformer(t, &accessv1alpha1.Passcode{})
	_, users := runInformer(t, &accessv1alpha1.DashboardUser{})
	_, roles := runInformer(t, &accessv1alpha1.DashboardRole{})
	for _, c := range []struct {
		name       string
		reader     client.Reader
		index      bool
		final      bool
		registered int
	}{
		{"a plain client", fake.NewClientBuilder().Build(), false, true, 0},
		{"passcodes not synced yet", &informerCache{passcodes: &gated{Informer: pcs}, users: hidden{users}, roles: hidden{roles}}, false, false, 0},
		{"users not synced yet", &informerCache{passcodes: hidden{pcs}, users: &gated{Informer: users}, roles: hidden{roles}}, false, false, 0},
		{"roles not synced yet", &informerCache{passcodes: hidden{pcs}, users: hidden{users}, roles: &gated{Informer: roles}}, false, false, 0},
		{"the manager's cache", &informerCache{passcodes: pcs, users: users, roles: roles}, true, true, 3},
		{"informers that hide their indexers (--watch-namespaces)", &informerCache{passcodes: hidden{pcs}, users: hidden{users}, roles: hidden{roles}}, true, true, 3},
	} {
		ix, final := resolveIndex(ctx, c.reader)
		if (ix != nil) != c.index || final != c.final {
			t.Errorf("%s: index %v, final %v", c.name, ix != nil, final)
		}
		if ix != nil && len(ix.registrations) != c.registered {
			t.Errorf("%s: %d handlers registered, want %d", c.name, len(ix.registrations), c.registered)
		}
	}

	// The server asks again until the informers have synced, then never again.
	gate := &gated{Informer: pcs}
	ic := &informerCache{Reader: fake.NewClientBuilder().Build(), passcodes: gate, users: users, roles: roles}
	s := New(Config{Reader: ic, Clock: clocktesting.NewFakeClock(now)})
	s.cacheIndex(ctx)
	s.cacheIndex(ctx)
	if ic.asked != 2 || s.index.Load() != nil || s.ReadsCache(ctx) != "list" {
		t.Fatalf("before the sync: asked %d times, resolved %v", ic.asked, s.index.Load())
	}
	gate.open = true
	var ix *index
	for deadline := time.Now().Add(5 * time.Second); ix == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		ix = s.cacheIndex(ctx) // ready once its handlers have been told of the (empty) stores
	}
	if ix == nil {
		t.Fatal("no index after the sync")
	}
	asked := ic.asked
	for range 3 {
		if s.cacheIndex(ctx) != ix {
			t.Fatal("another index after resolving")
		}
	}
	if ic.asked != asked {
		t.Fatalf("asked again after resolving: %d times", ic.asked-asked)
	}
}

// TestLookupAsList: the index kept by informer events and the one filled from List and Get find
// what scan finds, for every account and hash, including a hash in two namespaces, two Passcodes
// with one hash, a missing user and a user of that name in another namespace.
func TestLookupAsList(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pc, u := fixture()
	pcElsewhere, uElsewhere := fixture()
	pcElsewhere.Namespace, uElsewhere.Namespace, uElsewhere.UID = "elsewhere", "elsewhere", "uid-elsewhere"
	twin1, _ := fixture()
	twin1.Namespace, twin1.Name, twin1.Status.Hash, twin1.Status.Previous = "twins", "one", "sha256:twin", nil
	twin2 := twin1.DeepCopy()
	twin2.Name = "two"
	orphan, _ := fixture()
	orphan.Name, orphan.Spec.UserRef.Name, orphan.Status.Hash, orphan.Status.Previous = "orphan", "nobody", "sha256:orphan", nil
	strayUser := u.DeepCopy()
	strayUser.Namespace, strayUser.Name = "stray", "nobody"
	passcodes := []*accessv1alpha1.Passcode{pc, pcElsewhere, twin1, twin2, orphan}
	users := []*accessv1alpha1.DashboardUser{u, uElsewhere, strayUser}

	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pc, u, pcElsewhere, uElsewhere, twin1, twin2, orphan, strayUser).Build()
	s := New(Config{Reader: c, Clock: clocktesting.NewFakeClock(now)})
	if s.ReadsCache(context.Background()) != "list" {
		t.Fatal("a plain client is read with List and Get")
	}
	ix := newIndex()
	for _, p := range passcodes {
		ix.setPasscode(p.DeepCopy())
	}
	for _, u := range users {
		ix.setUser(u.DeepCopy())
	}

	describe := func(pc *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser, ok bool) string {
		if !ok {
			return "nothing"
		}
		return fmt.Sprintf("%s/%s %s, %s/%s %s", pc.Namespace, pc.Name, pc.Status.Hash, u.Namespace, u.Name, u.UID)
	}
	found := 0
	for _, account := range []string{"team", "elsewhere", "twins", "stray", "nowhere", "team/x"} {
		for _, hash := range []string{"sha256:cur", "sha256:prev", "sha256:twin", "sha256:orphan", "sha256:none", "x/sha256:cur"} {
			want := describe(scan(passcodes, users, account, hash))
			if got := describe(ix.lookup(account, hash)); got != want {
				t.Errorf("%s %s: the index found %s, scan %s", account, hash, got, want)
			}
			if got := describe(s.lookup(context.Background(), account, hash)); got != want {
				t.Errorf("%s %s: List and Get found %s, scan %s", account, hash, got, want)
			}
			if want != "nothing" {
				found++
			}
		}
	}
	if found != 4 { // team cur/prev, elsewhere cur/prev
		t.Errorf("found %d, want 4", found)
	}
}

// TestIndexFollowsTheStore: through adds, updates (a rotation, a new user UID), deletes and a
// delete the informer only learns of by listing again (a tombstone), the index finds what a scan
// of the informers' stores finds.
func TestIndexFollowsTheStore(t *testing.T) {
	pcSrc, pcs := runInformer(t, &accessv1alpha1.Passcode{})
	userSrc, users := runInformer(t, &accessv1alpha1.DashboardUser{})
	roleSrc, roles := runInformer(t, &accessv1alpha1.DashboardRole{})

	// The source writes each object it is given (its resourceVersion) and the informer keeps it:
	// every object is given as a copy.
	pc, u := fixture()
	pcSrc.Add(pc.DeepCopy()) // in the cache before the index is made
	userSrc.Add(u.DeepCopy())
	roleSrc.Add(&accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "analyst"}})
	m, err := registerIndex(hidden{pcs}, hidden{users}, hidden{roles})
	if err != nil {
		t.Fatal(err)
	}
	describe := func(pc *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser, ok bool) string {
		if !ok {
			return "nothing"
		}
		return fmt.Sprintf("%s/%s %s, %s/%s %s", pc.Namespace, pc.Name, pc.ResourceVersion, u.Namespace, u.Name, u.UID)
	}
	describe1 := func(dr *accessv1alpha1.DashboardRole) string {
		return fmt.Sprintf("%s/%s%v", dr.Namespace, dr.Name, dr.Spec.Permissions)
	}
	describeRole := func(namespace, name string) string {
		if dr := m.role(namespace, name); dr != nil {
			return describe1(dr)
		}
		return "nothing"
	}
	roleInStore := func(namespace, name string) string {
		obj, ok, _ := roles.GetStore().GetByKey(storeKey(namespace, name))
		if !ok {
			return "nothing"
		}
		return describe1(obj.(*accessv1alpha1.DashboardRole))
	}
	agree := func(step string, wantFound int) {
		t.Helper()
		var diff string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			found := 0
			diff = ""
			if !m.ready() {
				diff = "not ready"
			}
			for _, account := range []string{"team", "elsewhere", "nowhere"} {
				for _, hash := range []string{"sha256:cur", "sha256:prev", "sha256:next", "sha256:none"} {
					got, want := describe(m.lookup(account, hash)), describe(storeScan(pcs, users, account, hash))
					if got != want {
						diff += fmt.Sprintf("\n  %s %s: index %s, store %s", account, hash, got, want)
					}
					if want != "nothing" {
						found++
					}
				}
			}
			if found != wantFound { // the informer has not seen the change yet
				diff += fmt.Sprintf("\n  %d found, want %d", found, wantFound)
			}
			if diff == "" {
				return
			}
		}
		t.Fatalf("%s: the index never agreed with the store:%s", step, diff)
	}
	agree("initial list", 2)

	rotated := pc.DeepCopy()
	rotated.Status.Previous.Hash, rotated.Status.Hash = "sha256:cur", "sha256:next"
	pcSrc.Modify(rotated.DeepCopy())
	agree("rotation", 2)

	elsewhere, uElsewhere := pc.DeepCopy(), u.DeepCopy()
	elsewhere.Namespace, uElsewhere.Namespace = "elsewhere", "elsewhere"
	elsewhere.ResourceVersion, uElsewhere.ResourceVersion = "", ""
	pcSrc.Add(elsewhere.DeepCopy())
	agree("a Passcode without its user", 2)
	userSrc.Add(uElsewhere.DeepCopy())
	agree("and its user", 4)

	twin := elsewhere.DeepCopy()
	twin.Name, twin.ResourceVersion = "twin", ""
	pcSrc.Add(twin.DeepCopy())
	agree("two Passcodes with one hash", 2)

	recreated := u.DeepCopy()
	recreated.UID = "uid-other"
	userSrc.Modify(recreated.DeepCopy())
	agree("a new user UID", 2)

	userSrc.Delete(recreated.DeepCopy())
	agree("user deleted", 0)

	pcSrc.DeleteDropWatch(twin.DeepCopy()) // missed: learnt from the next list, as a tombstone
	pcSrc.ResetWatch()
	agree("a missed delete", 2)

	// Roles: the index holds what the store holds, once the store has the change.
	rolesAre := func(step string, want string) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			var found []string
			for _, r := range [][2]string{{"team", "analyst"}, {"elsewhere", "analyst"}} {
				mirrored, stored := describeRole(r[0], r[1]), roleInStore(r[0], r[1])
				if mirrored != stored {
					found = append(found, "index "+mirrored+" store "+stored)
				} else if mirrored != "nothing" {
					found = append(found, mirrored)
				}
			}
			if got = strings.Join(found, " "); got == want {
				agree(step, 2)
				return
			}
		}
		t.Fatalf("%s: roles %q, want %q", step, got, want)
	}
	rolesAre("the initial role", "team/analyst[]")
	edited := &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "analyst"},
		Spec: accessv1alpha1.DashboardRoleSpec{Permissions: []accessv1alpha1.Permission{"reports.read"}}}
	roleSrc.Modify(edited.DeepCopy())
	rolesAre("a role edited", "team/analyst[reports.read]")
	roleSrc.Add(&accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere", Name: "analyst"}})
	rolesAre("a role in another namespace", "team/analyst[reports.read] elsewhere/analyst[]")
	roleSrc.Delete(edited.DeepCopy())
	rolesAre("a role deleted", "elsewhere/analyst[]")
}

// BenchmarkIndexLookup is the lookup alone over 10,000 Passcodes and users: the server's index,
// and for comparison the informer indexer path it replaced (ByIndex on a hash index, then the
// user by key), on the same objects. Printed, not asserted.
func BenchmarkIndexLookup(b *testing.B) {
	ix := newIndex()
	byHash := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{"hash": func(o any) ([]string, error) {
		pc := o.(*accessv1alpha1.Passcode)
		keys := make([]string, 0, 2)
		for _, h := range []string{pc.Status.Hash, pc.Status.Previous.Hash} {
			keys = append(keys, indexKey(pc.Namespace, h))
		}
		return keys, nil
	}})
	userStore := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, nil)
	const n = 10_000
	for i := range n {
		pc, u := fixture()
		pc.Name, pc.Spec.UserRef.Name, u.Name = fmt.Sprintf("pc-%d", i), fmt.Sprintf("u-%d", i), fmt.Sprintf("u-%d", i)
		pc.Status.Hash, pc.Status.Previous.Hash = fmt.Sprintf("sha256:cur-%d", i), fmt.Sprintf("sha256:prev-%d", i)
		ix.setPasscode(pc)
		ix.setUser(u)
		if err := byHash.Add(pc); err != nil {
			b.Fatal(err)
		}
		if err := userStore.Add(u); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("index", func(b *testing.B) {
		for i := range b.N {
			if _, _, ok := ix.lookup("team", fmt.Sprintf("sha256:cur-%d", i%n)); !ok {
				b.Fatal("not found")
			}
		}
	})
	b.Run("informer-indexer", func(b *testing.B) {
		for i := range b.N {
			objs, err := byHash.ByIndex("hash", indexKey("team", fmt.Sprintf("sha256:cur-%d", i%n)))
			if err != nil || len(objs) != 1 {
				b.Fatal("not found")
			}
			pc := objs[0].(*accessv1alpha1.Passcode)
			if _, ok, _ := userStore.GetByKey(storeKey(pc.Namespace, pc.Spec.UserRef.Name)); !ok {
				b.Fatal("no user")
			}
		}
	})
}
