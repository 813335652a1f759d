package accessserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// The access server is tested as gateways use it: over HTTP, against the manager's real cache on a
// real kube-apiserver, with the controllers issuing the passcodes and a fake clock for deadlines.
var (
	op      *testenv.Operator
	ctx     = context.Background()
	baseURL string
)

func TestAccessServer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Access Server Suite")
}

var _ = BeforeSuite(func() {
	// Informers on a loaded 2-core machine can take longer than Gomega's default second to catch up.
	SetDefaultEventuallyTimeout(10 * time.Second)
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	// The tests stand for many clients behind one gateway on loopback, each named in X-Forwarded-For.
	op, err = testenv.StartOperator(func(o *options.Options) { o.TrustedProxies = "127.0.0.1" })
	Expect(err).NotTo(HaveOccurred())
	addr, err := op.Access.Addr(ctx)
	Expect(err).NotTo(HaveOccurred())
	baseURL = fmt.Sprintf("http://%s", addr)
})

var _ = AfterSuite(func() {
	if op != nil {
		Expect(op.Stop()).To(Succeed())
	}
})
