package controllers_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// The suite runs the production wiring (setup.NewManager) against a real kube-apiserver and etcd,
// with a fake clock so that deadlines can be crossed on demand.
var (
	op        *testenv.Operator
	k8sClient client.Client // reads straight from the API server, never from a cache
	mgr       *testenv.Operator
	fakeClock *clocktesting.FakeClock
	ctx       = context.Background()
	// managerLogs holds everything the manager logged, for the leak check.
	managerLogs = &syncBuffer{}
)

// syncBuffer is a bytes.Buffer safe for the manager's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	// Debug level, so the leak check sees every log line the manager can write.
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, managerLogs)), zap.UseDevMode(true), zap.Level(zapcore.DebugLevel)))
	// Invites go through the real webhook notifier to a receiver in this process (the inbox).
	inbox = newInbox()
	secretFile := filepath.Join(GinkgoT().TempDir(), "webhook-secret")
	Expect(os.WriteFile(secretFile, []byte(inboxSecret), 0o600)).To(Succeed())
	var err error
	op, err = testenv.StartOperator(func(o *options.Options) {
		o.Notifier = options.NotifierWebhook
		o.WebhookURL = inbox.server.URL
		o.WebhookSecretFile = secretFile
		o.PublicURL = "https://dashboard.example.com"
		o.InviteBatchWindow = time.Second
		// Every lifecycle notification, so notifications_test.go sees each type arrive.
		o.NotifyEvents = "passcode.issued,passcode.rotated,passcode.expiring,passcode.expired,passcode.revoked," +
			"user.role-changed,user.access-revoked"
	})
	Expect(err).NotTo(HaveOccurred())
	k8sClient, mgr, fakeClock = op.Client, op, op.Clock
})

var _ = AfterSuite(func() {
	if op != nil {
		Expect(op.Stop()).To(Succeed())
	}
	inbox.server.Close()
})
