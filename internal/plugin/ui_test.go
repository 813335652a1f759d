package plugin_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dashboardops/access-operator/internal/plugin"
)

// lockedBuffer is an io.Writer the test may read while the command still writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ = Describe("ui", func() {
	It("refuses a port out of range before serving anything", func() {
		r := run("ui", "--port", "70000", "--no-browser").fail(plugin.ExitUsage, "invalid --port 70000")
		Expect(r.Out).To(BeEmpty())
	})

	It("refuses arguments", func() {
		run("ui", "extra").fail(plugin.ExitUsage, "expects no arguments")
	})

	It("is listed in the help", func() {
		Expect(run("--help").succeed().Out).To(ContainSubstring("Serve the users page on 127.0.0.1"))
	})

	// The browser's command line is readable by every user of the computer (ps): it gets a private
	// file that leads to the URL, never the URL and its token, and the file is gone once used.
	It("hands the one-time URL to the browser in a private file, not in its command line", func() {
		ns := newNamespace()
		bin := GinkgoT().TempDir()
		argv := filepath.Join(GinkgoT().TempDir(), "argv")
		opener := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argv + ".tmp && mv " + argv + ".tmp " + argv + "\n"
		Expect(os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(opener), 0o700)).To(Succeed()) //nolint:gosec // a test script
		GinkgoT().Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

		runCtx, stop := context.WithCancel(ctx)
		var out, errOut lockedBuffer
		cmd := plugin.NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		cmd.SetArgs([]string{"ui", "-n", ns, "--kubeconfig", kubeconfig})
		done := make(chan error, 1)
		go func() { done <- cmd.ExecuteContext(runCtx) }()
		DeferCleanup(func() {
			stop()
			Expect(<-done).To(Succeed(), "stderr: %s", errOut.String())
		})

		var link string
		Eventually(func() string {
			link = regexp.MustCompile(`http://127\.0\.0\.1:\d+/\S+`).FindString(out.String())
			return link
		}).ShouldNot(BeEmpty())
		token := regexp.MustCompile(`token=([\w-]+)`).FindStringSubmatch(link)[1]
		Eventually(func() error { _, err := os.Stat(argv); return err }).Should(Succeed())
		args, err := os.ReadFile(argv)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(args)).NotTo(ContainSubstring(token), "the token is in the browser's command line")
		file := strings.TrimSpace(string(args))
		Expect(filepath.IsAbs(file)).To(BeTrue(), "the browser gets a file: %q", file)
		info, err := os.Stat(file)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		dir, err := os.Stat(filepath.Dir(file))
		Expect(err).NotTo(HaveOccurred())
		Expect(dir.Mode().Perm()).To(Equal(os.FileMode(0o700)))
		page, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(page)).To(ContainSubstring(`http-equiv="refresh" content="0;url=` + strings.ReplaceAll(link, "&", "&amp;") + `"`))

		// The browser follows it: the token becomes the cookie, and the file is gone before the answer.
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Get(link)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Body.Close()).To(Succeed())
		Expect(resp.StatusCode).To(Equal(http.StatusSeeOther))
		Expect(resp.Cookies()).To(HaveLen(1))
		Expect(resp.Cookies()[0].Value).NotTo(Equal(token))
		_, err = os.Stat(filepath.Dir(file))
		Expect(os.IsNotExist(err)).To(BeTrue(), "the file that led to the URL is still there: %v", err)
	})
})
