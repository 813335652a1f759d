package reliability

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

// maxWritesPerPasscodeLife bounds the manager's writes (Passcode, its status, its Secret, its
// Events, its user's status) over one Passcode's life from issue to expiry, with the default
// lifecycle notifications (passcode.expiring, passcode.expired) on. It is today's figure, so that
// a new write fails here; which writes they are, and why each remains, is in docs/performance.md
// (issue 25 asks for 8: what that would take is written there too).
const maxWritesPerPasscodeLife = 10

// writeRecorder counts the manager's writes as they leave its transport (what the API server
// receives), per namespace, as "VERB resource[/subresource]".
type writeRecorder struct {
	mu     sync.Mutex
	counts map[string]map[string]int // namespace -> key -> writes
}

var writes = &writeRecorder{counts: map[string]map[string]int{}}

func (w *writeRecorder) Wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		switch req.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			if ns, key, ok := writeKey(req.Method, req.URL.Path); ok {
				w.mu.Lock()
				if w.counts[ns] == nil {
					w.counts[ns] = map[string]int{}
				}
				w.counts[ns][key]++
				w.mu.Unlock()
			}
		}
		return next.RoundTrip(req)
	})
}

// in returns a copy of the counts of namespace ns.
func (w *writeRecorder) in(ns string) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.counts[ns])
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// writeKey parses .../namespaces/<ns>/<resource>[/<name>[/<subresource>]].
func writeKey(method, path string) (ns, key string, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	i := slices.Index(parts, "namespaces")
	if i < 0 || len(parts) < i+3 {
		return "", "", false
	}
	rest := parts[i+2:]
	key = method + " " + rest[0]
	if len(rest) > 2 {
		key += "/" + rest[2]
	}
	return parts[i+1], key, true
}

var _ = Describe("A passcode's whole life", func() {
	It("costs at most 10 manager writes from issue to expiry, with the default notifications", func() {
		passcodeLives(20, lifeCase{})
	})
	It("costs at most 10 manager writes with its user created with it, the user's invite included", func() {
		passcodeLives(20, lifeCase{withUsers: true})
	})
	It("costs at most 9 manager writes when granted by the users page or the plugin (owner reference set at create)", func() {
		passcodeLives(20, lifeCase{granted: true})
	})
})

// lifeCase says how passcodeLives makes its objects.
type lifeCase struct {
	// withUsers creates each user with its Passcode (its invite counted: that one status write also
	// carries the user's Passcode column); otherwise the users are invited first, uncounted.
	withUsers bool
	// granted creates the Passcodes as the users page and the plugin do (ops.GrantPasscode, which
	// sets the owner reference); otherwise as a manifest from Git would be, without one.
	granted bool
}

// passcodeLives runs n Passcodes of the shortest tenure from issue to expiry and checks the
// manager's writes against maxWritesPerPasscodeLife, each Passcode for a user of its own. The spec moves
// the clock past each deadline and pokes the Passcodes, so the count does not depend on timing.
// (With the clock running at the wall clock's pace and the manager's own timers crossing the
// deadlines, one run counted the same per Passcode, plus 2 user status writes over 20 users.)
func passcodeLives(n int, c lifeCase) {
	ns, err := op.NewNamespace(ctx)
	Expect(err).NotTo(HaveOccurred())
	var base map[string]int
	if !c.withUsers {
		for i := range n {
			createUser(ns, fmt.Sprintf("u%d", i))
		}
		// The users' own writes (invites) are not the passcodes': count from when they settled.
		Eventually(func(g Gomega) {
			list := &accessv1alpha1.DashboardUserList{}
			g.Expect(op.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(n))
			for _, u := range list.Items {
				g.Expect(u.Status.Phase).To(Equal(accessv1alpha1.UserInvited), u.Name)
			}
		}).WithTimeout(time.Minute).Should(Succeed())
		writesSettled(ns)
		base = writes.in(ns)
	}

	for i := range n {
		if c.withUsers {
			createUser(ns, fmt.Sprintf("u%d", i))
		}
		spec := accessv1alpha1.PasscodeSpec{Tenure: "1m"} // the shortest the CRD allows
		if c.granted {
			_, err := ops.GrantPasscode(ctx, op.Client, ns, fmt.Sprintf("u%d", i), &ops.PasscodeRequest{Name: fmt.Sprintf("p%d", i)},
				spec, ops.DryRunNone)
			Expect(err).NotTo(HaveOccurred())
			continue
		}
		spec.UserRef = accessv1alpha1.UserReference{Name: fmt.Sprintf("u%d", i)}
		Expect(op.Client.Create(ctx, &accessv1alpha1.Passcode{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("p%d", i)}, Spec: spec,
		})).To(Succeed())
	}
	all := func(cond func(g Gomega, pc *accessv1alpha1.Passcode)) []accessv1alpha1.Passcode {
		var items []accessv1alpha1.Passcode
		Eventually(func(g Gomega) {
			list := &accessv1alpha1.PasscodeList{}
			g.Expect(op.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(n))
			for i := range list.Items {
				cond(g, &list.Items[i])
			}
			items = list.Items
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		return items
	}
	sent := func(g Gomega, pc *accessv1alpha1.Passcode, types ...string) {
		g.Expect(pc.Status.Notifications).NotTo(BeNil(), pc.Name)
		g.Expect(pc.Status.Notifications.Sent).To(Equal(types), pc.Name)
	}
	items := all(func(g Gomega, pc *accessv1alpha1.Passcode) {
		g.Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodeActive), pc.Name)
	})
	// The clock stands still, so every passcode was issued at the same instant: one time
	// travel crosses each deadline for all of them.
	expires := items[0].Status.ExpiresAt.Time
	for _, pc := range items {
		Expect(pc.Status.ExpiresAt.Time).To(Equal(expires))
	}
	writesSettled(ns)

	// passcode.expiring is due at expiresAt - renewBefore (a third of the tenure).
	op.Clock.SetTime(expires.Add(-20 * time.Second))
	pokeAll(items)
	all(func(g Gomega, pc *accessv1alpha1.Passcode) { sent(g, pc, "passcode.expiring") })
	writesSettled(ns)
	op.Clock.SetTime(expires)
	pokeAll(items)
	all(func(g Gomega, pc *accessv1alpha1.Passcode) {
		g.Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodeExpired), pc.Name)
		sent(g, pc, "passcode.expiring", "passcode.expired")
	})
	writesSettled(ns)

	after := writes.in(ns)
	total := 0
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if d := after[k] - base[k]; d > 0 {
			total += d
			lines = append(lines, fmt.Sprintf("  %-40s %5d  %.2f per passcode", k, d, float64(d)/float64(n)))
		}
	}
	GinkgoWriter.Printf("manager writes over %d passcode lives (issue to expiry):\n%s\n  total %d, %.2f per passcode\n",
		n, strings.Join(lines, "\n"), total, float64(total)/float64(n))
	AddReportEntry("writes per passcode life", fmt.Sprintf("%.2f\n%s", float64(total)/float64(n), strings.Join(lines, "\n")))
	bound := maxWritesPerPasscodeLife * n
	if c.granted {
		bound -= n // no owner reference to add
	}
	if c.withUsers {
		bound++ // the namespace's invite key Secret, created once with the first invite
	}
	// Slack of one write per ten lives: a user's status is written once more when its Passcode's
	// changes reach the user reconciler in two reconciles instead of one (seen: 201 of 200 in CI,
	// one more in 20 lives at the real clock's pace). A new write per life (+n) still fails.
	bound += n / 10
	Expect(total).To(BeNumerically("<=", bound),
		"%.2f manager writes per passcode life, want at most %d in all:\n%s", float64(total)/float64(n), bound, strings.Join(lines, "\n"))
}

// pokeAll pokes every Passcode of items (the fake clock fires no workqueue timer).
func pokeAll(items []accessv1alpha1.Passcode) {
	for i := range items {
		poke(&accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: items[i].Namespace, Name: items[i].Name}})
	}
}

// writesSettled waits until the manager's writes in ns have stopped for two seconds (a quiet period,
// not a timed assertion: more writes only make it wait longer).
func writesSettled(ns string) {
	last, quiet := writes.in(ns), 0
	Eventually(func() int {
		now := writes.in(ns)
		if maps.Equal(now, last) {
			quiet++
		} else {
			quiet, last = 0, now
		}
		return quiet
	}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(BeNumerically(">=", 4))
}
