package accessserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/accessserver"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

var clients atomic.Int32

// newClient is a distinct client address (behind the trusted loopback gateway), so that one
// test's failures never throttle another's.
func newClient() string {
	n := clients.Add(1)
	return fmt.Sprintf("198.51.%d.%d", n/250, n%250+1)
}

type reply struct {
	status  int
	body    string
	headers http.Header
}

func do(req *http.Request, from string) reply {
	req.Header.Set("X-Forwarded-For", from)
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return reply{resp.StatusCode, string(b), resp.Header}
}

func verify(from, account, code string) reply {
	body, _ := json.Marshal(map[string]string{"account": account, "passcode": code})
	req, _ := http.NewRequest(http.MethodPost, baseURL+"/v1/verify", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return do(req, from)
}

func auth(from, account, code string) reply {
	req, _ := http.NewRequest(http.MethodGet, baseURL+"/v1/auth", nil)
	req.Header.Set("X-Dashboard-Account-Id", account)
	req.Header.Set("X-Dashboard-Passcode", code)
	return do(req, from)
}

// grant creates a user and an Active passcode for it, and returns the passcode.
func grant(ns, user, name, tenure string, mods ...func(*accessv1alpha1.Passcode)) string {
	if err := op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: user}, &accessv1alpha1.DashboardUser{}); err != nil {
		_, err := op.CreateUser(ctx, ns, user)
		Expect(err).NotTo(HaveOccurred())
	}
	_, err := op.CreatePasscode(ctx, ns, name, user, tenure, mods...)
	Expect(err).NotTo(HaveOccurred())
	return currentPasscode(ns, name, 1)
}

// currentPasscode waits for the given revision and returns the passcode from its Secret.
func currentPasscode(ns, name string, revision int64) string {
	var code string
	Eventually(func(g Gomega) {
		pc := &accessv1alpha1.Passcode{}
		g.Expect(op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pc)).To(Succeed())
		g.Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodeActive))
		g.Expect(pc.Status.Revision).To(Equal(revision))
		s := &corev1.Secret{}
		g.Expect(op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s)).To(Succeed())
		code = string(s.Data[passcodesecret.KeyPasscode])
		g.Expect(code).NotTo(BeEmpty())
	}).Should(Succeed())
	// The access server answers from its own informer cache: wait until it has this revision too.
	Eventually(func() int { return verify(newClient(), ns, code).status }).Should(Equal(http.StatusOK))
	return code
}

func updateUser(ns, name string, change func(*accessv1alpha1.DashboardUser)) {
	Eventually(func() error {
		u := &accessv1alpha1.DashboardUser{}
		if err := op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, u); err != nil {
			return err
		}
		change(u)
		return op.Client.Update(ctx, u)
	}).Should(Succeed())
}

const denied = `{"valid":false}` + "\n"

var _ = Describe("The access server", func() {
	var ns string
	BeforeEach(func() {
		var err error
		ns, err = op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
	})

	It("accepts a granted passcode on /v1/verify and /v1/auth, naming the user and role", func() {
		code := grant(ns, "jane", "jane-api", "30d")
		r := verify(newClient(), ns, code)
		Expect(r.status).To(Equal(http.StatusOK))
		var body map[string]any
		Expect(json.Unmarshal([]byte(r.body), &body)).To(Succeed())
		Expect(body).To(HaveKeyWithValue("valid", true))
		Expect(body).To(HaveKeyWithValue("email", "jane@example.com"))
		Expect(body).To(HaveKeyWithValue("role", "Member"))
		Expect(body).To(HaveKey("expiresAt"))

		r = auth(newClient(), ns, code)
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.headers.Get("X-Dashboard-User")).To(Equal("jane@example.com"))
		Expect(r.headers.Get("X-Dashboard-Role")).To(Equal("Member"))
		Expect(r.headers.Get("Cache-Control")).To(Equal("no-store"))
	})

	It("looks passcodes up in its own index of the informer cache, finding what List and Get find", func() {
		code := grant(ns, "jane", "jane-api", "1h")
		other, err := op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() string { return op.Access.ReadsCache(ctx) }).Should(Equal("index"), "the manager's cache is read through the index")
		same := func(account, code string) func(Gomega) {
			return func(g Gomega) {
				indexed, listed := op.Access.LookupBothWays(ctx, account, code)
				g.Expect(indexed).To(Equal(listed))
			}
		}
		indexed, _ := op.Access.LookupBothWays(ctx, ns, code)
		Expect(indexed).To(HavePrefix("passcode " + ns + "/jane-api "))
		for _, c := range [][2]string{{ns, code}, {ns, wrongCode(code)}, {other, code}, {ns, "hunter2"}, {ns + "/x", code}} {
			Eventually(same(c[0], c[1])).Should(Succeed(), c[0])
		}
		Expect(op.Client.Delete(ctx, &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, "jane")})).To(Succeed())
		Eventually(func() string { indexed, _ := op.Access.LookupBothWays(ctx, ns, code); return indexed }).Should(Equal("nothing"))
		Eventually(same(ns, code)).Should(Succeed())
	})

	It("reads a cache limited to namespaces (--watch-namespaces) through the same index, finding what List and Get find", func() {
		code := grant(ns, "jane", "jane-api", "1h")
		other, err := op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
		c, err := cache.New(op.Config, cache.Options{Scheme: testenv.Scheme(),
			DefaultNamespaces: map[string]cache.Config{ns: {}, other: {}}})
		Expect(err).NotTo(HaveOccurred())
		cacheCtx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = c.Start(cacheCtx) }()
		Expect(c.WaitForCacheSync(cacheCtx)).To(BeTrue())
		srv := accessserver.New(accessserver.Config{Reader: c, APIReader: op.Client, Writer: op.Client, Clock: op.Clock})
		Eventually(func() string { return srv.ReadsCache(ctx) }).Should(Equal("index"))

		same := func(account, code string) func(Gomega) {
			return func(g Gomega) {
				fast, listed := srv.LookupBothWays(ctx, account, code)
				g.Expect(fast).To(Equal(listed))
			}
		}
		Eventually(func() string { fast, _ := srv.LookupBothWays(ctx, ns, code); return fast }).Should(HavePrefix("passcode " + ns + "/jane-api "))
		for _, c := range [][2]string{{ns, code}, {ns, wrongCode(code)}, {other, code}, {ns, "hunter2"}} {
			Eventually(same(c[0], c[1])).Should(Succeed(), c[0])
		}
		updateUser(ns, "jane", func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = accessv1alpha1.RoleAdmin })
		Eventually(func() string { fast, _ := srv.LookupBothWays(ctx, ns, code); return fast }).Should(HaveSuffix(" role Admin"))
		Eventually(same(ns, code)).Should(Succeed())
		Expect(op.Client.Delete(ctx, &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, "jane")})).To(Succeed())
		Eventually(func() string { fast, _ := srv.LookupBothWays(ctx, ns, code); return fast }).Should(Equal("nothing"))
		Eventually(same(ns, code)).Should(Succeed())
	})

	It("answers 401 with the same body for every reason a passcode fails", func() {
		code := grant(ns, "jane", "jane-api", "1h")
		other, err := op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
		failures := map[string]func() reply{
			"wrong passcode":     func() reply { return verify(newClient(), ns, wrongCode(code)) },
			"unknown passcode":   func() reply { return verify(newClient(), ns, "dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA") },
			"not a passcode":     func() reply { return verify(newClient(), ns, "hunter2") },
			"other account":      func() reply { return verify(newClient(), other, code) },
			"auth other account": func() reply { return auth(newClient(), other, code) },
			"auth no headers":    func() reply { return auth(newClient(), "", "") },
		}
		for what, f := range failures {
			r := f()
			Expect(r.status).To(Equal(http.StatusUnauthorized), what)
			Expect(r.body).To(Equal(denied), what)
		}
	})

	It("refuses an expired passcode from expiresAt on, before the controller acts", func() {
		code := grant(ns, "jane", "short", "1h")
		pc := &accessv1alpha1.Passcode{}
		Expect(op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "short"}, pc)).To(Succeed())
		op.Clock.SetTime(pc.Status.ExpiresAt.Add(-time.Second))
		Expect(verify(newClient(), ns, code).status).To(Equal(http.StatusOK))
		op.Clock.SetTime(pc.Status.ExpiresAt.Time) // no poke: the controller has not marked it Expired
		r := verify(newClient(), ns, code)
		Expect(r.status).To(Equal(http.StatusUnauthorized))
		Expect(r.body).To(Equal(denied))
	})

	It("refuses a revoked passcode, a revoked user's and a deleted user's at once", func() {
		revoked := grant(ns, "jane", "revoked", "1h")
		userRevoked := grant(ns, "omar", "omar-api", "1h")
		userDeleted := grant(ns, "li", "li-api", "1h")

		pc := &accessv1alpha1.Passcode{}
		Expect(op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "revoked"}, pc)).To(Succeed())
		patch := []byte(`{"spec":{"revoked":true}}`)
		Expect(op.Client.Patch(ctx, pc, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		updateUser(ns, "omar", func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked })
		Expect(op.Client.Delete(ctx, &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, "li")})).To(Succeed())

		for what, code := range map[string]string{"revoked": revoked, "user revoked": userRevoked, "user deleted": userDeleted} {
			Eventually(func() string { r := verify(newClient(), ns, code); return fmt.Sprint(r.status, " ", r.body) }).
				WithTimeout(time.Second).Should(Equal("401 "+denied), what)
		}
	})

	It("accepts both passcodes during a rotation's grace period, then only the new one", func() {
		first := grant(ns, "jane", "auto", "30d", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, RenewBefore: "10d", GracePeriod: "1h"}
		})
		pc := &accessv1alpha1.Passcode{}
		Expect(op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "auto"}, pc)).To(Succeed())
		op.Clock.SetTime(pc.Status.RenewalTime.Time)
		poke(pc)
		second := currentPasscode(ns, "auto", 2)
		Expect(second).NotTo(Equal(first))
		Expect(verify(newClient(), ns, first).status).To(Equal(http.StatusOK), "the previous passcode works during the grace period")
		indexed, listed := op.Access.LookupBothWays(ctx, ns, first)
		Expect(indexed).To(Equal(listed))
		Expect(indexed).To(HavePrefix("passcode "+ns+"/auto "), "the previous hash is in the index too")
		Expect(verify(newClient(), ns, second).status).To(Equal(http.StatusOK))

		op.Clock.Step(time.Hour)
		Expect(verify(newClient(), ns, first).status).To(Equal(http.StatusUnauthorized), "and stops at validUntil")
		Expect(verify(newClient(), ns, second).status).To(Equal(http.StatusOK))
	})

	It("reports a role edit within a second", func() {
		code := grant(ns, "jane", "jane-api", "1h")
		updateUser(ns, "jane", func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = accessv1alpha1.RoleAdmin })
		Eventually(func() string { return auth(newClient(), ns, code).headers.Get("X-Dashboard-Role") }).
			WithTimeout(time.Second).WithPolling(20 * time.Millisecond).Should(Equal("Admin"))
	})

	It("records last use on the Passcode and last login on the user", func() {
		code := grant(ns, "jane", "jane-api", "1h")
		Expect(verify(newClient(), ns, code).status).To(Equal(http.StatusOK))
		Eventually(func(g Gomega) {
			pc := &accessv1alpha1.Passcode{}
			g.Expect(op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "jane-api"}, pc)).To(Succeed())
			g.Expect(pc.Status.LastUsedAt).NotTo(BeNil())
			g.Expect(pc.Status.LastUsedAt.Time).To(Equal(op.Clock.Now().Truncate(time.Second)))
			u := &accessv1alpha1.DashboardUser{}
			g.Expect(op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "jane"}, u)).To(Succeed())
			g.Expect(u.Status.LastLoginAt).NotTo(BeNil())
			g.Expect(u.Status.Phase).NotTo(BeEmpty(), "the stamp is a patch of one field: the controller's status stays")
		}).Should(Succeed())
	})

	It("throttles repeated failures from one client with 429 and Retry-After, never a valid passcode", func() {
		code := grant(ns, "jane", "jane-api", "1h")
		attacker := newClient()
		for range 10 {
			Expect(verify(attacker, ns, "dpc_WRONGWRONGWRONGWRONGWRONGW").status).To(Equal(http.StatusUnauthorized))
		}
		r := verify(attacker, ns, "dpc_WRONGWRONGWRONGWRONGWRONGW")
		Expect(r.status).To(Equal(http.StatusTooManyRequests))
		Expect(r.headers.Get("Retry-After")).To(MatchRegexp(`^[1-9][0-9]*$`))
		Expect(auth(attacker, ns, "nope").status).To(Equal(http.StatusTooManyRequests))
		Expect(verify(attacker, ns, code).status).To(Equal(http.StatusOK), "a valid passcode is never refused by the throttle")
		Expect(verify(newClient(), ns, "dpc_WRONGWRONGWRONGWRONGWRONGW").status).To(Equal(http.StatusUnauthorized), "other clients are not throttled")
	})

	DescribeTable("answers bad input with a 4xx JSON error, never a 5xx",
		func(method, path, contentType, body string, headers map[string]string, status int, message string) {
			req, err := http.NewRequest(method, baseURL+path, strings.NewReader(body))
			Expect(err).NotTo(HaveOccurred())
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			r := do(req, newClient())
			Expect(r.status).To(Equal(status))
			Expect(r.body).To(ContainSubstring(message))
			if status != http.StatusRequestHeaderFieldsTooLarge {
				Expect(r.headers.Get("Content-Type")).To(Equal("application/json"))
			}
		},
		Entry("malformed JSON", "POST", "/v1/verify", "application/json", `{"account":`, nil, 400, "ends too early"),
		Entry("not an object", "POST", "/v1/verify", "application/json", `"x"`, nil, 400, "must be a"),
		Entry("missing account", "POST", "/v1/verify", "application/json", `{"passcode":"x"}`, nil, 400, "account is required"),
		Entry("missing passcode", "POST", "/v1/verify", "", `{"account":"x"}`, nil, 400, "passcode is required"),
		Entry("unknown field", "POST", "/v1/verify", "application/json", `{"account":"x","passcode":"y","user":"z"}`, nil, 400, "unknown field"),
		Entry("huge body", "POST", "/v1/verify", "application/json", `{"account":"x","passcode":"`+strings.Repeat("y", 1<<20)+`"}`, nil, 400, "the body is over 4 KiB"),
		Entry("wrong content type", "POST", "/v1/verify", "text/plain", `{}`, nil, 415, "application/json"),
		Entry("wrong method", "GET", "/v1/verify", "", ``, nil, 405, "use POST"),
		Entry("unknown path", "GET", "/v2/verify", "", ``, nil, 404, "no such endpoint"),
		Entry("huge headers", "GET", "/v1/auth", "", ``, map[string]string{"X-Dashboard-Passcode": strings.Repeat("p", 64<<10)}, 431, ""),
		Entry("oversized passcode header", "GET", "/v1/auth", "", ``, map[string]string{"X-Dashboard-Account-Id": "x", "X-Dashboard-Passcode": strings.Repeat("p", 4096)}, 401, `{"valid":false}`),
	)
})

// wrongCode is code with its last character changed: a well-formed passcode that is not code (a
// fixed replacement would be code itself whenever code happens to end with it, 1 time in 32).
func wrongCode(code string) string {
	last := "X"
	if strings.HasSuffix(code, last) {
		last = "Y"
	}
	return code[:len(code)-1] + last
}
