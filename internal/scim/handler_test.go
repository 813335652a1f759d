package scim_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/scim"
	"github.com/dashboardops/access-operator/internal/testenv"
)

func newUser(userName string, extra map[string]any) map[string]any {
	u := map[string]any{"schemas": []any{scim.SchemaUser}, "userName": userName, "active": true}
	for k, v := range extra {
		u[k] = v
	}
	return u
}

func patchBody(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []any{scim.SchemaPatchOp}, "Operations": list}
}

// expectSCIMError checks a in the SCIM error schema.
func expectSCIMError(a answer, status int, scimType string) {
	GinkgoHelper()
	Expect(a.status).To(Equal(status), "body %v", a.body)
	Expect(a.body).To(HaveKeyWithValue("schemas", ConsistOf(scim.SchemaError)))
	Expect(a.body).To(HaveKeyWithValue("status", strconv.Itoa(status)), "the status is a string")
	if scimType != "" {
		Expect(a.body).To(HaveKeyWithValue("scimType", scimType))
	}
}

// created creates userName over SCIM and waits until the cache serves it.
func created(ns, token, userName string) string {
	a := call(http.MethodPost, ns+"/Users", token, newUser(userName, nil))
	Expect(a.status).To(Equal(http.StatusCreated), "body %v", a.body)
	id := a.body["id"].(string)
	Eventually(func() int { return call(http.MethodGet, ns+"/Users/"+id, token, nil).status }).Should(Equal(http.StatusOK))
	return id
}

var _ = Describe("Authentication", func() {
	It("answers 401 with WWW-Authenticate without a token, with a wrong one, and with another account's", func() {
		a := account("token-of-a-0123456789")
		b := account("token-of-b-0123456789")
		for _, tc := range []struct{ ns, token string }{{a, ""}, {a, "wrong-token-0123456789"}, {a, "token-of-b-0123456789"}, {b, "token-of-a-0123456789"}, {"no-such-ns", "token-of-a-0123456789"}} {
			ans := call(http.MethodGet, tc.ns+"/Users", tc.token, nil)
			expectSCIMError(ans, http.StatusUnauthorized, "")
			Expect(ans.header.Get("WWW-Authenticate")).To(HavePrefix("Bearer"))
		}
		Expect(call(http.MethodGet, a+"/Users", "token-of-a-0123456789", nil).status).To(Equal(http.StatusOK))
		Expect(call(http.MethodGet, b+"/ServiceProviderConfig", "token-of-b-0123456789", nil).status).To(Equal(http.StatusOK))
	})

	It("throttles a client that keeps failing, with 429 in SCIM's error schema, and never a valid token", func() {
		ns := account("throttle-token-0123456789")
		guesser := nextClient()
		for range 10 { // the access server's default burst
			Expect(call(http.MethodGet, ns+"/Users", "guess-0123456789abcdef", nil, "X-Forwarded-For", guesser).status).To(Equal(http.StatusUnauthorized))
		}
		ans := call(http.MethodGet, ns+"/Users", "guess-0123456789abcdef", nil, "X-Forwarded-For", guesser)
		expectSCIMError(ans, http.StatusTooManyRequests, "")
		Expect(ans.header.Get("Retry-After")).NotTo(BeEmpty())
		// The same address with the account's token: an identity provider behind the same ingress.
		Expect(call(http.MethodGet, ns+"/Users", "throttle-token-0123456789", nil, "X-Forwarded-For", guesser).status).To(Equal(http.StatusOK))
		owner := nextClient()
		for range 20 {
			Expect(call(http.MethodGet, ns+"/Users", "throttle-token-0123456789", nil, "X-Forwarded-For", owner).status).To(Equal(http.StatusOK))
		}
	})

	It("serves a namespace only while it is annotated scim-enabled=true, whatever token Secrets it holds", func() {
		const token = "opt-in-token-0123456789"
		ns := account(token)
		enableSCIM(ns, false)
		Eventually(func() int { return call(http.MethodGet, ns+"/Users", token, nil).status }).Should(Equal(http.StatusUnauthorized))
		ans := call(http.MethodGet, ns+"/Users", token, nil)
		expectSCIMError(ans, http.StatusUnauthorized, "")
		Expect(ans.body["detail"]).To(ContainSubstring(accessv1alpha1.SCIMEnabledAnnotation + "=true"))
		enableSCIM(ns, true)
		Eventually(func() int { return call(http.MethodGet, ns+"/Users", token, nil).status }).Should(Equal(http.StatusOK))
	})

	It("takes a rotated token at once and drops the old one", func() {
		ns := account("old-token-0123456789")
		Expect(call(http.MethodGet, ns+"/Users", "old-token-0123456789", nil).status).To(Equal(http.StatusOK))
		sec := &corev1.Secret{}
		Expect(op.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scim-token"}, sec)).To(Succeed())
		sec.Data[accessv1alpha1.SCIMTokenKey] = []byte("new-token-0123456789\n") // written with echo
		Expect(op.Client.Update(ctx, sec)).To(Succeed())
		Eventually(func() int { return call(http.MethodGet, ns+"/Users", "new-token-0123456789", nil).status }).Should(Equal(http.StatusOK))
		Expect(call(http.MethodGet, ns+"/Users", "old-token-0123456789", nil).status).To(Equal(http.StatusUnauthorized))
	})

	It("never matches a token shorter than MinTokenLength", func() {
		ns := account("long-enough-0123456789")
		Expect(op.Client.Create(ctx, tokenSecret(ns, "short", "short"))).To(Succeed())
		Expect(op.Client.Create(ctx, tokenSecret(ns, "later", "later-0123456789"))).To(Succeed())
		Eventually(func() int { return call(http.MethodGet, ns+"/Users", "later-0123456789", nil).status }).Should(Equal(http.StatusOK))
		Expect(call(http.MethodGet, ns+"/Users", "short", nil).status).To(Equal(http.StatusUnauthorized))
	})

	// Issue 22, item 2: a Passcode's secretTemplate chose the labels and the (static) data of the
	// Secret the operator wrote for it, and of its copies in other namespaces. Such a Secret is
	// never a token, whatever its labels; before, its token answered 200.
	It("never takes a Secret the operator wrote (a Passcode's, a copy) for a token", func() {
		const ours, copied, control = "written-by-operator-0123", "copied-by-operator-0123", "control-token-0123456789"
		ns := account("account-token-0123456789")
		primary := tokenSecret(ns, "jane-api", ours)
		primary.Labels[accessv1alpha1.ManagedByLabel] = accessv1alpha1.ManagedByValue
		primary.Labels[accessv1alpha1.PasscodeLabel] = "jane-api"
		cp := tokenSecret(ns, "copy", copied)
		cp.Annotations = map[string]string{passcodesecret.CopyOfAnnotation: "elsewhere/jane-api"} // a copy keeps it without its labels
		Expect(op.Client.Create(ctx, primary)).To(Succeed())
		Expect(op.Client.Create(ctx, cp)).To(Succeed())
		Expect(op.Client.Create(ctx, tokenSecret(ns, "control", control))).To(Succeed())
		// The control Secret came last: once it works, the token cache has seen the other two.
		Eventually(func() int { return call(http.MethodGet, ns+"/Users", control, nil).status }).Should(Equal(http.StatusOK))
		for _, token := range []string{ours, copied} {
			expectSCIMError(call(http.MethodGet, ns+"/Users", token, nil), http.StatusUnauthorized, "")
		}
	})

	It("reads no Secret without the scim-token label", func() {
		ns := account("labelled-0123456789")
		plain := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"},
			Data: map[string][]byte{accessv1alpha1.SCIMTokenKey: []byte("unlabelled-0123456789")}}
		Expect(op.Client.Create(ctx, plain)).To(Succeed())
		Expect(op.Client.Create(ctx, tokenSecret(ns, "second", "second-token-0123456789"))).To(Succeed())
		// The labelled Secret arrived after the unlabelled one: once it works, the cache has seen both.
		Eventually(func() int { return call(http.MethodGet, ns+"/Users", "second-token-0123456789", nil).status }).Should(Equal(http.StatusOK))
		Expect(call(http.MethodGet, ns+"/Users", "unlabelled-0123456789", nil).status).To(Equal(http.StatusUnauthorized))

		err := op.SCIMTokens.Get(ctx, client.ObjectKey{Namespace: ns, Name: "plain"}, &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "an unlabelled Secret must never enter the token cache, got %v", err)
		list := &corev1.SecretList{}
		Expect(op.SCIMTokens.List(ctx, list)).To(Succeed())
		Expect(list.Items).NotTo(BeEmpty())
		for _, s := range list.Items {
			Expect(s.Labels).To(HaveKeyWithValue(accessv1alpha1.SCIMTokenLabel, "true"))
		}
		// Nor does the manager's own cache take the token Secrets in.
		err = op.GetCache().Get(ctx, client.ObjectKey{Namespace: ns, Name: "second"}, &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
	})
})

var _ = Describe("Users", func() {
	const token = "users-token-0123456789"

	It("refuses a second user with the same email: 409 uniqueness", func() {
		ns := account(token)
		created(ns, token, "dup@example.com")
		expectSCIMError(call(http.MethodPost, ns+"/Users", token, newUser("DUP@example.com", nil)), http.StatusConflict, scim.TypeUniqueness)
	})

	It("answers 412 to a stale If-Match and writes with a current one", func() {
		ns := account(token)
		id := created(ns, token, "etag@example.com")
		got := call(http.MethodGet, ns+"/Users/"+id, token, nil)
		etag := got.header.Get("ETag")
		Expect(etag).To(HavePrefix(`W/"`))
		Expect(got.body).To(HaveKeyWithValue("meta", HaveKeyWithValue("version", etag)))

		setExternalID := func(v string) map[string]any {
			return patchBody(map[string]any{"op": "replace", "path": "externalId", "value": v})
		}
		expectSCIMError(call(http.MethodPatch, ns+"/Users/"+id, token, setExternalID("x"), "If-Match", `W/"1"`), http.StatusPreconditionFailed, "")
		expectSCIMError(call(http.MethodDelete, ns+"/Users/"+id, token, nil, "If-Match", `W/"1"`), http.StatusPreconditionFailed, "")

		// The version also moves when the controller writes the user's status (the invite, which may
		// wait a second for the user's Passcodes): wait until it is sent, then read and write until no
		// status write came in between, so that none can come after the write below.
		Eventually(func() accessv1alpha1.UserPhase {
			du := &accessv1alpha1.DashboardUser{}
			Expect(op.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: id}, du)).To(Succeed())
			return du.Status.Phase
		}).WithTimeout(10 * time.Second).Should(Equal(accessv1alpha1.UserInvited))
		var ok answer
		Eventually(func() int {
			etag = call(http.MethodGet, ns+"/Users/"+id, token, nil).header.Get("ETag")
			ok = call(http.MethodPatch, ns+"/Users/"+id, token, setExternalID("first"), "If-Match", etag)
			return ok.status
		}).WithTimeout(10 * time.Second).Should(Equal(http.StatusOK))
		Expect(ok.header.Get("ETag")).NotTo(Equal(etag))
		// At once with the version that write returned, which the cache may not hold yet: an
		// annotation edit makes the controller write no status, so that version stays current.
		again := call(http.MethodPatch, ns+"/Users/"+id, token, setExternalID("second"), "If-Match", ok.header.Get("ETag"))
		Expect(again.status).To(Equal(http.StatusOK), "body %v", again.body)
		expectSCIMError(call(http.MethodPatch, ns+"/Users/"+id, token, setExternalID("third"), "If-Match", ok.header.Get("ETag")),
			http.StatusPreconditionFailed, "")
		du := &accessv1alpha1.DashboardUser{}
		Expect(op.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: id}, du)).To(Succeed())
		Expect(du.Annotations).To(HaveKeyWithValue(accessv1alpha1.SCIMExternalIDAnnotation, "second"))
	})

	It("refuses roles that are not roles, and takes a DashboardRole", func() {
		ns := account(token)
		expectSCIMError(call(http.MethodPost, ns+"/Users", token, newUser("r@example.com", map[string]any{"roles": []any{"admin"}})),
			http.StatusBadRequest, scim.TypeInvalidValue)
		bad := call(http.MethodPost, ns+"/Users", token, newUser("r@example.com", map[string]any{"roles": []any{"analysts"}}))
		expectSCIMError(bad, http.StatusBadRequest, scim.TypeInvalidValue)
		Expect(bad.body["detail"]).To(ContainSubstring("roles:"))

		Expect(op.Client.Create(ctx, &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "analysts"},
			Spec: accessv1alpha1.DashboardRoleSpec{Permissions: []accessv1alpha1.Permission{"reports.read"}}})).To(Succeed())
		Eventually(func() int {
			return call(http.MethodPost, ns+"/Users", token, newUser("r@example.com", map[string]any{"roles": []any{"analysts"}})).status
		}).Should(Equal(http.StatusCreated))
		groups := call(http.MethodGet, ns+"/Groups?filter=displayName%20eq%20%22analysts%22", token, nil)
		Expect(groups.body).To(HaveKeyWithValue("totalResults", BeEquivalentTo(1)))
	})

	It("refuses a name with a right-to-left override, and an address no DNS can resolve, naming the attribute", func() {
		ns := account(token)
		for _, extra := range []map[string]any{
			{"displayName": "jane\u202emoc.elpmaxe"},
			{"name": map[string]any{"formatted": "\u2066Jane\u2069"}},
			{"name": map[string]any{"givenName": "Jane\u200f", "familyName": "Doe"}},
		} {
			bad := call(http.MethodPost, ns+"/Users", token, newUser("bidi@example.com", extra))
			expectSCIMError(bad, http.StatusBadRequest, scim.TypeInvalidValue)
			Expect(bad.body["detail"]).To(And(HavePrefix("displayName:"), ContainSubstring("invisible format characters")), "%v", extra)
		}
		id := created(ns, token, "bidi@example.com")
		bad := call(http.MethodPatch, ns+"/Users/"+id, token, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "a\u202eb"}))
		expectSCIMError(bad, http.StatusBadRequest, scim.TypeInvalidValue)
		Expect(bad.body["detail"]).To(HavePrefix("displayName:"))
		// The joiners a name may need are kept.
		ok := call(http.MethodPatch, ns+"/Users/"+id, token, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "Jane \U0001F469\u200d\U0001F4BB"}))
		Expect(ok.status).To(Equal(http.StatusOK), "body %v", ok.body)

		long := "a@" + strings.Repeat("b", 64) + ".io"
		bad = call(http.MethodPost, ns+"/Users", token, newUser(long, nil))
		expectSCIMError(bad, http.StatusBadRequest, scim.TypeInvalidValue)
		Expect(bad.body["detail"]).To(HavePrefix("userName:"))
		du := &accessv1alpha1.DashboardUserList{}
		Expect(op.Client.List(ctx, du, client.InNamespace(ns))).To(Succeed())
		Expect(du.Items).To(HaveLen(1), "only the good user was created")
	})

	It("pages with startIndex and count", func() {
		ns := account(token)
		for _, u := range []string{"p1@example.com", "p2@example.com", "p3@example.com"} {
			created(ns, token, u)
		}
		a := call(http.MethodGet, ns+"/Users?startIndex=2&count=1", token, nil)
		Expect(a.body).To(HaveKeyWithValue("totalResults", BeEquivalentTo(3)))
		Expect(a.body).To(HaveKeyWithValue("startIndex", BeEquivalentTo(2)))
		Expect(a.body).To(HaveKeyWithValue("itemsPerPage", BeEquivalentTo(1)))
		Expect(a.body["Resources"]).To(HaveLen(1))
		none := call(http.MethodGet, ns+"/Users?count=-1", token, nil) // negative is 0: the total alone
		Expect(none.body).To(HaveKeyWithValue("totalResults", BeEquivalentTo(3)))
		Expect(none.body).To(HaveKeyWithValue("itemsPerPage", BeEquivalentTo(0)))
		expectSCIMError(call(http.MethodGet, ns+"/Users?filter=userName%20gt%20%22a%22", token, nil), http.StatusBadRequest, scim.TypeInvalidFilter)
	})
})

var _ = Describe("Users kept in Git", func() {
	const token = "git-token-0123456789"

	It("are read, never changed, unless they opt in with the scim-managed annotation", func() {
		ns := account(token)
		du := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kept"},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "kept@example.com", Role: accessv1alpha1.RoleCreator}}
		Expect(op.Client.Create(ctx, du)).To(Succeed())
		Eventually(func() int { return call(http.MethodGet, ns+"/Users/kept", token, nil).status }).Should(Equal(http.StatusOK))

		deactivate := patchBody(map[string]any{"op": "replace", "value": map[string]any{"active": false}})
		for _, a := range []answer{
			call(http.MethodPatch, ns+"/Users/kept", token, deactivate),
			call(http.MethodPut, ns+"/Users/kept", token, newUser("kept@example.com", map[string]any{"active": false})),
			call(http.MethodDelete, ns+"/Users/kept", token, nil),
			call(http.MethodPatch, ns+"/Groups/Admin", token, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "kept"}}})),
		} {
			expectSCIMError(a, http.StatusForbidden, "")
			Expect(a.body["detail"]).To(ContainSubstring(accessv1alpha1.SCIMManagedAnnotation))
		}
		conflict := call(http.MethodPost, ns+"/Users", token, newUser("kept@example.com", nil))
		expectSCIMError(conflict, http.StatusConflict, scim.TypeUniqueness)
		Expect(conflict.body["detail"]).To(ContainSubstring(accessv1alpha1.SCIMManagedAnnotation))
		Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(du), du)).To(Succeed())
		Expect(du.Spec.Access).NotTo(Equal(accessv1alpha1.AccessRevoked))
		Expect(du.Spec.Role).To(Equal(accessv1alpha1.RoleCreator))

		du.Annotations = map[string]string{accessv1alpha1.SCIMManagedAnnotation: "true"}
		Expect(op.Client.Update(ctx, du)).To(Succeed())
		Eventually(func() int { return call(http.MethodPatch, ns+"/Users/kept", token, deactivate).status }).Should(Equal(http.StatusOK))
		Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(du), du)).To(Succeed())
		Expect(du.Spec.Access).To(Equal(accessv1alpha1.AccessRevoked))
		Expect(du.Labels).NotTo(HaveKey(accessv1alpha1.ProvisionedByLabel), "opting in does not make SCIM its creator")
	})
})

var _ = Describe("Groups and discovery", func() {
	const token = "groups-token-0123456789"

	It("lists the four system roles, refuses creating and deleting groups, and serves discovery", func() {
		ns := account(token)
		list := call(http.MethodGet, ns+"/Groups", token, nil)
		Expect(list.status).To(Equal(http.StatusOK))
		Expect(list.body).To(HaveKeyWithValue("totalResults", BeEquivalentTo(4)))
		expectSCIMError(call(http.MethodPost, ns+"/Groups", token, map[string]any{"schemas": []any{scim.SchemaGroup}, "displayName": "Admin"}),
			http.StatusConflict, scim.TypeUniqueness)
		expectSCIMError(call(http.MethodPost, ns+"/Groups", token, map[string]any{"schemas": []any{scim.SchemaGroup}, "displayName": "Sales"}),
			http.StatusForbidden, "")
		expectSCIMError(call(http.MethodDelete, ns+"/Groups/Admin", token, nil), http.StatusForbidden, "")
		expectSCIMError(call(http.MethodGet, ns+"/Groups/nope", token, nil), http.StatusNotFound, "")

		id := created(ns, token, "member@example.com")
		put := call(http.MethodPut, ns+"/Groups/Approver", token, map[string]any{"schemas": []any{scim.SchemaGroup}, "displayName": "Approver",
			"members": []any{map[string]any{"value": id}}})
		Expect(put.status).To(Equal(http.StatusOK), "body %v", put.body)
		Expect(put.body).To(HaveKeyWithValue("members", ContainElement(HaveKeyWithValue("value", id))))
		expectSCIMError(call(http.MethodPatch, ns+"/Groups/Approver", token,
			patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "Owners"})), http.StatusBadRequest, scim.TypeMutability)

		expectSCIMError(call(http.MethodPost, ns+"/Users/"+id, token, nil), http.StatusMethodNotAllowed, "")
		expectSCIMError(call(http.MethodPost, ns+"/Bulk", token, nil), http.StatusNotImplemented, "")
		expectSCIMError(call(http.MethodGet, ns+"/Nothing", token, nil), http.StatusNotFound, "")
		for _, p := range []string{"ServiceProviderConfig", "ResourceTypes", "ResourceTypes/User", "Schemas", "Schemas/" + scim.SchemaUser} {
			Expect(call(http.MethodGet, ns+"/"+p, token, nil).status).To(Equal(http.StatusOK), p)
		}
		Eventually(func() any {
			return call(http.MethodGet, ns+"/Users/"+id, token, nil).body["roles"]
		}).WithTimeout(5 * time.Second).Should(ContainElement(HaveKeyWithValue("value", "Approver")))
	})
})

type oneToken string

func (t oneToken) Tokens(context.Context, string) ([]scim.Digest, error) {
	return []scim.Digest{sha256.Sum256([]byte(t))}, nil
}

var _ = Describe("Leaving a group", func() {
	It("does not undo joining another one that the cache has not seen yet", func() {
		ns, err := op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
		scimUser := func(name, email string) *accessv1alpha1.DashboardUser {
			return &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
				Labels: map[string]string{accessv1alpha1.ProvisionedByLabel: accessv1alpha1.ProvisionedBySCIM}},
				Spec: accessv1alpha1.DashboardUserSpec{Email: email, Role: accessv1alpha1.RoleCreator}}
		}
		jane, omar := scimUser("jane", "jane@example.com"), scimUser("omar", "omar@example.com")
		Expect(op.Client.Create(ctx, jane)).To(Succeed())
		Expect(op.Client.Create(ctx, omar)).To(Succeed())
		// What a read a moment behind saw: both still Creators.
		stale := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(jane.DeepCopy(), omar.DeepCopy()).Build()
		// Meanwhile jane joined Admin.
		jane.Spec.Role = accessv1alpha1.RoleAdmin
		Expect(op.Client.Update(ctx, jane)).To(Succeed())

		const token = "leaving-token-0123456789"
		// Even the members' read is behind (a join that landed between that read and the writes):
		// only the patch's test of the role at the API server keeps jane where she went.
		h := scim.NewHandler(stale, stale, op.Client, oneToken(token))
		r := httptest.NewRequestWithContext(ctx, http.MethodPatch, "/scim/v2/"+ns+"/Groups/Creator",
			strings.NewReader(`{"Operations":[{"op":"Remove","path":"members","value":[{"value":"jane"},{"value":"omar"}]}]}`))
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		Expect(w.Code).To(Equal(http.StatusNoContent), w.Body.String())

		Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(jane), jane)).To(Succeed())
		Expect(jane.Spec.Role).To(Equal(accessv1alpha1.RoleAdmin), "jane stays in the group she joined")
		Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(omar), omar)).To(Succeed())
		Expect(omar.Spec.Role).To(Equal(accessv1alpha1.Role(scim.RemovedMemberRole)), "omar, still a Creator, falls back")
	})
})

var _ = Describe("A write right after another", func() {
	It("keeps what the previous write changed even when the cache has not seen it yet", func() {
		ns, err := op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
		jane := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jane",
			Labels: map[string]string{accessv1alpha1.ProvisionedByLabel: accessv1alpha1.ProvisionedBySCIM}},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", DisplayName: "Jane", Role: accessv1alpha1.RoleCreator}}
		Expect(op.Client.Create(ctx, jane)).To(Succeed())
		// What a cache a moment behind holds: the old name and role.
		stale := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(jane.DeepCopy()).Build()
		// The identity provider's previous PATCH, already at the API server.
		jane.Spec.DisplayName, jane.Spec.Role = "Jane Doe", accessv1alpha1.RoleApprover
		Expect(op.Client.Update(ctx, jane)).To(Succeed())

		const token = "next-write-token-0123456789"
		h := scim.NewHandler(stale, op.Client, op.Client, oneToken(token))
		r := httptest.NewRequestWithContext(ctx, http.MethodPatch, "/scim/v2/"+ns+"/Users/jane",
			strings.NewReader(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`))
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		Expect(w.Code).To(Equal(http.StatusOK), w.Body.String())

		Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(jane), jane)).To(Succeed())
		Expect(jane.Spec.Access).To(Equal(accessv1alpha1.AccessRevoked))
		Expect(jane.Spec.DisplayName).To(Equal("Jane Doe"), "the previous write's name is kept")
		Expect(jane.Spec.Role).To(Equal(accessv1alpha1.RoleApprover), "the previous write's role is kept")
	})
})

// staleOnce answers the first Get of a DashboardUser with old, as a read that raced another
// writer would, and reads the API server from then on.
type staleOnce struct {
	client.Reader
	old  *accessv1alpha1.DashboardUser
	used bool
}

func (s *staleOnce) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if du, ok := obj.(*accessv1alpha1.DashboardUser); ok && !s.used && key.Name == s.old.Name {
		s.used = true
		s.old.DeepCopyInto(du)
		return nil
	}
	return s.Reader.Get(ctx, key, obj, opts...)
}

func (s *staleOnce) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if l, ok := list.(*accessv1alpha1.DashboardUserList); ok && !s.used {
		s.used = true
		l.Items = []accessv1alpha1.DashboardUser{*s.old.DeepCopy()}
		return nil
	}
	return s.Reader.List(ctx, list, opts...)
}

var _ = Describe("A write racing a deactivation", func() {
	var ns string
	var jane, old *accessv1alpha1.DashboardUser
	const token = "racing-token-0123456789"
	serve := func(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(ctx, method, "/scim/v2/"+ns+path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	BeforeEach(func() {
		var err error
		ns, err = op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
		jane = &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jane",
			Labels: map[string]string{accessv1alpha1.ProvisionedByLabel: accessv1alpha1.ProvisionedBySCIM}},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", DisplayName: "Jane", Role: accessv1alpha1.RoleMember}}
		Expect(op.Client.Create(ctx, jane)).To(Succeed())
		old = jane.DeepCopy()                           // what the racing request read
		jane.Spec.Access = accessv1alpha1.AccessRevoked // the deactivation that won
		Expect(op.Client.Update(ctx, jane)).To(Succeed())
	})

	It("never grants access back from a group join", func() {
		h := scim.NewHandler(op.Client, &staleOnce{Reader: op.Client, old: old}, op.Client, oneToken(token))
		w := serve(h, http.MethodPatch, "/Groups/Approver", `{"Operations":[{"op":"add","path":"members","value":[{"value":"jane"}]}]}`)
		Expect(w.Code).To(Equal(http.StatusNoContent), w.Body.String())
		Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(jane), jane)).To(Succeed())
		Expect(jane.Spec.Role).To(Equal(accessv1alpha1.RoleApprover))
		Expect(jane.Spec.Access).To(Equal(accessv1alpha1.AccessRevoked), "the deactivation stays")
	})

	It("computes a user PATCH again from the version that replaced the one it read", func() {
		h := scim.NewHandler(op.Client, &staleOnce{Reader: op.Client, old: old}, op.Client, oneToken(token))
		w := serve(h, http.MethodPatch, "/Users/jane", `{"Operations":[{"op":"replace","path":"displayName","value":"Jane Doe"}]}`)
		Expect(w.Code).To(Equal(http.StatusOK), w.Body.String())
		Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(jane), jane)).To(Succeed())
		Expect(jane.Spec.DisplayName).To(Equal("Jane Doe"))
		Expect(jane.Spec.Access).To(Equal(accessv1alpha1.AccessRevoked), "the deactivation stays")
	})

	It("answers 412 instead when the client named the version it read", func() {
		h := scim.NewHandler(op.Client, &staleOnce{Reader: op.Client, old: old}, op.Client, oneToken(token))
		r := httptest.NewRequestWithContext(ctx, http.MethodPatch, "/scim/v2/"+ns+"/Users/jane",
			strings.NewReader(`{"Operations":[{"op":"replace","path":"displayName","value":"Jane Doe"}]}`))
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("If-Match", `W/"`+old.ResourceVersion+`"`)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		Expect(w.Code).To(Equal(http.StatusPreconditionFailed), w.Body.String())
		Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(jane), jane)).To(Succeed())
		Expect(jane.Spec.DisplayName).To(Equal("Jane"))
		Expect(jane.Spec.Access).To(Equal(accessv1alpha1.AccessRevoked))
	})
})
