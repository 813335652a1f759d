package accessserver_test

import (
	"context"
	"encoding/json"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/accessserver"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// authRequiring asks /v1/auth with a required permission in the query (as nginx's auth_request
// location does) or, when inHeader, in X-Dashboard-Required-Permission.
func authRequiring(from, account, code, permission string, inHeader bool) reply {
	url := baseURL + "/v1/auth"
	if !inHeader {
		url += "?permission=" + permission
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Dashboard-Account-Id", account)
	req.Header.Set("X-Dashboard-Passcode", code)
	if inHeader {
		req.Header.Set("X-Dashboard-Required-Permission", permission)
	}
	return do(req, from)
}

func permissionsOf(r reply) []string {
	var body struct {
		Permissions *[]string `json:"permissions"`
	}
	Expect(json.Unmarshal([]byte(r.body), &body)).To(Succeed(), r.body)
	Expect(body.Permissions).NotTo(BeNil(), "a valid answer always lists permissions: %s", r.body)
	return *body.Permissions
}

func createRole(ns, name string, perms ...accessv1alpha1.Permission) {
	Expect(op.Client.Create(ctx, &accessv1alpha1.DashboardRole{ObjectMeta: metaName(ns, name),
		Spec: accessv1alpha1.DashboardRoleSpec{Permissions: perms}})).To(Succeed())
}

func setRolePermissions(ns, name string, perms ...accessv1alpha1.Permission) {
	Eventually(func() error {
		dr := &accessv1alpha1.DashboardRole{}
		if err := op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, dr); err != nil {
			return err
		}
		dr.Spec.Permissions = perms
		return op.Client.Update(ctx, dr)
	}).Should(Succeed())
}

const forbiddenWrite = `{"valid":false,"error":"missing permission reports.write"}` + "\n"

var _ = Describe("Permissions", func() {
	var ns string
	BeforeEach(func() {
		var err error
		ns, err = op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
	})

	It("answers a system role's permissions, and 403 for a required one it lacks, 200 for one it holds", func() {
		code := grant(ns, "jane", "jane-api", "30d") // a Member
		r := verify(newClient(), ns, code)
		Expect(permissionsOf(r)).To(Equal([]string{"reports.read", "dashboards.read", "segments.read", "campaigns.read"}))
		r = auth(newClient(), ns, code)
		Expect(r.headers.Get("X-Dashboard-Permissions")).To(Equal("reports.read,dashboards.read,segments.read,campaigns.read"))

		for _, inHeader := range []bool{false, true} {
			r = authRequiring(newClient(), ns, code, "reports.write", inHeader)
			Expect(r.status).To(Equal(http.StatusForbidden))
			Expect(r.body).To(Equal(forbiddenWrite))
			Expect(r.headers.Get("X-Dashboard-User")).To(BeEmpty(), "a refusal carries no identity")
			r = authRequiring(newClient(), ns, code, "reports.read", inHeader)
			Expect(r.status).To(Equal(http.StatusOK))
			Expect(r.headers.Get("X-Dashboard-User")).To(Equal("jane@example.com"))
		}
		Expect(authRequiring(newClient(), ns, wrongCode(code), "reports.write", false).status).To(Equal(http.StatusUnauthorized),
			"a wrong passcode stays 401 whatever is required")
	})

	It("answers 400 naming the header or parameter for an unknown required permission", func() {
		code := grant(ns, "jane", "jane-api", "30d")
		r := authRequiring(newClient(), ns, code, "reports.delete", false)
		Expect(r.status).To(Equal(http.StatusBadRequest))
		Expect(r.body).To(ContainSubstring(`query parameter permission: unknown permission \"reports.delete\"; must be one of reports.read, reports.write`))
		r = authRequiring(newClient(), ns, code, "reports.delete", true)
		Expect(r.status).To(Equal(http.StatusBadRequest))
		Expect(r.body).To(ContainSubstring(`header X-Dashboard-Required-Permission: unknown permission`))
	})

	It("never throttles a valid passcode refused for a permission, nor counts it as a failure", func() {
		code := grant(ns, "jane", "jane-api", "30d")
		client := newClient()
		for range 25 {
			Expect(authRequiring(client, ns, code, "reports.write", false).status).To(Equal(http.StatusForbidden))
		}
		Expect(auth(client, ns, wrongCode(code)).status).To(Equal(http.StatusUnauthorized), "the 403s were not failures")
	})

	It("follows a custom role: an edit takes effect on the next requests, a deleted role grants nothing", func() {
		createRole(ns, "analyst", "reports.read")
		code := grant(ns, "jane", "jane-api", "30d")
		updateUser(ns, "jane", func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = "analyst" })
		Eventually(func() string { return auth(newClient(), ns, code).headers.Get("X-Dashboard-Role") }).Should(Equal("analyst"))
		Expect(permissionsOf(verify(newClient(), ns, code))).To(Equal([]string{"reports.read"}))
		Expect(authRequiring(newClient(), ns, code, "reports.write", false).status).To(Equal(http.StatusForbidden))

		setRolePermissions(ns, "analyst", "reports.write", "reports.read")
		Eventually(func() int { return authRequiring(newClient(), ns, code, "reports.write", false).status }).
			Should(Equal(http.StatusOK), "the edit is seen from the cache")
		Expect(auth(newClient(), ns, code).headers.Get("X-Dashboard-Permissions")).To(Equal("reports.read,reports.write"))

		Expect(op.Client.Delete(ctx, &accessv1alpha1.DashboardRole{ObjectMeta: metaName(ns, "analyst")})).To(Succeed())
		Eventually(func() []string { return permissionsOf(verify(newClient(), ns, code)) }).Should(BeEmpty())
		r := verify(newClient(), ns, code)
		Expect(r.status).To(Equal(http.StatusOK), "the passcode stays valid")
		Expect(r.body).To(ContainSubstring(`"permissions":[]`))
		r = auth(newClient(), ns, code)
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.headers).To(HaveKeyWithValue("X-Dashboard-Permissions", []string{""}))
		Expect(authRequiring(newClient(), ns, code, "reports.read", false).status).To(Equal(http.StatusForbidden))

		createRole(ns, "analyst", "users.manage")
		Eventually(func() string { return auth(newClient(), ns, code).headers.Get("X-Dashboard-Permissions") }).Should(Equal("users.manage"))
	})

	It("reads roles from its index, over the manager's cache and over one limited to namespaces (--watch-namespaces)", func() {
		createRole(ns, "analyst", "reports.read")
		other, err := op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() string { return op.Access.PermissionsOf(ctx, ns, "analyst") }).Should(Equal("reports.read"))
		Expect(op.Access.PermissionsOf(ctx, other, "analyst")).To(BeEmpty())

		c, err := cache.New(op.Config, cache.Options{Scheme: testenv.Scheme(),
			DefaultNamespaces: map[string]cache.Config{ns: {}, other: {}}})
		Expect(err).NotTo(HaveOccurred())
		cacheCtx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = c.Start(cacheCtx) }()
		Expect(c.WaitForCacheSync(cacheCtx)).To(BeTrue())
		srv := accessserver.New(accessserver.Config{Reader: c, APIReader: op.Client, Writer: op.Client, Clock: op.Clock})
		Eventually(func() string { return srv.ReadsCache(ctx) }).Should(Equal("index"))
		Expect(srv.PermissionsOf(ctx, ns, "analyst")).To(Equal("reports.read"))
		Expect(srv.PermissionsOf(ctx, other, "analyst")).To(BeEmpty())
		setRolePermissions(ns, "analyst", "reports.read", "exports.download")
		Eventually(func() string { return srv.PermissionsOf(ctx, ns, "analyst") }).Should(Equal("reports.read,exports.download"))
		Expect(op.Client.Delete(ctx, &accessv1alpha1.DashboardRole{ObjectMeta: metaName(ns, "analyst")})).To(Succeed())
		Eventually(func() string { return srv.PermissionsOf(ctx, ns, "analyst") }).Should(BeEmpty())
		Expect(srv.PermissionsOf(ctx, ns, "Admin")).To(HavePrefix("reports.read,reports.write,"))
	})
})
