// Package reliability runs the manager (the production wiring, setup.NewManager) on a real
// control plane while things go wrong around it: API calls that fail or whose responses get lost,
// and an API server that goes away and comes back. What must hold is what a user relies on: every
// object converges, no passcode is regenerated and no second invite link is made because of a
// transient error or an outage, and the access server keeps answering from its cache.
//
// One manager serves every spec (the metrics it registers can be registered once per process); its
// transport goes through a FaultInjector that the specs switch on and off. The specs' own client
// (op.Client) is never faulted.
//
//	go test ./test/reliability -v -outage=30s -fault-seed=1
package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/transport"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

var (
	outage     = flag.Duration("outage", 30*time.Second, "how long the API server is down in the outage spec")
	faultSeed  = flag.Int64("fault-seed", 1, "seed of the injected API faults (the same seed injects the same faults)")
	readErrors = flag.Float64("read-errors", 0.02, "fraction of the manager's reads (not watches) that fail in the faults spec")
)

var (
	op     *testenv.Operator
	faults *testenv.FaultInjector
	ctx    = context.Background()
	// verifyURL is the access server's /v1/verify.
	verifyURL string
	// certDir keeps the API server's certificates across a restart (see restartable).
	certDir string
)

func TestReliability(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Reliability Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	faults = testenv.NewFaultInjector(*faultSeed, testenv.Faults{})
	var err error
	certDir, err = os.MkdirTemp("", "reliability-apiserver-")
	Expect(err).NotTo(HaveOccurred())
	op, err = testenv.StartOperatorWith(testenv.OperatorConfig{
		WrapTransport: transport.Wrappers(faults.Wrap, writes.Wrap),
		PrepareEnv:    restartable,
		Tune:          func(o *options.Options) { o.InviteBatchWindow = time.Second },
	})
	Expect(err).NotTo(HaveOccurred())
	addr, err := op.Access.Addr(ctx)
	Expect(err).NotTo(HaveOccurred())
	verifyURL = fmt.Sprintf("http://%s/v1/verify", addr)
})

var _ = AfterSuite(func() {
	if op != nil {
		Expect(op.Stop()).To(Succeed())
	}
	if certDir != "" {
		Expect(os.RemoveAll(certDir)).To(Succeed())
	}
})

// restartable prepares the API server to be stopped and started again during the suite.
func restartable(env *envtest.Environment) {
	api := env.ControlPlane.GetAPIServer()
	// envtest gives the API server a temporary certificate folder that Stop deletes, and a restart
	// then makes a new serving CA that no client trusts (controller-runtime v0.25,
	// pkg/internal/testing/controlplane: "restarting invalidates all current users"). With a folder
	// of our own, a restart reuses the same certificates on the same port.
	api.CertDir = certDir
	// On SIGTERM kube-apiserver stops listening at once but then waits up to its request timeout
	// (60s) for open watches, longer than envtest's stop timeout (20s). With this flag it drains
	// the requests in flight (answering new ones 429 with Retry-After meanwhile) and then gives
	// open watches 2s: it is gone within a few seconds.
	api.Configure().Set("shutdown-send-retry-after", "true")
}

// startTicking moves the fake clock by step every period until the returned function is called.
// Reconcilers persist their retry backoff in status (nextRetryAt) and honour it against the
// clock: with a frozen fake clock a Passcode that failed once would wait for ever, so time passes
// while faults are injected, as it does in a cluster. step is small next to every tenure and
// renewal window the specs use, so it never crosses a deadline by itself.
func startTicking(step, period time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				op.Clock.Step(step)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// createUser creates a DashboardUser <name>@example.com whose invite link lasts 30 days, so
// that moving the clock by three weeks leaves it Invited.
func createUser(ns, name string) {
	Expect(op.Client.Create(ctx, &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: accessv1alpha1.RoleMember,
			Invite: &accessv1alpha1.InviteSpec{TTL: "30d"}},
	})).To(Succeed())
}

// mergePatch applies a JSON merge patch with the specs' own (unfaulted) client.
func mergePatch(obj client.Object, patch string) {
	Expect(op.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed(),
		"patching %s with %s", obj.GetName(), patch)
}

var pokes int

// pokeAnnotation is the annotation poke sets.
const pokeAnnotation = "test.dashboardops.io/poke"

// poke changes an annotation so the manager looks at the object again (a fake clock fires no
// workqueue timer, so after moving it the specs touch objects as a person or a resync would). It
// returns the value it set.
func poke(obj client.Object) string {
	pokes++
	v := fmt.Sprint(pokes)
	mergePatch(obj, fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, pokeAnnotation, v))
	return v
}

// requestReset sets the reset annotation, as `kubectl dashboard passcode reset` or a Git commit would.
func requestReset(obj client.Object, value string) {
	mergePatch(obj, fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, accessv1alpha1.ResetRequestedAtAnnotation, value))
}

// counter reads one series of a counter vector.
func counter(c *prometheus.CounterVec, labels ...string) float64 {
	m := &dto.Metric{}
	Expect(c.WithLabelValues(labels...).Write(m)).To(Succeed())
	return m.GetCounter().GetValue()
}

// verify asks the access server about a passcode, as an API gateway does. A request error (the
// access server is gone) is a failure, not an invalid passcode.
func verify(account, code string) (bool, error) {
	body, err := json.Marshal(map[string]string{"account": account, "passcode": code})
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, verifyURL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer func() { _ = resp.Body.Close() }()
	var v struct {
		Valid bool `json:"valid"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return false, fmt.Errorf("status %d, undecodable body: %w", resp.StatusCode, err)
	}
	if v.Valid != (resp.StatusCode == http.StatusOK) {
		return false, fmt.Errorf("status %d with valid=%t", resp.StatusCode, v.Valid)
	}
	return v.Valid, nil
}

// secretWatch records every passcode written to the Secrets of a namespace, from a watch of its
// own (re-established after an outage), so that a passcode replaced without a new revision —
// invisible in the Passcode's status — is seen.
type secretWatch struct {
	mu     sync.Mutex
	hashes map[string]map[string]bool // Secret name -> hashes of the passcodes it held
	stop   context.CancelFunc
	done   chan struct{}
}

func watchSecrets(ns string) *secretWatch {
	wc, err := client.NewWithWatch(op.Config, client.Options{Scheme: testenv.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	wctx, cancel := context.WithCancel(ctx)
	sw := &secretWatch{hashes: map[string]map[string]bool{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(sw.done)
		for wctx.Err() == nil {
			list := &corev1.SecretList{}
			if err := wc.List(wctx, list, client.InNamespace(ns)); err != nil {
				time.Sleep(250 * time.Millisecond)
				continue
			}
			for i := range list.Items {
				sw.record(&list.Items[i])
			}
			w, err := wc.Watch(wctx, &corev1.SecretList{}, client.InNamespace(ns),
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
			if err != nil {
				time.Sleep(250 * time.Millisecond)
				continue
			}
			for e := range w.ResultChan() {
				if s, ok := e.Object.(*corev1.Secret); ok {
					sw.record(s)
				}
			}
			w.Stop()
		}
	}()
	DeferCleanup(func() { cancel(); <-sw.done })
	return sw
}

func (sw *secretWatch) record(s *corev1.Secret) {
	v := s.Data[passcodesecret.KeyPasscode]
	if len(v) == 0 {
		return
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.hashes[s.Name] == nil {
		sw.hashes[s.Name] = map[string]bool{}
	}
	sw.hashes[s.Name][passcode.Hash(string(v))] = true
}

// issued is how many different passcodes the Secret held so far.
func (sw *secretWatch) issued(name string) int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return len(sw.hashes[name])
}

// eventsAbout lists the Events about an object, oldest first. Event writes are faulted too in the
// faults spec, and repeated Events may be merged into one series, so they are evidence, not counts.
func eventsAbout(ns, name string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	Expect(op.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	sort.SliceStable(list.Items, func(i, j int) bool {
		return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp)
	})
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// eventReasons lists the reasons of the Events about an object, oldest first.
func eventReasons(ns, name string) []string {
	events := eventsAbout(ns, name)
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, e.Reason)
	}
	return out
}

// eventNotes lists the reasons and notes of the Events about an object, oldest first.
func eventNotes(ns, name string) []string {
	events := eventsAbout(ns, name)
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, e.Reason+": "+e.Note)
	}
	return out
}
