package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/setup"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// controller-runtime's leader election defaults, which the manager keeps.
const (
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
)

// TestLeaderFailoverKeepsRotatingAndAnswering runs two manager processes with leader election on
// a real control plane. The leader issues the passcodes; it is SIGKILLed shortly before their
// automatic rotations fall due. The other replica must take the Lease over within the lease
// duration (plus the retry period it polls with) and carry out the rotations that fell due, and
// during the whole test both replicas (the killed one until it dies) must answer POST /v1/verify
// correctly from their caches, every ~200 ms, without one wrong answer.
func TestLeaderFailoverKeepsRotatingAndAnswering(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cp := startControlPlane(t, dir)
	c := cp.Client
	ctx := context.Background()
	const leaseNS, ns = "access-system", "failover"
	createNamespaces(t, c, leaseNS, ns)

	args := []string{"--leader-elect", "--leader-election-namespace=" + leaseNS}
	replicas := []*testenv.ManagerProcess{
		startManagerProcess(t, dir, cp, "replica-a", args...),
		startManagerProcess(t, dir, cp, "replica-b", args...),
	}

	// Rotation every minute (the shortest renewBefore the API takes) with a 2m tenure: the outage
	// cannot reach expiry. The grace period keeps the replaced passcode working while every
	// replica's cache learns the new one.
	users := map[string]string{"ada": "ada@example.com", "bo": "bo@example.com"}
	for name, email := range users {
		u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: accessv1alpha1.DashboardUserSpec{Email: email, Role: accessv1alpha1.RoleMember}}
		if err := c.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	const passcodes = 8
	for i := range passcodes {
		pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("key-%d", i)},
			Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: []string{"ada", "bo"}[i%2]}, Tenure: "2m",
				Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, RenewBefore: "1m", GracePeriod: "1m"}}}
		if err := c.Create(ctx, pc); err != nil {
			t.Fatal(err)
		}
	}

	leader := waitForLeader(t, replicas)
	var survivor *testenv.ManagerProcess
	for _, r := range replicas {
		if r != leader {
			survivor = r
		}
	}
	lease := &coordinationv1.Lease{}
	leaseKey := types.NamespacedName{Namespace: leaseNS, Name: setup.LeaderElectionID}
	if err := c.Get(ctx, leaseKey, lease); err != nil || lease.Spec.HolderIdentity == nil {
		t.Fatalf("no Lease %s with a holder: %v", leaseKey, err)
	}
	oldHolder := *lease.Spec.HolderIdentity
	t.Logf("%s leads (%s)", leader.Name, oldHolder)

	var issued *accessv1alpha1.PasscodeList
	waitFor(t, 30*time.Second, "every passcode to be issued", func() bool {
		list, ok := consistentPasscodes(ctx, c, ns)
		issued = list
		return ok && len(list.Items) == passcodes
	})

	v := newVerifier(ns, users, replicas)
	stop := v.run(ctx, c)
	defer stop()

	// Kill the leader 12 s before the first renewal: the rotations fall due while no one leads.
	firstRenewal := issued.Items[0].Status.RenewalTime.Time
	revAtKill := map[string]int64{}
	for _, pc := range issued.Items {
		revAtKill[pc.Name] = pc.Status.Revision
		if pc.Status.RenewalTime.Before(&metav1.Time{Time: firstRenewal}) {
			firstRenewal = pc.Status.RenewalTime.Time
		}
	}
	time.Sleep(time.Until(firstRenewal.Add(-12 * time.Second)))
	v.dead(leader)
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	// The premise: the leader died before any rotation fell due, and it rotated none before.
	if !killedAt.Before(firstRenewal) {
		t.Fatalf("premise: the leader was killed %v after the first renewal time (the sleep overran): the rotations did not fall due "+
			"while no one led", killedAt.Sub(firstRenewal).Round(time.Millisecond))
	}
	if list, ok := consistentPasscodes(ctx, c, ns); ok {
		for _, pc := range list.Items {
			if pc.Status.Revision != revAtKill[pc.Name] {
				t.Fatalf("premise: %s was rotated (revision %d, %d before) by the leader before it was killed", pc.Name,
					pc.Status.Revision, revAtKill[pc.Name])
			}
		}
	}

	var newHolder string
	waitFor(t, 60*time.Second, "another replica to take the Lease", func() bool {
		l := &coordinationv1.Lease{}
		if c.Get(ctx, leaseKey, l) != nil || l.Spec.HolderIdentity == nil {
			return false
		}
		newHolder = *l.Spec.HolderIdentity
		return newHolder != "" && newHolder != oldHolder
	})
	takeover := time.Since(killedAt)
	// The survivor sees the dead leader's last renewal within one (jittered) retry period, may take
	// the Lease once leaseDuration has passed since, and tries every (jittered) retry period.
	if limit := leaseDuration + 2*retryPeriod*6/5 + 5*time.Second; takeover > limit {
		t.Errorf("the Lease was taken over %v after the leader died, want at most %v", takeover.Round(time.Millisecond), limit)
	}
	// The Lease is written before the new leader logs that it acquired it.
	waitFor(t, 5*time.Second, survivor.Name+" to log that it acquired the Lease held by "+newHolder, func() bool {
		return strings.Contains(strings.ToLower(survivor.Output()), "successfully acquired lease")
	})
	t.Logf("%s took the Lease over %v after %s was killed", survivor.Name, takeover.Round(time.Millisecond), leader.Name)
	if tookOver := killedAt.Add(takeover); !tookOver.After(firstRenewal) {
		t.Fatalf("premise: the Lease was taken over %v before the first renewal time: no rotation fell due while no one led",
			firstRenewal.Sub(tookOver).Round(time.Millisecond))
	}

	// The survivor finishes the rotations that fell due.
	waitFor(t, 45*time.Second, "the survivor to rotate every passcode", func() bool {
		list, ok := consistentPasscodes(ctx, c, ns)
		if !ok || len(list.Items) != passcodes {
			return false
		}
		for _, pc := range list.Items {
			if pc.Status.Revision <= revAtKill[pc.Name] {
				return false
			}
		}
		return true
	})
	t.Logf("every passcode rotated %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	// The survivor keeps answering, with the rotated passcodes once they are taken into use.
	waitFor(t, 15*time.Second, "the test to ask with every rotated passcode", func() bool {
		return v.askingAbove(revAtKill)
	})
	time.Sleep(2 * time.Second)
	stop()

	wrong, answers := v.result()
	for name, n := range answers {
		t.Logf("%s answered %d verifications", name, n)
	}
	if answers[survivor.Name] == 0 || answers[leader.Name] == 0 {
		t.Errorf("a replica was never asked: %v", answers)
	}
	if len(wrong) > 0 {
		t.Errorf("%d wrong answers, first ones:\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 20)], "\n"))
	}
	if !survivor.Running() {
		t.Errorf("%s exited: %v", survivor.Name, survivor.ExitErr())
	}
}

// waitForLeader waits until exactly one replica logged that it acquired the Lease.
func waitForLeader(t *testing.T, replicas []*testenv.ManagerProcess) *testenv.ManagerProcess {
	t.Helper()
	var leaders []*testenv.ManagerProcess
	waitFor(t, 30*time.Second, "a replica to acquire the Lease", func() bool {
		leaders = leaders[:0]
		for _, r := range replicas {
			if strings.Contains(strings.ToLower(r.Output()), "successfully acquired lease") {
				leaders = append(leaders, r)
			}
		}
		return len(leaders) > 0
	})
	if len(leaders) != 1 {
		t.Fatalf("%d replicas say they acquired the Lease", len(leaders))
	}
	return leaders[0]
}

// consistentPasscodes lists the Passcodes of ns and reports whether each is Active and Ready with a
// Secret that holds the passcode of status.hash at status.revision (a live read, no cache).
func consistentPasscodes(ctx context.Context, c client.Client, ns string) (*accessv1alpha1.PasscodeList, bool) {
	list := &accessv1alpha1.PasscodeList{}
	secrets := &corev1.SecretList{}
	if c.List(ctx, list, client.InNamespace(ns)) != nil || c.List(ctx, secrets, client.InNamespace(ns)) != nil {
		return list, false
	}
	byName := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		byName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	for i := range list.Items {
		if why := passcodeProblem(&list.Items[i], byName[passcodesecret.Name(&list.Items[i])], time.Now()); why != "" {
			return list, false
		}
	}
	slices.SortFunc(list.Items, func(a, b accessv1alpha1.Passcode) int { return strings.Compare(a.Name, b.Name) })
	return list, true
}

// passcodeProblem says what is wrong with an Automatic Passcode and its Secret at now, or "".
func passcodeProblem(pc *accessv1alpha1.Passcode, s *corev1.Secret, now time.Time) string {
	st := pc.Status
	ready := apimeta.FindStatusCondition(st.Conditions, accessv1alpha1.ConditionReady)
	switch {
	case st.Phase != accessv1alpha1.PasscodeActive:
		return fmt.Sprintf("phase %q", st.Phase)
	case ready == nil || ready.Status != metav1.ConditionTrue:
		return "not Ready"
	case st.ObservedGeneration != pc.Generation:
		return "status behind the spec"
	case s == nil:
		return "no Secret"
	case !passcode.Matches(string(s.Data[passcodesecret.KeyPasscode]), st.Hash):
		return fmt.Sprintf("the Secret's passcode (revision %s) does not match status.hash (revision %d)",
			s.Annotations[passcodesecret.RevisionAnnotation], st.Revision)
	case s.Annotations[passcodesecret.RevisionAnnotation] != fmt.Sprint(st.Revision):
		return fmt.Sprintf("the Secret says revision %s, status %d", s.Annotations[passcodesecret.RevisionAnnotation], st.Revision)
	case st.ExpiresAt == nil || !now.Before(st.ExpiresAt.Time):
		return "expired"
	case st.RenewalTime == nil || now.After(st.RenewalTime.Add(10*time.Second)):
		return "rotation overdue by more than 10 s"
	}
	return ""
}

// verifier asks every live replica about every Passcode's current passcode every ~200 ms.
//
// "Current" is what the Secret holds, taken into use once status.hash has shown it for 3 s: the
// Secret is written before the status that makes its passcode valid, and each replica's cache
// learns that status a moment later. Until then the test keeps using the passcode it had, which
// the grace period keeps valid; so every answer has one right value, and any other is wrong.
type verifier struct {
	ns       string
	emails   map[string]string // user -> email
	replicas []*testenv.ManagerProcess
	alive    map[string]*atomic.Bool

	mu      sync.Mutex
	current map[string]usable // Passcode -> what to ask with
	pending map[string]usable // Passcode -> the next one, waiting out the 3 s
	wrong   []string
	answers map[string]int
}

type usable struct {
	code, email string
	revision    int64
	since       time.Time
}

func newVerifier(ns string, emails map[string]string, replicas []*testenv.ManagerProcess) *verifier {
	v := &verifier{ns: ns, emails: emails, replicas: replicas, alive: map[string]*atomic.Bool{},
		current: map[string]usable{}, pending: map[string]usable{}, answers: map[string]int{}}
	for _, r := range replicas {
		v.alive[r.Name] = &atomic.Bool{}
		v.alive[r.Name].Store(true)
	}
	return v
}

// dead stops asking r, before it is killed: answers it gives from then on do not count.
func (v *verifier) dead(r *testenv.ManagerProcess) { v.alive[r.Name].Store(false) }

// run polls until the returned stop is called (stop may be called more than once).
func (v *verifier) run(ctx context.Context, c client.Client) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
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
		hc := &http.Client{Timeout: 5 * time.Second}
		for ctx.Err() == nil {
			v.ask(ctx, hc)
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

func (v *verifier) track(ctx context.Context, c client.Client) {
	list := &accessv1alpha1.PasscodeList{}
	secrets := &corev1.SecretList{}
	if c.List(ctx, list, client.InNamespace(v.ns)) != nil || c.List(ctx, secrets, client.InNamespace(v.ns)) != nil {
		return
	}
	byName := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		byName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range list.Items {
		pc := &list.Items[i]
		s := byName[passcodesecret.Name(pc)]
		if s == nil || pc.Status.Phase != accessv1alpha1.PasscodeActive {
			continue
		}
		code := string(s.Data[passcodesecret.KeyPasscode])
		if !passcode.Matches(code, pc.Status.Hash) || code == v.current[pc.Name].code {
			continue
		}
		next, waiting := v.pending[pc.Name]
		switch {
		case !waiting || next.code != code:
			v.pending[pc.Name] = usable{code: code, email: v.emails[pc.Spec.UserRef.Name], revision: pc.Status.Revision, since: now}
		case now.Sub(next.since) >= 3*time.Second:
			v.current[pc.Name] = next
			delete(v.pending, pc.Name)
		}
	}
}

func (v *verifier) ask(ctx context.Context, hc *http.Client) {
	v.mu.Lock()
	current := maps.Clone(v.current)
	v.mu.Unlock()
	for _, r := range v.replicas {
		for name, u := range current {
			if !v.alive[r.Name].Load() || ctx.Err() != nil {
				break
			}
			status, email, err := verifyPasscode(ctx, hc, r.AccessURL(), v.ns, u.code)
			if !v.alive[r.Name].Load() || ctx.Err() != nil {
				break // killed meanwhile: its answer does not count
			}
			v.mu.Lock()
			v.answers[r.Name]++
			if err != nil || status != http.StatusOK || email != u.email {
				v.wrong = append(v.wrong, fmt.Sprintf("%s %s: %s revision %d: status %d email %q err %v",
					time.Now().Format("15:04:05.000"), r.Name, name, u.revision, status, email, err))
			}
			v.mu.Unlock()
		}
	}
}

// askingAbove reports whether every Passcode is asked about with a revision above min's.
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

func (v *verifier) result() ([]string, map[string]int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.wrong), maps.Clone(v.answers)
}

// verifyPasscode asks POST /v1/verify; it returns the status and, when valid, the user's email.
func verifyPasscode(ctx context.Context, hc *http.Client, baseURL, account, code string) (int, string, error) {
	body, _ := json.Marshal(map[string]string{"account": account, "passcode": code})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/verify", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Valid bool   `json:"valid"`
		Email string `json:"email"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, out.Email, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// startControlPlane starts a control plane of the test's own, stopped when the test ends.
func startControlPlane(t *testing.T, dir string) *testenv.ControlPlane {
	t.Helper()
	cp, err := testenv.StartControlPlane(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	return cp
}

func createNamespaces(t *testing.T, c client.Client, names ...string) {
	t.Helper()
	for _, ns := range names {
		if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
}

// startManagerProcess starts the built manager on cp and waits until it is ready. When the test
// ends it is stopped with SIGTERM, and its output is shown if the test failed.
func startManagerProcess(t *testing.T, dir string, cp *testenv.ControlPlane, name string, args ...string) *testenv.ManagerProcess {
	t.Helper()
	m, err := testenv.NewManagerProcess(name, filepath.Join(binDir, "manager"), cp.Kubeconfig, filepath.Join(dir, name+".log"), args...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Terminate(20 * time.Second); err != nil {
			t.Errorf("stopping %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s output (last 80 lines):\n%s", name, m.Tail(80))
		}
	})
	if err := m.WaitReady(60 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, m.Tail(40))
	}
	return m
}
