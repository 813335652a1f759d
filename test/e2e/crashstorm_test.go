package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// crashStormKills is how many times TestCrashStorm SIGKILLs the manager. The default keeps the
// test at about 2 minutes on 2 cores; a bigger storm (the storm lasts 4 s per kill, at least 80 s):
//
//	go test ./test/e2e -run TestCrashStorm -v -crash-storm-kills=20
var crashStormKills = flag.Int("crash-storm-kills", 5, "how many times TestCrashStorm SIGKILLs the manager")

// Sizes of the crash storm.
const (
	stormUsers     = 50
	stormPasscodes = 200
	// stormRotationGap: a Passcode with tenure 1m and the default renewBefore (a third) is renewed
	// 40 s after issuedAt, which is the issue time truncated to the second; so two issues of which
	// the later is a rotation are always more than 39 s apart. (The API's smallest renewBefore is
	// 1m, so no faster rotation can be configured.)
	stormRotationGap = 39 * time.Second
)

// TestCrashStormKeepsPasscodesAndInvitesConsistent runs the built manager on a real control plane
// with the webhook notifier, 200 Passcodes rotating every 40 s, resets asked for at random, and 50
// users being invited in waves, and SIGKILLs the manager at random moments (the first one while a
// webhook delivery is in flight), restarting it each time. Once it settles:
//
//   - every Passcode is Active and Ready, with one Secret whose passcode matches status.hash, and
//     every reset asked for was handled;
//   - the Secrets' revisions, as the test's own watch saw them the whole time, have no gaps and
//     no revision carried two different passcodes, and no Passcode has more revisions than its
//     first issue, its due rotations, the resets asked for and one interrupted issue per kill
//     explain;
//   - every user got exactly one invite link, however many times it was delivered: deliveries
//     with one idempotency key carry one link, a user with no resend asked for gets one link,
//     and that link opens the invite page.
func TestCrashStormKeepsPasscodesAndInvitesConsistent(t *testing.T) {
	t.Parallel()
	kills := *crashStormKills
	if kills < 1 {
		t.Fatalf("-crash-storm-kills=%d: want at least 1", kills)
	}
	storm := max(80*time.Second, time.Duration(kills)*4*time.Second)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1)) // the test goroutine's own
	t.Logf("seed %d: %d kills in %v, %d Passcodes, %d users", seed, kills, storm, stormPasscodes, stormUsers)

	dir := t.TempDir()
	cp := startControlPlane(t, dir)
	c := cp.Client
	const ns = "storm"
	createNamespaces(t, c, ns)
	ctx, cancel := context.WithCancel(context.Background())
	var background sync.WaitGroup
	defer func() { cancel(); background.Wait() }()

	watched, stopWatch, err := watchManagedSecrets(ctx, c, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer stopWatch()

	inFlight := make(chan struct{}, 1)
	recv, err := testenv.NewWebhookReceiver(dir, testenv.WebhookReceiverOptions{
		// A receiver that takes 50-300 ms to answer, like a real one.
		Delay: func() time.Duration { return time.Duration(50+rand.IntN(250)) * time.Millisecond },
		OnReceive: func(testenv.Delivery) {
			select {
			case inFlight <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	m := startManagerProcess(t, dir, cp, "manager",
		"--notifier=webhook", "--webhook-url="+recv.URL, "--webhook-secret-file="+recv.SecretFile)
	start := time.Now()

	// 200 Passcodes of 50 users, half with a grace period; their users come in 5 waves of 10, 8 s
	// apart, so invites are being delivered for a while (a Passcode waits for its user).
	created := map[string]time.Time{}
	for i := range stormPasscodes {
		name := fmt.Sprintf("pc-%03d", i)
		grace := ""
		if i%2 == 0 {
			grace = "1m"
		}
		pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: stormUser(i % stormUsers)}, Tenure: "1m",
				Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, GracePeriod: grace}}}
		created[name] = time.Now()
		if err := c.Create(ctx, pc); err != nil {
			t.Fatal(err)
		}
	}
	background.Add(1)
	go func() {
		defer background.Done()
		for i := range stormUsers {
			if i > 0 && i%10 == 0 {
				sleepCtx(ctx, 8*time.Second)
			}
			u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: stormUser(i)},
				Spec: accessv1alpha1.DashboardUserSpec{Email: stormUser(i) + "@example.com", Role: accessv1alpha1.RoleMember}}
			if err := c.Create(ctx, u); err != nil && ctx.Err() == nil {
				t.Errorf("creating %s: %v", u.Name, err)
			}
		}
	}()

	// Resets at random, about three a second, each with a value never used before. A request
	// that failed counts too: it may have been applied, and the bound below must not be too tight.
	resets := &resetLog{asked: map[string]int{}, last: map[string]string{}}
	resetCtx, stopResets := context.WithCancel(ctx)
	background.Add(1)
	go func() {
		defer background.Done()
		base := start.UTC().Truncate(time.Second)
		for n := 0; resetCtx.Err() == nil; n++ {
			sleepCtx(resetCtx, 300*time.Millisecond)
			name := fmt.Sprintf("pc-%03d", rand.IntN(stormPasscodes))
			value := base.Add(time.Duration(n) * time.Second).Format(time.RFC3339)
			resets.ask(name, value)
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, accessv1alpha1.ResetRequestedAtAnnotation, value)
			pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
			_ = c.Patch(ctx, pc, client.RawPatch(types.MergePatchType, []byte(patch)))
		}
	}()

	// The kills: the first while a webhook delivery is in flight (it arrived, its answer has not),
	// the others at random moments of the storm; each even-numbered one waits there for the next
	// new passcode the watch sees and strikes at once, between the write of a Secret and that of
	// its Passcode's status.
	killAndRestart := func(n int) {
		if !m.Running() {
			t.Fatalf("the manager exited by itself before kill %d: %v", n, m.ExitErr())
		}
		if err := m.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d at %v", n, time.Since(start).Round(time.Millisecond))
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
		if err := m.WaitReady(60 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatal("premise: no webhook delivery in flight within 30 s, so the first kill could not strike during one")
	}
	killAndRestart(1)
	offsets := make([]time.Duration, kills-1)
	for i := range offsets {
		offsets[i] = 5*time.Second + time.Duration(rng.Int64N(int64(storm-10*time.Second)))
	}
	slices.Sort(offsets)
	afterIssue, evenKills := 0, 0
	for i, at := range offsets {
		time.Sleep(time.Until(start.Add(at)))
		if n := i + 2; n%2 == 0 {
			evenKills++
			if watched.nextIssue(10 * time.Second) {
				afterIssue++
			} else {
				t.Logf("kill %d: no new passcode within 10 s, so it strikes at a random moment", n)
			}
		}
		killAndRestart(i + 2)
	}
	// The premise of the even kills: at least one struck right after a Secret's write, before its
	// Passcode's status (the resets keep new passcodes coming, so a miss is the watch or the storm failing).
	if evenKills > 0 && afterIssue == 0 {
		t.Errorf("premise: none of the %d even kills followed a new passcode; the window between a Secret's write and its status was never hit", evenKills)
	}
	time.Sleep(time.Until(start.Add(storm)))
	stopResets()

	// Settle: every Passcode seen consistent at least once, every user Invited.
	var list *accessv1alpha1.PasscodeList
	var users *accessv1alpha1.DashboardUserList
	settleStart := time.Now()
	seenOK := map[string]bool{}
	problems := map[string]string{}
	for {
		list, users = &accessv1alpha1.PasscodeList{}, &accessv1alpha1.DashboardUserList{}
		secrets := &corev1.SecretList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if err := c.List(ctx, secrets, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if err := c.List(ctx, users, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		byName := map[string]*corev1.Secret{}
		for i := range secrets.Items {
			byName[secrets.Items[i].Name] = &secrets.Items[i]
		}
		now := time.Now()
		for i := range list.Items {
			pc := &list.Items[i]
			why := passcodeProblem(pc, byName[passcodesecret.Name(pc)], now)
			if last := resets.lastOf(pc.Name); why == "" && pc.Status.LastResetRequestedAt != last {
				why = fmt.Sprintf("the last reset asked for (%s) was not handled (status says %q)", last, pc.Status.LastResetRequestedAt)
			}
			if why == "" {
				seenOK[pc.Name] = true
			}
			problems[pc.Name] = why
		}
		invited := 0
		for _, u := range users.Items {
			if u.Status.Phase == accessv1alpha1.UserInvited {
				invited++
			}
		}
		if len(seenOK) == stormPasscodes && invited == stormUsers {
			break
		}
		if time.Since(settleStart) > 90*time.Second {
			var stuck []string
			for name, why := range problems {
				if !seenOK[name] {
					stuck = append(stuck, name+": "+why)
				}
			}
			slices.Sort(stuck)
			t.Errorf("90 s after the storm, %d of %d Passcodes were never consistent and %d of %d users are Invited:\n%s",
				len(stuck), stormPasscodes, invited, stormUsers, strings.Join(stuck[:min(len(stuck), 30)], "\n"))
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("settled %v after the storm", time.Since(settleStart).Round(time.Millisecond))
	// Nothing got stuck after it was seen consistent: no Passcode misses its rotation.
	time.Sleep(2 * time.Second)
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, pc := range list.Items {
		ready := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady)
		if pc.Status.Phase != accessv1alpha1.PasscodeActive || ready == nil || ready.Status != metav1.ConditionTrue ||
			pc.Status.RenewalTime == nil || time.Now().After(pc.Status.RenewalTime.Add(10*time.Second)) {
			t.Errorf("%s is stuck: phase %s, Ready %v, renewalTime %v", pc.Name, pc.Status.Phase, ready, pc.Status.RenewalTime)
		}
	}

	checkRevisions(t, watched, stopWatch, list, created, resets, kills)
	checkInvites(t, recv, users)
	if rejected := recv.Rejected(); len(rejected) > 0 {
		t.Errorf("the webhook receiver refused %d requests: %v", len(rejected), rejected[:min(len(rejected), 5)])
	}
}

func stormUser(i int) string { return fmt.Sprintf("user-%02d", i) }

func userIndex(name string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "user-"))
	if err != nil {
		return -1
	}
	return i
}

// resetLog counts the resets asked for per Passcode and remembers the last value.
type resetLog struct {
	mu    sync.Mutex
	asked map[string]int
	last  map[string]string
	total int
}

func (r *resetLog) ask(name, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked[name]++
	r.last[name] = value
	r.total++
}

func (r *resetLog) lastOf(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[name]
}

func (r *resetLog) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked[name]
}

// checkRevisions checks what the Secret watch saw: per Passcode, revisions 1..n each with one
// passcode, and n no more than its issues can explain.
func checkRevisions(t *testing.T, watched *secretLog, stopWatch func(), list *accessv1alpha1.PasscodeList,
	created map[string]time.Time, resets *resetLog, kills int) {
	t.Helper()
	time.Sleep(2 * time.Second) // the last events reach the watch
	stopWatch()
	seen, events, err := watched.result()
	if err != nil {
		t.Errorf("the test's Secret watch lost events (%v): revisions not checked", err)
		return
	}
	var doubled, gaps, excess, never []string
	issues := int64(0)
	for _, pc := range list.Items {
		revs := seen[pc.Name]
		top := pc.Status.Revision
		for rev, hashes := range revs {
			top = max(top, rev)
			if len(hashes) > 1 {
				doubled = append(doubled, fmt.Sprintf("%s revision %d: %d different passcodes", pc.Name, rev, len(hashes)))
			}
		}
		for rev := int64(1); rev <= top; rev++ {
			if _, ok := revs[rev]; !ok {
				gaps = append(gaps, fmt.Sprintf("%s: revision %d never appeared (latest %d)", pc.Name, rev, top))
			}
		}
		// First issue + due rotations + resets asked + one interrupted issue per kill.
		lived := time.Since(created[pc.Name])
		bound := 1 + int64(lived/stormRotationGap) + int64(resets.count(pc.Name)) + int64(kills)
		if top > bound {
			excess = append(excess, fmt.Sprintf("%s: revision %d, but at most %d issues are explained (%v old, %d resets asked, %d kills)",
				pc.Name, top, bound, lived.Round(time.Second), resets.count(pc.Name), kills))
		}
		// The users of the first three waves exist from 16 s on: their passcodes were due for a
		// rotation 40 s after their first issue, well before the storm ended.
		if top < 2 && userIndex(pc.Spec.UserRef.Name) < 30 {
			never = append(never, fmt.Sprintf("%s: revision %d after %v", pc.Name, top, lived.Round(time.Second)))
		}
		issues += top
	}
	t.Logf("the Secret watch saw %d events; %d passcodes issued in all, %d resets asked", events, issues, resets.total)
	slices.Sort(doubled)
	slices.Sort(gaps)
	slices.Sort(excess)
	report := func(what string, lines []string) {
		if len(lines) > 0 {
			t.Errorf("%s (%d):\n%s", what, len(lines), strings.Join(lines[:min(len(lines), 30)], "\n"))
		}
	}
	report("revisions with two passcodes", doubled)
	report("revision gaps", gaps)
	report("revisions not explained by issues", excess)
	report("passcodes that never rotated", never)
}

// checkInvites checks each user's deliveries: one link per idempotency key, one link per user
// (no resend was asked for), and that link opens the invite page.
func checkInvites(t *testing.T, recv *testenv.WebhookReceiver, users *accessv1alpha1.DashboardUserList) {
	t.Helper()
	byUID := map[string][]testenv.Delivery{}
	deliveries := 0
	var keyProblems []string
	for key, ds := range recv.Deliveries() {
		deliveries += len(ds)
		uid := key[:max(strings.LastIndex(key, "-"), 0)]
		byUID[uid] = append(byUID[uid], ds...)
		if n := distinctLinks(ds); n != 1 {
			keyProblems = append(keyProblems, fmt.Sprintf("idempotency key %s: %d deliveries with %d different links", key, len(ds), n))
		}
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	var userProblems []string
	extraLinks := 0
	for _, u := range users.Items {
		ds := byUID[string(u.UID)]
		if len(ds) == 0 {
			userProblems = append(userProblems, fmt.Sprintf("%s (%s): no invite delivered", u.Name, u.Status.Phase))
			continue
		}
		keys := map[string]bool{}
		for _, d := range ds {
			keys[d.IdempotencyKey] = true
		}
		if n := distinctLinks(ds); n != 1 {
			extraLinks += n - 1
			userProblems = append(userProblems, fmt.Sprintf("%s: %d different links in %d deliveries under %d invite numbers, no resend asked; "+
				"only the last one works", u.Name, n, len(ds), len(keys)))
		}
		latest := slices.MaxFunc(ds, func(a, b testenv.Delivery) int { return a.Received.Compare(b.Received) })
		if latest.Email != u.Spec.Email {
			userProblems = append(userProblems, fmt.Sprintf("%s: the invite went to another address", u.Name))
		}
		if u.Status.Phase != accessv1alpha1.UserInvited {
			userProblems = append(userProblems, fmt.Sprintf("%s: phase %s, want Invited", u.Name, u.Status.Phase))
			continue
		}
		resp, err := hc.Get(latest.AcceptURL) // never printed: it holds the token
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the url.Error's text quotes the link
			}
			userProblems = append(userProblems, fmt.Sprintf("%s: opening the latest link failed: %v", u.Name, err))
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			userProblems = append(userProblems, fmt.Sprintf("%s: the latest link (key %s) answers %d, want 200", u.Name, latest.IdempotencyKey, resp.StatusCode))
		}
	}
	t.Logf("%d invite deliveries under %d idempotency keys for %d users; %d extra links", deliveries, len(recv.Deliveries()), len(users.Items), extraLinks)
	slices.Sort(keyProblems)
	slices.Sort(userProblems)
	if len(keyProblems) > 0 {
		t.Errorf("idempotency keys with more than one link (%d):\n%s", len(keyProblems), strings.Join(keyProblems[:min(len(keyProblems), 20)], "\n"))
	}
	if len(userProblems) > 0 {
		t.Errorf("users without exactly one working invite link (%d):\n%s", len(userProblems), strings.Join(userProblems[:min(len(userProblems), 20)], "\n"))
	}
}

func distinctLinks(ds []testenv.Delivery) int {
	links := map[string]bool{}
	for _, d := range ds {
		links[d.AcceptURL] = true
	}
	return len(links)
}

// secretLog is what the test's own watch saw of the operator's Secrets: per Passcode, per
// revision annotation, the hashes of the passcodes the Secret held.
type secretLog struct {
	mu     sync.Mutex
	seen   map[string]map[int64]map[string]bool
	events int
	err    error
	issued chan struct{} // a signal for each revision seen for the first time
}

// nextIssue waits up to limit for a revision the watch has not seen before, and says whether one came.
func (l *secretLog) nextIssue(limit time.Duration) bool {
	select {
	case <-l.issued: // an old signal
	default:
	}
	select {
	case <-l.issued:
		return true
	case <-time.After(limit):
		return false
	}
}

func (l *secretLog) record(s *corev1.Secret) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events++
	code := string(s.Data[passcodesecret.KeyPasscode])
	if code == "" {
		return // expired or revoked: nothing issued
	}
	name := s.Labels[accessv1alpha1.PasscodeLabel]
	rev, err := strconv.ParseInt(s.Annotations[passcodesecret.RevisionAnnotation], 10, 64)
	if err != nil {
		rev = -1
	}
	if l.seen[name] == nil {
		l.seen[name] = map[int64]map[string]bool{}
	}
	if l.seen[name][rev] == nil {
		l.seen[name][rev] = map[string]bool{}
		select {
		case l.issued <- struct{}{}:
		default:
		}
	}
	l.seen[name][rev][passcode.Hash(code)] = true
}

func (l *secretLog) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

func (l *secretLog) result() (map[string]map[int64]map[string]bool, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen, l.events, l.err
}

// watchManagedSecrets lists and then watches the operator's Secrets in ns from the given
// resourceVersion on, re-watching from the last one seen when the API server ends a watch, so that
// every write is seen. If continuity is lost (410 Gone), the log says so.
func watchManagedSecrets(ctx context.Context, c client.WithWatch, ns string) (*secretLog, func(), error) {
	sel := labels.SelectorFromSet(labels.Set{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue})
	list := &corev1.SecretList{}
	if err := c.List(ctx, list, &client.ListOptions{Namespace: ns, LabelSelector: sel}); err != nil {
		return nil, nil, err
	}
	l := &secretLog{seen: map[string]map[int64]map[string]bool{}, issued: make(chan struct{}, 1)}
	for i := range list.Items {
		l.record(&list.Items[i])
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rv := list.ResourceVersion
		for ctx.Err() == nil {
			w, err := c.Watch(ctx, &corev1.SecretList{}, &client.ListOptions{Namespace: ns, LabelSelector: sel,
				Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) {
					l.fail(err)
					return
				}
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				switch ev.Type {
				case watch.Error:
					if ctx.Err() == nil { // not just the end of the test
						l.fail(apierrors.FromObject(ev.Object))
					}
					w.Stop()
					return
				case watch.Bookmark:
					if o, ok := ev.Object.(metav1.Object); ok {
						rv = o.GetResourceVersion()
					}
				default:
					if s, ok := ev.Object.(*corev1.Secret); ok {
						rv = s.ResourceVersion
						if ev.Type != watch.Deleted {
							l.record(s)
						}
					}
				}
			}
		}
	}()
	var once sync.Once
	return l, func() { once.Do(func() { cancel(); <-done }) }, nil
}
