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

// informer stands for an informer of the manager's cache: synced or not, with an indexer (as
// client-go's SharedIndexInformer) or without.
type informer struct {
	cache.Informer // any other method panics
	synced         bool
}

func (i *informer) HasSynced() bool { return i.synced }

type indexedInformer struct {
	informer
	indexer toolscache.Indexer
}

func (i *indexedInformer) GetIndexer() toolscache.Indexer { return i.indexer }

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

// crIndexer is an informer's indexer with HashIndex registered the way controller-runtime's
// IndexField does it: "field:<name>", values keyed "<namespace>/<value>" and
// "__all_namespaces/<value>".
func crIndexer(objs ...client.Object) toolscache.Indexer {
	idx := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{
		"field:" + HashIndex: func(o any) ([]string, error) {
			obj := o.(client.Object)
			vals := HashIndexFunc(obj)
			keys := make([]string, 0, 2*len(vals))
			for _, v := range vals {
				keys = append(keys, obj.GetNamespace()+"/"+v, "__all_namespaces/"+v)
			}
			return keys, nil
		},
	})
	for _, o := range objs {
		if err := idx.Add(o); err != nil {
			panic(err)
		}
	}
	return idx
}

func TestResolveIndexes(t *testing.T) {
	ctx := context.Background()
	idx := crIndexer()
	users := &indexedInformer{informer{synced: true}, toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, nil)}
	roles := &indexedInformer{informer{synced: true}, toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, nil)}
	cases := []struct {
		name    string
		reader  client.Reader
		indexed bool
		final   bool
	}{
		{"a plain client", fake.NewClientBuilder().Build(), false, true},
		{"informers not synced yet", &informerCache{passcodes: &indexedInformer{informer{synced: false}, idx}, users: users, roles: roles}, false, false},
		{"user informer not synced yet", &informerCache{passcodes: &indexedInformer{informer{synced: true}, idx},
			users: &indexedInformer{informer{synced: false}, idx}, roles: roles}, false, false},
		{"role informer not synced yet", &informerCache{passcodes: &indexedInformer{informer{synced: true}, idx}, users: users,
			roles: &indexedInformer{informer{synced: false}, roles.indexer}}, false, false},

		{"the manager's cache", &informerCache{passcodes: &indexedInformer{informer{synced: true}, idx}, users: users, roles: roles}, true, true},
	}
	for _, c := range cases {
		ix, final := resolveIndexes(ctx, c.reader)
		if (ix.passcodes != nil) != c.indexed || (ix.roles != nil) != c.indexed || final != c.final {
			t.Errorf("%s: indexed %v (roles %v) final %v", c.name, ix.passcodes != nil, ix.roles != nil, final)
		}
	}

	// The server asks again until the informers have synced, then never again.
	pcs := &indexedInformer{informer{synced: false}, idx}
	ic := &informerCache{Reader: fake.NewClientBuilder().Build(), passcodes: pcs, users: users, roles: roles}
	s := New(Config{Reader: ic, Clock: clocktesting.NewFakeClock(now)})
	s.indexes(ctx)
	s.indexes(ctx)
	if ic.asked != 2 || s.index.Load() != nil {
		t.Fatalf("before the sync: asked %d times, resolved %v", ic.asked, s.index.Load())
	}
	pcs.synced = true
	s.indexes(ctx)
	asked := ic.asked
	for range 3 {
		if ix := s.indexes(ctx); ix.passcodes == nil {
			t.Fatal("not resolved after the sync")
		}
	}
	if ic.asked != asked {
		t.Fatalf("asked again after resolving: %d times", ic.asked-asked)
	}
}

// TestLookupAsList: the indexers find what List (InNamespace, MatchingFields) and Get find, for
// every account and hash, including a hash in two namespaces, two Passcodes with one hash, a
// missing user and a user of that name in another namespace.
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
	objs := []client.Object{pc, u, pcElsewhere, uElsewhere, twin1, twin2, orphan, strayUser}

	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithIndex(&accessv1alpha1.Passcode{}, HashIndex, HashIndexFunc).Build()
	s := New(Config{Reader: c, Clock: clocktesting.NewFakeClock(now)})
	ix := cacheIndexes{passcodes: crIndexer(pc, pcElsewhere, twin1, twin2, orphan), users: crIndexer(u, uElsewhere, strayUser)}

	describe := func(pc *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser, ok bool) string {
		if !ok {
			return "nothing"
		}
		return fmt.Sprintf("%s/%s %s, %s/%s %s", pc.Namespace, pc.Name, pc.Status.Hash, u.Namespace, u.Name, u.UID)
	}
	found := 0
	for _, account := range []string{"team", "elsewhere", "twins", "stray", "nowhere", "team/x"} {
		for _, hash := range []string{"sha256:cur", "sha256:prev", "sha256:twin", "sha256:orphan", "sha256:none", "x/sha256:cur"} {
			got := describe(ix.lookup(account, hash))
			want := describe(s.list(context.Background(), account, hash))
			if got != want {
				t.Errorf("%s %s: indexers found %s, List and Get %s", account, hash, got, want)
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

// hidden is a client-go informer seen only through controller-runtime's Informer interface, as
// the multi-namespace cache's informers are: its indexer out of reach.
type hidden struct{ cache.Informer }

// runInformer runs a real SharedIndexInformer of obj's kind over a fake API source.
func runInformer(t *testing.T, obj runtime.Object, indexers toolscache.Indexers) (*fcache.FakeControllerSource, toolscache.SharedIndexInformer) {
	t.Helper()
	src := fcache.NewFakeControllerSource()
	inf := toolscache.NewSharedIndexInformer(src, obj, 0, indexers)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); src.Shutdown() })
	go inf.Run(stop)
	if !toolscache.WaitForCacheSync(stop, inf.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	return src, inf
}

func TestResolveMirrorsHiddenIndexers(t *testing.T) {
	ctx := context.Background()
	_, pcs := runInformer(t, &accessv1alpha1.Passcode{}, toolscache.Indexers{})
	_, users := runInformer(t, &accessv1alpha1.DashboardUser{}, toolscache.Indexers{})
	_, roles := runInformer(t, &accessv1alpha1.DashboardRole{}, toolscache.Indexers{})
	for name, c := range map[string]*informerCache{
		"informers without an indexer (multi-namespace cache)": {passcodes: hidden{pcs}, users: hidden{users}, roles: hidden{roles}},
		"indexers without the hash index":                      {passcodes: pcs, users: users, roles: roles},
	} {
		ix, final := resolveIndexes(ctx, c)
		if !final || ix.passcodes != nil || ix.mirror == nil {
			t.Errorf("%s: final %v, indexers %v, mirror %v", name, final, ix.passcodes != nil, ix.mirror != nil)
		}
	}
}

// TestMirrorFollowsTheStore: through adds, updates (a rotation, a new user UID), deletes and a
// delete the informer only learns of by listing again (a tombstone), the mirror finds what the
// informer's own indexers find, as List and Get would.
func TestMirrorFollowsTheStore(t *testing.T) {
	crIndex := toolscache.Indexers{"field:" + HashIndex: crIndexer().GetIndexers()["field:"+HashIndex]}
	pcSrc, pcs := runInformer(t, &accessv1alpha1.Passcode{}, crIndex)
	userSrc, users := runInformer(t, &accessv1alpha1.DashboardUser{}, toolscache.Indexers{})
	roleSrc, roles := runInformer(t, &accessv1alpha1.DashboardRole{}, toolscache.Indexers{})
	truth := cacheIndexes{passcodes: pcs.GetIndexer(), users: users.GetIndexer(), roles: roles.GetIndexer()}

	// The source writes each object it is given (its resourceVersion) and the informer keeps it:
	// every object is given as a copy.
	pc, u := fixture()
	pcSrc.Add(pc.DeepCopy()) // in the cache before the mirror is made
	userSrc.Add(u.DeepCopy())
	roleSrc.Add(&accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "analyst"}})
	m, err := newMirror(hidden{pcs}, hidden{users}, hidden{roles})
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
		obj, ok, _ := truth.roles.GetByKey(storeKey(namespace, name))
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
					got, want := describe(m.lookup(account, hash)), describe(truth.lookup(account, hash))
					if got != want {
						diff += fmt.Sprintf("\n  %s %s: mirror %s, indexers %s", account, hash, got, want)
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
		t.Fatalf("%s: the mirror never agreed with the store:%s", step, diff)
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

	// Roles: the mirror holds what the store holds, once the store has the change.
	rolesAre := func(step string, want string) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			var found []string
			for _, r := range [][2]string{{"team", "analyst"}, {"elsewhere", "analyst"}} {
				mirrored, stored := describeRole(r[0], r[1]), roleInStore(r[0], r[1])
				if mirrored != stored {
					found = append(found, "mirror "+mirrored+" store "+stored)
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
