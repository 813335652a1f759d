package controllers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

var verifyClients atomic.Int32

// verifyStatus asks the access server's /v1/verify about a passcode, as an API gateway does, each
// time from a new client address so that refusals never throttle one another.
func verifyStatus(account, code string) int {
	body, err := json.Marshal(map[string]string{"account": account, "passcode": code})
	Expect(err).NotTo(HaveOccurred())
	req := httptest.NewRequest(http.MethodPost, "/v1/verify", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	n := verifyClients.Add(1)
	req.RemoteAddr = fmt.Sprintf("198.18.%d.%d:443", n/250, n%250+1)
	rec := httptest.NewRecorder()
	mgr.Access.Handler().ServeHTTP(rec, req)
	return rec.Code
}

// gone succeeds once obj (its kind, namespace and name) is no longer on the API server.
func gone(g Gomega, obj client.Object) {
	err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T %s still exists (err: %v)", obj, obj.GetName(), err)
}

// grantOwned creates a Passcode for user, waits until it is Active and owned by the user (the
// Passcode controller adds that owner reference), and returns it with its passcode.
func grantOwned(u *accessv1alpha1.DashboardUser, name string) (*accessv1alpha1.Passcode, string) {
	createPasscode(u.Namespace, name, u.Name, "1h")
	pc := waitForPasscode(u.Namespace, name, func(g Gomega, pc *accessv1alpha1.Passcode) {
		inPhase(accessv1alpha1.PasscodeActive, 1)(g, pc)
		g.Expect(pc.OwnerReferences).To(ContainElement(And(
			HaveField("Kind", "DashboardUser"), HaveField("Name", u.Name), HaveField("UID", u.UID))))
	})
	code := string(secretOf(Default, u.Namespace, pc.Status.SecretName).Data[passcodesecret.KeyPasscode])
	Expect(code).NotTo(BeEmpty())
	Expect(verifyStatus(u.Namespace, code)).To(Equal(http.StatusOK))
	return pc, code
}

// The suite's control plane runs kube-controller-manager's garbage collector and namespace
// controller (testenv.StartControllerManager), so these deletions cascade as in a cluster.
var _ = Describe("Cascading deletion (kube-controller-manager)", func() {
	// The wall clock only measures how long the real controllers take, for the report.
	wall := clock.RealClock{}
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("deletes a deleted user's Passcodes and their Secrets, and its passcodes stop verifying at once", func() {
		u := createUser(ns, "kim")
		api, apiCode := grantOwned(u, "kim-api")
		ci, ciCode := grantOwned(u, "kim-ci")
		other := createUser(ns, "lee")
		_, otherCode := grantOwned(other, "lee-api")

		start := wall.Now()
		Expect(k8sClient.Delete(ctx, u)).To(Succeed()) // background propagation, as kubectl delete
		for _, code := range []string{apiCode, ciCode} {
			Eventually(func() int { return verifyStatus(ns, code) }).WithTimeout(time.Second).
				Should(Equal(http.StatusUnauthorized), "the access server refuses a deleted user's passcode at once")
		}
		Eventually(func(g Gomega) {
			for _, pc := range []*accessv1alpha1.Passcode{api, ci} {
				gone(g, &accessv1alpha1.Passcode{ObjectMeta: metaName(ns, pc.Name)})
				gone(g, &corev1.Secret{ObjectMeta: metaName(ns, pc.Status.SecretName)})
			}
			gone(g, &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, "kim")})
		}).WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).Should(Succeed(),
			"the garbage collector deletes the Passcodes, then their Secrets")
		AddReportEntry("user deletion to its Secrets gone", wall.Since(start))

		// Nobody else's passcode goes with it.
		Expect(verifyStatus(ns, otherCode)).To(Equal(http.StatusOK))
		Expect(secretOf(Default, ns, "lee-api").Data).To(HaveKey(passcodesecret.KeyPasscode))
	})

	It("keeps the Passcodes of a user deleted with --cascade=orphan, revoked", func() {
		u := createUser(ns, "nia")
		_, code := grantOwned(u, "nia-api")

		Expect(k8sClient.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationOrphan))).To(Succeed())
		Eventually(func() int { return verifyStatus(ns, code) }).WithTimeout(time.Second).Should(Equal(http.StatusUnauthorized))
		pc := waitForPasscode(ns, "nia-api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			inPhase(accessv1alpha1.PasscodeRevoked, 1)(g, pc)
			g.Expect(pc.OwnerReferences).To(BeEmpty(), "the garbage collector orphans it")
		})
		Expect(secretOf(Default, ns, pc.Status.SecretName).Data).NotTo(HaveKey(passcodesecret.KeyPasscode))
		Eventually(func(g Gomega) { gone(g, &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, "nia")}) }).Should(Succeed())
	})

	It("empties and removes a deleted namespace with users and passcodes in it", func() {
		u := createUser(ns, "max")
		_, code := grantOwned(u, "max-api")
		createPasscode(ns, "orphan", "nobody", "1h") // waits for a user that never comes

		start := wall.Now()
		Expect(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metaName("", ns)})).To(Succeed())
		Eventually(func(g Gomega) {
			gone(g, &corev1.Namespace{ObjectMeta: metaName("", ns)})
		}).WithTimeout(time.Minute).WithPolling(100*time.Millisecond).Should(Succeed(), "the namespace controller finishes")
		AddReportEntry("namespace deletion to namespace gone", wall.Since(start))

		for _, list := range []client.ObjectList{&accessv1alpha1.DashboardUserList{}, &accessv1alpha1.PasscodeList{}, &corev1.SecretList{}} {
			Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			Expect(list).To(HaveField("Items", BeEmpty()), "%T", list)
		}
		Expect(verifyStatus(ns, code)).To(Equal(http.StatusUnauthorized))
	})
})
