package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// SCIM is tested as identity providers use it: over HTTP to the access server of the production
// wiring (setup.NewManager), against a real kube-apiserver, with the controllers running.
var (
	op      *testenv.Operator
	ctx     = context.Background()
	baseURL string
)

func TestSCIM(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "SCIM Suite")
}

var _ = BeforeSuite(func() {
	// Informers on a loaded 2-core machine can take longer than Gomega's default second to catch up.
	SetDefaultEventuallyTimeout(10 * time.Second)
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	// The suite's requests come from loopback through a "proxy" naming a client of its own per
	// request (call), so the deliberate 401s of one spec never throttle another; the throttle has a
	// spec of its own.
	op, err = testenv.StartOperator(func(o *options.Options) { o.TrustedProxies = "127.0.0.1" })
	Expect(err).NotTo(HaveOccurred())
	addr, err := op.Access.Addr(ctx)
	Expect(err).NotTo(HaveOccurred())
	baseURL = fmt.Sprintf("http://%s/scim/v2/", addr)
})

var _ = AfterSuite(func() {
	if op != nil {
		Expect(op.Stop()).To(Succeed())
	}
})

// account is a fresh namespace with a SCIM token Secret holding token.
func account(token string) string {
	ns, err := op.NewNamespace(ctx)
	Expect(err).NotTo(HaveOccurred())
	enableSCIM(ns, true)
	Expect(op.Client.Create(ctx, tokenSecret(ns, "scim-token", token))).To(Succeed())
	// The token works once the token cache has seen the Secret.
	Eventually(func() int { return call(http.MethodGet, ns+"/ServiceProviderConfig", token, nil).status }).Should(Equal(http.StatusOK))
	return ns
}

// enableSCIM sets or removes the namespace annotation that turns SCIM on.
func enableSCIM(ns string, on bool) {
	value := any(nil)
	if on {
		value = "true"
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{accessv1alpha1.SCIMEnabledAnnotation: value}}})
	Expect(err).NotTo(HaveOccurred())
	Expect(op.Client.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

func tokenSecret(ns, name, token string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{accessv1alpha1.SCIMTokenLabel: "true"}},
		Data:       map[string][]byte{accessv1alpha1.SCIMTokenKey: []byte(token)},
	}
}

var clients atomic.Uint32

// nextClient is a client address no request used before (10.x.y.z).
func nextClient() string {
	n := clients.Add(1)
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}).String()
}

// answer is an HTTP answer with its JSON body decoded.
type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// call sends a SCIM request to path (relative to /scim/v2/) with token and extra headers.
func call(method, path, token string, body any, headers ...string) answer {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		Expect(err).NotTo(HaveOccurred())
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, rd)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	req.Header.Set("X-Forwarded-For", nextClient())
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	a := answer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		Expect(json.Unmarshal(raw, &a.body)).To(Succeed(), "body %s", raw)
	}
	return a
}
