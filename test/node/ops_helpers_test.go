package node

// Helpers of the operations tests (failover, rolling update, upgrade, Helm): a workload of users
// and passcodes, a verifier that asks the access Service's ClusterIP all along, and a watch that
// counts every change of the passcodes' Secrets and revisions.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/setup"
)

var (
	imageMu    sync.Mutex
	imageBuilt bool
)

// e2eImage builds and imports this tree's image (img) once per test binary, whichever test runs first.
func e2eImage(t *testing.T, c *Cluster) {
	t.Helper()
	imageMu.Lock()
	defer imageMu.Unlock()
	if !imageBuilt {
		start := time.Now()
		c.Image(t, img, "v0.0.0-e2e", "e2e.tar")
		t.Logf("image %s built and imported in %s", img, time.Since(start).Round(time.Millisecond))
		imageBuilt = true
	}
}

// install applies manifests, waits for the rollout and removes the install (make undeploy) when the
// test ends.
func install(t *testing.T, c *Cluster, manifests []byte) {
	t.Helper()
	start := time.Now()
	t.Cleanup(func() { c.Undeploy(t) })
	c.Apply(t, manifests)
	c.WaitRollout(t)
	t.Logf("installed, 2 replicas Ready in %s", time.Since(start).Round(time.Millisecond))
}

// testNamespace creates ns, deleted when the test ends (before an uninstall registered earlier).
func testNamespace(t *testing.T, c *Cluster, ns string) {
	t.Helper()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if err := c.Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.Delete(context.Background(), obj) })
}

// createUsers creates a Member DashboardUser per name with the email <name>@example.com.
func createUsers(t *testing.T, c *Cluster, ns string, names ...string) map[string]string {
	t.Helper()
	emails := map[string]string{}
	for _, name := range names {
		emails[name] = name + "@example.com"
		u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: accessv1alpha1.DashboardUserSpec{Email: emails[name], Role: accessv1alpha1.RoleMember}}
		if err := c.Client.Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	return emails
}

// createPasscodes creates Passcodes named <prefix>-<i> for the users in turn, with Automatic rotation
// renewBefore before the end of tenure (grace keeps the replaced one valid).
func createPasscodes(t *testing.T, c *Cluster, ns, prefix string, n int, users []string, tenure, renewBefore, grace string) []string {
	t.Helper()
	names := make([]string, 0, n)
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: users[i%len(users)]}, Tenure: tenure,
				Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, RenewBefore: renewBefore, GracePeriod: grace}}}
		if err := c.Client.Create(context.Background(), pc); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// issued is what the operator issued for one Passcode: its Secret's passcode and the status fields
// an issuance sets (not lastUsedAt, which verifying moves).
type issued struct {
	Code                             string
	Hash                             string
	Revision                         int64
	IssuedAt, ExpiresAt, RenewalTime time.Time
}

func (a issued) same(b issued) bool {
	return a.Code == b.Code && a.Hash == b.Hash && a.Revision == b.Revision && a.IssuedAt.Equal(b.IssuedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.RenewalTime.Equal(b.RenewalTime)
}

// String names the revision and times, never the passcode.
func (a issued) String() string {
	return fmt.Sprintf("revision %d issuedAt %s renewalTime %s", a.Revision, a.IssuedAt.Format(time.RFC3339), a.RenewalTime.Format(time.RFC3339))
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// snapshot reads every Active Passcode of ns whose Secret holds the passcode of status.hash (a live read).
func snapshot(c *Cluster, ns string) (map[string]issued, error) {
	ctx := context.Background()
	var pcs accessv1alpha1.PasscodeList
	var secrets corev1.SecretList
	if err := c.Client.List(ctx, &pcs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	if err := c.Client.List(ctx, &secrets, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	byName := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		byName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	out := map[string]issued{}
	for i := range pcs.Items {
		pc := &pcs.Items[i]
		s := byName[passcodesecret.Name(pc)]
		if s == nil || pc.Status.Phase != accessv1alpha1.PasscodeActive {
			continue
		}
		code := string(s.Data[passcodesecret.KeyPasscode])
		if !passcode.Matches(code, pc.Status.Hash) {
			continue
		}
		out[pc.Name] = issued{Code: code, Hash: pc.Status.Hash, Revision: pc.Status.Revision, IssuedAt: timeOf(pc.Status.IssuedAt),
			ExpiresAt: timeOf(pc.Status.ExpiresAt), RenewalTime: timeOf(pc.Status.RenewalTime)}
	}
	return out, nil
}

// waitIssued waits until every named Passcode of ns is issued and returns them.
func waitIssued(t *testing.T, c *Cluster, ns string, names []string) map[string]issued {
	t.Helper()
	var got map[string]issued
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d passcodes to be issued", len(names)), func() bool {
		var err error
		got, err = snapshot(c, ns)
		if err != nil {
			return false
		}
		for _, n := range names {
			if _, ok := got[n]; !ok {
				return false
			}
		}
		return true
	})
	return got
}

// unchanged fails the test for every Passcode of before whose issuance differs now.
func unchanged(t *testing.T, c *Cluster, ns string, before map[string]issued) {
	t.Helper()
	now, err := snapshot(c, ns)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range before {
		if a, ok := now[name]; !ok {
			t.Errorf("Passcode %s: no longer Active with its Secret", name)
		} else if !a.same(b) {
			t.Errorf("Passcode %s was re-issued: %s, before %s (passcode changed: %t)", name, a, b, a.Code != b.Code)
		}
	}
}

// leaseHolder is the leader election Lease's holder identity ("<pod>_<uuid>"), "" when none holds it.
func leaseHolder(c *Cluster) string {
	var lease coordinationv1.Lease
	err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: setup.LeaderElectionID}, &lease)
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// readyManagers counts the manager Pods (not being deleted) that are Ready.
func readyManagers(t *testing.T, c *Cluster) int {
	t.Helper()
	n := 0
	for _, p := range c.ManagerPods(t) {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

// verifier asks POST /v1/verify through one address (the access Service's ClusterIP) every ~50 ms,
// a new connection each time so that kube-proxy picks a backend each time, with each Passcode in
// turn. The passcode asked with is what the Secret holds once status.hash has shown it for 3 s (the
// Secret is written before the status that makes it valid, and each replica's cache learns that
// status a moment later); until then the previous one, which the grace period keeps valid. So every
// question has one right answer: 200 with the user's email.
type verifier struct {
	base   string
	ns     string
	emails map[string]string // user -> email
	users  map[string]string // Passcode -> user

	mu      sync.Mutex
	current map[string]usable
	pending map[string]usable
	asked   int
	wrong   []string // answered, but not 200 with the user's email
	failed  []string // no answer (connection refused, reset, timeout)
	windows []window // when no answer is tolerated
	first   time.Time
	last    time.Time
}

// window is a time in which a question asked may go unanswered (never answered wrongly), and how
// many did.
type window struct {
	from, to time.Time
	why      string
	failed   int
}

type usable struct {
	code     string
	revision int64
	since    time.Time
}

// startVerifier starts asking; stop (idempotent, also at cleanup) ends it.
func startVerifier(t *testing.T, c *Cluster, ns string, emails map[string]string) (*verifier, func()) {
	t.Helper()
	v := &verifier{base: c.AccessURL(t), ns: ns, emails: emails, users: map[string]string{},
		current: map[string]usable{}, pending: map[string]usable{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			v.track(ctx, c)
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 0; ctx.Err() == nil; i++ {
			v.ask(ctx, hc, i)
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return v, stop
}

func (v *verifier) track(ctx context.Context, c *Cluster) {
	var pcs accessv1alpha1.PasscodeList
	var secrets corev1.SecretList
	if c.Client.List(ctx, &pcs, client.InNamespace(v.ns)) != nil || c.Client.List(ctx, &secrets, client.InNamespace(v.ns)) != nil {
		return
	}
	byName := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		byName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range pcs.Items {
		pc := &pcs.Items[i]
		s := byName[passcodesecret.Name(pc)]
		if s == nil || pc.Status.Phase != accessv1alpha1.PasscodeActive {
			continue
		}
		code := string(s.Data[passcodesecret.KeyPasscode])
		if !passcode.Matches(code, pc.Status.Hash) || code == v.current[pc.Name].code {
			continue
		}
		v.users[pc.Name] = pc.Spec.UserRef.Name
		next, waiting := v.pending[pc.Name]
		switch {
		case !waiting || next.code != code:
			v.pending[pc.Name] = usable{code: code, revision: pc.Status.Revision, since: now}
		case now.Sub(next.since) >= 3*time.Second:
			v.current[pc.Name] = next
			delete(v.pending, pc.Name)
		}
	}
}

func (v *verifier) ask(ctx context.Context, hc *http.Client, i int) {
	v.mu.Lock()
	names := make([]string, 0, len(v.current))
	for n := range v.current {
		names = append(names, n)
	}
	if len(names) == 0 {
		v.mu.Unlock()
		return
	}
	slices.Sort(names)
	name := names[i%len(names)]
	u, email := v.current[name], v.emails[v.users[name]]
	v.mu.Unlock()

	asked := time.Now()
	status, got, err := Verify(ctx, hc, v.base, v.ns, u.code)
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.asked++
	if v.first.IsZero() {
		v.first = now
	}
	v.last = now
	at := now.Format("15:04:05.000")
	switch {
	case err != nil:
		for i := range v.windows {
			if w := &v.windows[i]; !asked.Before(w.from) && !asked.After(w.to) {
				w.failed++
				return
			}
		}
		v.failed = append(v.failed, fmt.Sprintf("%s %s revision %d: %v", at, name, u.revision, err))
	case status != http.StatusOK || got != email:
		v.wrong = append(v.wrong, fmt.Sprintf("%s %s revision %d: status %d email %q", at, name, u.revision, status, got))
	}
}

// tolerate lets questions go unanswered for d from from (why says what makes them), not wrongly answered.
func (v *verifier) tolerate(from time.Time, d time.Duration, why string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.windows = append(v.windows, window{from: from, to: from.Add(d), why: why})
}

// endTolerance ends every window still open at at.
func (v *verifier) endTolerance(at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range v.windows {
		if v.windows[i].to.After(at) {
			v.windows[i].to = at
		}
	}
}

// waitPodsGone waits until the Pods are deleted for good (terminated, not only terminating).
func waitPodsGone(t *testing.T, c *Cluster, pods []corev1.Pod) {
	t.Helper()
	for i := range pods {
		waitGone(t, c, &pods[i])
	}
}

// counts are the questions asked, answered wrongly and not answered so far.
func (v *verifier) counts() (asked, wrong, failed int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.asked, len(v.wrong), len(v.failed)
}

// asking reports whether every named Passcode is being asked about.
func (v *verifier) asking(names []string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, n := range names {
		if _, ok := v.current[n]; !ok {
			return false
		}
	}
	return true
}

// askingAbove reports whether every Passcode of minRev is asked about with a revision above its.
func (v *verifier) askingAbove(minRev map[string]int64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for name, rev := range minRev {
		if v.current[name].revision <= rev {
			return false
		}
	}
	return true
}

// report logs the figures and fails the test on any wrong or missing answer.
func (v *verifier) report(t *testing.T, what string) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	t.Logf("verify through %s %s: %d asked over %s, %d answered wrongly, %d not answered", v.base, what, v.asked,
		v.last.Sub(v.first).Round(time.Second), len(v.wrong), len(v.failed))
	for _, w := range v.windows {
		t.Logf("%d not answered within %s of %s (%s), tolerated", w.failed, w.to.Sub(w.from), w.from.Format("15:04:05.000"), w.why)
	}
	if v.asked == 0 {
		t.Errorf("verify through %s: never asked", v.base)
	}
	for _, list := range []struct {
		what string
		l    []string
	}{{"answered wrongly", v.wrong}, {"not answered", v.failed}} {
		if len(list.l) > 0 {
			t.Errorf("%d verifications %s, the first ones:\n%s", len(list.l), list.what, strings.Join(list.l[:min(len(list.l), 20)], "\n"))
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// changes watches the Secrets and Passcodes of a namespace and records, per name, every new
// passcode in a Secret and every new status.revision, with when it was seen (the first value seen
// at the start is not a change).
type changes struct {
	mu        sync.Mutex
	codes     map[string]string      // Secret -> its passcode as last seen (in memory only)
	revisions map[string]int64       // Passcode -> status.revision as last seen
	secretAt  map[string][]time.Time // Secret -> when its passcode changed
	revAt     map[string][]time.Time // Passcode -> when its revision changed
}

// watchChanges starts the watches; they end with the test.
func watchChanges(t *testing.T, c *Cluster, ns string) *changes {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ch := &changes{codes: map[string]string{}, revisions: map[string]int64{},
		secretAt: map[string][]time.Time{}, revAt: map[string][]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	ready := make(chan struct{}, 2)
	go func() {
		defer wg.Done()
		watchLoop(ctx, wc, ns, &corev1.SecretList{}, ready, func(o client.Object) {
			s := o.(*corev1.Secret)
			if code, ok := s.Data[passcodesecret.KeyPasscode]; ok {
				ch.sawSecret(s.Name, string(code))
			}
		})
	}()
	go func() {
		defer wg.Done()
		watchLoop(ctx, wc, ns, &accessv1alpha1.PasscodeList{}, ready, func(o client.Object) {
			pc := o.(*accessv1alpha1.Passcode)
			if pc.Status.Revision > 0 {
				ch.sawRevision(pc.Name, pc.Status.Revision)
			}
		})
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-ready
	<-ready
	return ch
}

func (ch *changes) sawSecret(name, code string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if old, ok := ch.codes[name]; ok && old != code {
		ch.secretAt[name] = append(ch.secretAt[name], time.Now())
	}
	ch.codes[name] = code
}

func (ch *changes) sawRevision(name string, rev int64) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if old, ok := ch.revisions[name]; ok && old != rev {
		ch.revAt[name] = append(ch.revAt[name], time.Now())
	}
	ch.revisions[name] = rev
}

// between counts the changes of name's passcode (Secret) and revision (status) seen in [from, to].
func (ch *changes) between(name, secret string, from, to time.Time) (codes, revisions int) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	in := func(ts []time.Time) int {
		n := 0
		for _, at := range ts {
			if !at.Before(from) && !at.After(to) {
				n++
			}
		}
		return n
	}
	return in(ch.secretAt[secret]), in(ch.revAt[name])
}

// watchLoop lists, then watches from the list's resourceVersion, and watches again from the last
// event seen when the watch ends (or lists again after an error) until ctx ends. ready gets one
// value after the first list.
func watchLoop(ctx context.Context, wc client.WithWatch, ns string, list client.ObjectList, ready chan<- struct{}, seen func(client.Object)) {
	rv, first := "", true
	for ctx.Err() == nil {
		if rv == "" {
			if err := wc.List(ctx, list, client.InNamespace(ns)); err != nil {
				sleepCtx(ctx, time.Second)
				continue
			}
			items, _ := apimeta.ExtractList(list)
			for _, o := range items {
				seen(o.(client.Object))
			}
			rv = list.GetResourceVersion()
			if first {
				ready <- struct{}{}
				first = false
			}
		}
		w, err := wc.Watch(ctx, list, &client.ListOptions{Namespace: ns, Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			rv = ""
			sleepCtx(ctx, time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			o, ok := ev.Object.(client.Object)
			if ev.Type == watch.Error || !ok {
				rv = "" // e.g. 410 Gone: list again
				break
			}
			rv = o.GetResourceVersion()
			if ev.Type != watch.Deleted && ev.Type != watch.Bookmark {
				seen(o)
			}
		}
		w.Stop()
	}
}

// errNoLeader is returned by waitNewHolder when no other holder took the Lease in time.
var errNoLeader = errors.New("no new holder")

// waitNewHolder polls the Lease every 100 ms until a holder other than old holds it and returns it
// and when it was first seen.
func waitNewHolder(c *Cluster, old string, limit time.Duration) (string, time.Time, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if h := leaseHolder(c); h != "" && h != old {
			return h, time.Now(), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", time.Time{}, errNoLeader
}
