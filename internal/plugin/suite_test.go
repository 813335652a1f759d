package plugin_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/dashboardops/access-operator/internal/plugin"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// The plugin is tested as people run it: the root command with --kubeconfig (a real admin user of
// a real kube-apiserver) and -n, its output read from buffers. No manager runs: where a test needs
// status (what the operator would write), it writes it itself.
var (
	testEnv    *envtest.Environment
	k8sClient  client.Client
	kubeconfig string // an admin (system:masters) user
	ctx        = context.Background()
	nsCounter  atomic.Int32
)

func TestPlugin(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Plugin Suite")
}

var _ = BeforeSuite(func() {
	// Informers on a loaded 2-core machine can take longer than Gomega's default second to catch up.
	SetDefaultEventuallyTimeout(10 * time.Second)
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	testEnv, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	kubeconfig = writeKubeconfig(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, "admin")
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// writeKubeconfig makes a user of the test control plane and writes its kubeconfig to a file.
func writeKubeconfig(user envtest.User, file string) string {
	GinkgoHelper()
	u, err := testEnv.ControlPlane.AddUser(user, testEnv.Config)
	Expect(err).NotTo(HaveOccurred())
	data, err := u.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), file)
	Expect(os.WriteFile(path, data, 0o600)).To(Succeed())
	return path
}

// newNamespace creates a fresh project for one test.
func newNamespace() string {
	GinkgoHelper()
	name := fmt.Sprintf("plugin-%d", nsCounter.Add(1))
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	return name
}

// result is what one run of the plugin gave.
type result struct {
	Out, ErrOut string
	Err         error
	Code        int
}

// run runs `kubectl dashboard ARGS --kubeconfig <admin>`.
func run(args ...string) result {
	GinkgoHelper()
	return runAs(kubeconfig, args...)
}

// runAs runs the plugin with another kubeconfig, and logs the session (shown with -ginkgo.v or on
// failure).
func runAs(config string, args ...string) result {
	GinkgoHelper()
	var out, errOut bytes.Buffer
	cmd := plugin.NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(append(append([]string{}, args...), "--kubeconfig", config))
	err := cmd.ExecuteContext(ctx)
	r := result{Out: out.String(), ErrOut: errOut.String(), Err: err, Code: plugin.ExitCode(err)}
	_, _ = fmt.Fprintf(GinkgoWriter, "$ kubectl dashboard %s\n%s%s", strings.Join(args, " "), r.Out, r.ErrOut)
	if err != nil {
		_, _ = fmt.Fprintf(GinkgoWriter, "error: %v\n", err)
	}
	_, _ = fmt.Fprintf(GinkgoWriter, "[exit %d]\n", r.Code)
	return r
}

// succeed asserts that the run exited 0.
func (r result) succeed() result {
	GinkgoHelper()
	Expect(r.Err).NotTo(HaveOccurred(), "stdout: %s\nstderr: %s", r.Out, r.ErrOut)
	Expect(r.Code).To(Equal(plugin.ExitOK))
	return r
}

// fail asserts that the run exited with code and an error containing every substring.
func (r result) fail(code int, substrings ...string) result {
	GinkgoHelper()
	Expect(r.Err).To(HaveOccurred(), "stdout: %s", r.Out)
	Expect(r.Code).To(Equal(code), "error: %v", r.Err)
	for _, s := range substrings {
		Expect(r.Err.Error()).To(ContainSubstring(s))
	}
	return r
}

// newClientFor is a client for the user of a kubeconfig file.
func newClientFor(path string) client.Client {
	GinkgoHelper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	Expect(err).NotTo(HaveOccurred())
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// kubeconfigWithNamespace is the admin kubeconfig with ns as its context's namespace.
func kubeconfigWithNamespace(ns string) string {
	GinkgoHelper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	cfg.Contexts[cfg.CurrentContext].Namespace = ns
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig-"+ns)
	Expect(clientcmd.WriteToFile(*cfg, path)).To(Succeed())
	return path
}
