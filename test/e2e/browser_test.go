package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

var inviteLink = regexp.MustCompile(`Invite for ana@example\.com .*open (http://\S+/invitations/[A-Z2-7]{26})`)

// TestInviteLinkAcceptedInABrowser runs the operator as `make dev` does (log notifier), takes the
// accept link it prints, opens it in headless Debian chromium, clicks Accept, and sees the user
// become Active.
func TestInviteLinkAcceptedInABrowser(t *testing.T) {
	t.Parallel()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (.ci/run does)")
	}
	port := freePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", port)
	state := t.TempDir()
	dev := startDev(t, state, "--access-bind-address=127.0.0.1:"+fmt.Sprint(port), "--public-url="+public)
	defer dev.interrupt()

	c := dev.client()
	ctx := context.Background()
	user := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ana"},
		Spec: accessv1alpha1.DashboardUserSpec{Email: "ana@example.com", DisplayName: "Ana", Role: accessv1alpha1.RoleCreator}}
	if err := c.Create(ctx, user); err != nil {
		t.Fatal(err)
	}
	var link string
	waitFor(t, 30*time.Second, "the log notifier to print the accept link", func() bool {
		m := inviteLink.FindStringSubmatch(dev.output.String())
		if m != nil {
			link = m[1]
		}
		return m != nil
	})
	if !strings.HasPrefix(link, public+"/invitations/") {
		t.Fatalf("link %q does not start with --public-url", link)
	}

	invited, welcome, shot := acceptInBrowser(t, browser, link)
	if invited != "You were invited to default as Creator" {
		t.Errorf("invite page heading %q", invited)
	}
	if welcome != "Welcome to default" {
		t.Errorf("after Accept the heading is %q", welcome)
	}
	if dir := os.Getenv("E2E_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "invite-page.png"), shot, 0o600)
	}
	waitFor(t, 10*time.Second, "the user to become Active", func() bool {
		got := &accessv1alpha1.DashboardUser{}
		return c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "ana"}, got) == nil &&
			got.Status.Phase == accessv1alpha1.UserActive
	})
}

// acceptInBrowser opens an invite link in headless chromium (browser), reads the page's heading,
// takes a screenshot, clicks Accept and returns the headings before and after.
func acceptInBrowser(t *testing.T, browser, link string) (invited, welcome string, shot []byte) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	bctx, cancelTimeout := context.WithTimeout(bctx, 60*time.Second)
	defer cancelTimeout()

	if err := chromedp.Do(bctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("accept")),
	); err != nil {
		t.Fatalf("opening the invite link in chromium: %v", err)
	}
	invited, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	shot, err = chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.ID("accept")),
		chromedp.WaitVisible(chromedp.Search("//h1[starts-with(., 'Welcome')]")),
	); err != nil {
		t.Fatalf("clicking Accept: %v", err)
	}
	welcome, err = chromedp.Run(bctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	return invited, welcome, shot
}
