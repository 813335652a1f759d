package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
	"github.com/dashboardops/access-operator/internal/users"
)

// readOnlyRBAC lets the ServiceAccount "viewer" read the users and passcodes of default, and
// nothing more.
const readOnlyRBAC = `apiVersion: v1
kind: ServiceAccount
metadata: {name: viewer, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: dashboard-viewer, namespace: default}
rules:
- apiGroups: [access.dashboardops.io]
  resources: [dashboardusers, passcodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dashboard-viewer, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: dashboard-viewer}
subjects:
- {kind: ServiceAccount, name: viewer, namespace: default}
`

// startUI runs `kubectl-dashboard ui --no-browser` with the session's kubeconfig (and extra
// flags) and returns the URL it prints; the page stops with the test.
func startUI(t *testing.T, dev *devRun, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"ui", "-n", "default", "--no-browser", "--kubeconfig", filepath.Join(dev.state, "kubeconfig")}, extra...)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl-dashboard"), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "http://127.0.0.1:") {
				found <- line
			}
		}
	}()
	select {
	case link := <-found:
		return link
	case <-time.After(30 * time.Second):
		t.Fatal("kubectl dashboard ui printed no URL")
	}
	return ""
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (.ci/run does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(allocCtx)
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return bctx
}

func do(t *testing.T, bctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for i, a := range actions {
		if err := chromedp.Do(bctx, a); err != nil {
			html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s, step %d: %v\n%s", what, i, err, html)
		}
	}
}

// text is the text of the first element matching sel.
func text(t *testing.T, bctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// submit opens page and posts the form of the section headed id after the actions that fill it, and returns the
// text of the result (.ok) or error (.error) box.
func submit(t *testing.T, bctx context.Context, page, section string, fill ...chromedp.Action[chromedp.Void]) string {
	t.Helper()
	sel := fmt.Sprintf(`section[aria-labelledby=%q] button[type=submit]`, section)
	do(t, bctx, "opening "+page, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(sel)))
	do(t, bctx, "submitting "+section, append(fill, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(".ok, .error")))...)
	return text(t, bctx, ".ok, .error")
}

func userPage(base, email string) string {
	return base + "/user?" + url.Values{"ns": {"default"}, "user": {email}}.Encode()
}

// TestUIUsersPage drives the users page in headless chromium against the real control plane with
// the real manager: invite three users, edit a role, grant, reset and revoke, download the CSV,
// a read-only kubeconfig refused every write, and the security checks from outside a browser.
func TestUIUsersPage(t *testing.T) {
	t.Parallel()
	dev := startDev(t, t.TempDir())
	defer dev.interrupt()
	rbac := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(rbac, []byte(readOnlyRBAC), 0o600); err != nil {
		t.Fatal(err)
	}
	dev.kubectl("apply", "-f", rbac)

	link := startUI(t, dev)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + u.Host
	bctx := newBrowser(t)

	do(t, bctx, "opening the printed URL", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("users")))
	location, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(location, "token") {
		t.Errorf("the token stayed in the address bar: %s", location)
	}

	// + User: three in one go.
	do(t, bctx, "opening + User", chromedp.Click(chromedp.CSS(`a.button.primary`)), chromedp.WaitVisible(chromedp.CSS("#email-3")))
	emails := []string{"ana@example.com", "bob@example.com", "cid@example.com"}
	fill := make([]chromedp.Action[chromedp.Void], 0, len(emails)+3)
	for i, e := range emails {
		fill = append(fill, chromedp.SendKeys(chromedp.CSS(fmt.Sprintf("#email-%d", i+1)), e))
	}
	fill = append(fill, chromedp.SetValue(chromedp.CSS("#role-2"), "Creator"), chromedp.Click(chromedp.CSS(`button[type=submit].primary`)),
		chromedp.WaitVisible(chromedp.CSS(".ok, .error")))
	do(t, bctx, "inviting three users", fill...)
	if got := text(t, bctx, ".ok, .error"); !strings.Contains(got, "3 users successfully invited") {
		t.Fatalf("+ User said %q", got)
	}

	// The table shows them Invited, live (the operator sends the invites meanwhile).
	do(t, bctx, "back to the table", chromedp.Navigate(base+"/?ns=default"), chromedp.WaitVisible(chromedp.CSS("#users")))
	waitFor(t, 60*time.Second, "the three users to show as Invited", func() bool {
		rows, _ := chromedp.Run(bctx, chromedp.Text(chromedp.ID("users-body")))
		return strings.Count(rows, "Invited") == 3
	})
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		screenshot(t, bctx, 1280, "users-page.png")
	}

	// Live: a user created elsewhere (the CLI) appears without reloading the page.
	k := exec.Command(filepath.Join(binDir, "kubectl-dashboard"), "invite", "-n", "default", "--role", "Approver", "dee@example.com",
		"--kubeconfig", filepath.Join(dev.state, "kubeconfig"))
	if out, err := k.CombinedOutput(); err != nil {
		t.Fatalf("kubectl dashboard invite: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "dee to appear in the open table (server-sent events)", func() bool {
		rows, _ := chromedp.Run(bctx, chromedp.Text(chromedp.ID("users-body")))
		return strings.Contains(rows, "dee@example.com")
	})

	searchAndSortInTheBrowser(t, bctx)
	inlineRoleAndResend(t, bctx, dev)

	// Edit Role, Grant Passcode, Reset Passcode, Revoke Access on ana's page.
	do(t, bctx, "opening ana's page", chromedp.Navigate(userPage(base, "ana@example.com")), chromedp.WaitVisible(chromedp.CSS("#role")))
	if got := submit(t, bctx, userPage(base, "ana@example.com"), "h-role", chromedp.SetValue(chromedp.CSS("#role"), "Admin")); !strings.Contains(got, "role changed from Member to Admin") {
		t.Errorf("Edit Role said %q", got)
	}
	got := submit(t, bctx, userPage(base, "ana@example.com"), "h-grant", chromedp.SetValue(chromedp.CSS("#tenure"), "30d"), chromedp.SetValue(chromedp.CSS("#grace"), "1h"))
	if !strings.Contains(got, "created for dashboarduser/"+users.ObjectNameForEmail("ana@example.com")) {
		t.Fatalf("Grant Passcode said %q", got)
	}
	c := dev.client()
	anaName := users.ObjectNameForEmail("ana@example.com")
	waitFor(t, 60*time.Second, "ana's passcode to be Active", func() bool {
		user := &accessv1alpha1.DashboardUser{}
		return c.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: anaName}, user) == nil &&
			user.Status.PasscodeStatus == accessv1alpha1.PasscodeSummaryActive
	})
	// A passcode revoked elsewhere (the CLI) shows in the open table's Passcode-Status column: the
	// page watches Passcodes too.
	do(t, bctx, "the table", chromedp.Navigate(base+"/?ns=default"), chromedp.WaitVisible(chromedp.ID("users")))
	anaPasscode := `#users-body tr[data-user="` + anaName + `"] td[data-key="passcode"]`
	waitFor(t, 30*time.Second, "ana's Passcode-Status to be Active", func() bool {
		s, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(anaPasscode)))
		return strings.TrimSpace(s) == "Active"
	})
	do(t, bctx, "marking the page", chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	cli(t, dev, "passcode", "revoke", anaName+ops.DefaultPasscodeSuffix)
	waitFor(t, 60*time.Second, "ana's Passcode-Status to show Revoked in the open table", func() bool {
		s, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(anaPasscode)))
		return strings.TrimSpace(s) == "Revoked"
	})
	if same, _ := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); !same {
		t.Error("the page was reloaded")
	}
	do(t, bctx, "reloading ana's page", chromedp.Navigate(userPage(base, "ana@example.com")), chromedp.WaitVisible(chromedp.CSS("#passcode")))
	if got := submit(t, bctx, userPage(base, "ana@example.com"), "h-reset", chromedp.Click(chromedp.CSS(`section[aria-labelledby="h-reset"] input[name=confirm]`))); !strings.Contains(got, "reset requested") {
		t.Errorf("Reset Passcode said %q", got)
	}
	if got := submit(t, bctx, userPage(base, "ana@example.com"), "h-access", chromedp.Click(chromedp.CSS(`section[aria-labelledby="h-access"] input[name=confirm]`))); !strings.Contains(got, "access revoked (was Granted)") {
		t.Errorf("Revoke Access said %q", got)
	}
	waitFor(t, 60*time.Second, "the Passcode-Status column to show Revoked", func() bool {
		if chromedp.Do(bctx, chromedp.Navigate(base+"/?ns=default&q=ana"), chromedp.WaitVisible(chromedp.ID("users"))) != nil {
			return false
		}
		rows, _ := chromedp.Run(bctx, chromedp.Text(chromedp.ID("users-body")))
		return strings.Contains(rows, "Revoked")
	})
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		do(t, bctx, "ana's page", chromedp.Navigate(userPage(base, "bob@example.com")), chromedp.WaitVisible(chromedp.CSS("#role")))
		screenshot(t, bctx, 1280, "users-page-user.png")
		do(t, bctx, "the table", chromedp.Navigate(base+"/?ns=default"), chromedp.WaitVisible(chromedp.CSS("#users")))
		screenshot(t, bctx, 420, "users-page-narrow.png")
	}

	// Download Users is the CSV of users export.
	do(t, bctx, "the table", chromedp.Navigate(base+"/?ns=default"), chromedp.WaitVisible(chromedp.ID("users")))
	csv, err := chromedp.Run(bctx, chromedp.Evaluate[string](`fetch('/export.csv?ns=default').then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("downloading the CSV: %v", err)
	}
	export, err := exec.Command(filepath.Join(binDir, "kubectl-dashboard"), "users", "export", "-n", "default",
		"--kubeconfig", filepath.Join(dev.state, "kubeconfig")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if csv != string(export) {
		t.Errorf("Download Users:\n%s\nusers export:\n%s", csv, export)
	}

	keyboardAndAccessibility(t, bctx, base, "bob@example.com")
	readOnlyRefused(t, dev)
	securityChecks(t, base)
}

// cli runs kubectl-dashboard with the session's kubeconfig.
func cli(t *testing.T, dev *devRun, args ...string) string {
	t.Helper()
	args = append(args, "-n", "default", "--kubeconfig", filepath.Join(dev.state, "kubeconfig"))
	out, err := exec.Command(filepath.Join(binDir, "kubectl-dashboard"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl dashboard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// visibleEmails are the emails of the rows the table shows, top to bottom.
func visibleEmails(t *testing.T, bctx context.Context) []string {
	t.Helper()
	emails, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#users-body tr[data-user]:not([hidden]) td[data-key=email]")).map(td => td.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	return emails
}

// searchAndSortInTheBrowser: typing filters the rows and the headers sort them in the page (no
// reload), with aria-sort following, and the address keeps both for a reload.
func searchAndSortInTheBrowser(t *testing.T, bctx context.Context) {
	t.Helper()
	do(t, bctx, "marking the page", chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	do(t, bctx, "typing a search", chromedp.SendKeys(chromedp.ID("q"), "bo"))
	if got := visibleEmails(t, bctx); strings.Join(got, " ") != "bob@example.com" {
		t.Errorf("searching bo shows %q", got)
	}
	do(t, bctx, "clearing the search", chromedp.Evaluate[chromedp.Void](`const q = document.getElementById("q"); q.value = ""; q.dispatchEvent(new Event("input"))`))
	if got := visibleEmails(t, bctx); len(got) != 4 {
		t.Errorf("an empty search shows %q", got)
	}
	email := `#users th[data-key=email]`
	do(t, bctx, "sorting on Email", chromedp.Click(chromedp.CSS(email+" button")))
	do(t, bctx, "sorting on Email again", chromedp.Click(chromedp.CSS(email+" button")))
	if got := visibleEmails(t, bctx); strings.Join(got, " ") != "dee@example.com cid@example.com bob@example.com ana@example.com" {
		t.Errorf("Email descending: %q", got)
	}
	sort, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("`+email+`").getAttribute("aria-sort") + " " + location.search`))
	if sort != "descending ?ns=default&sort=email&desc=1" {
		t.Errorf("aria-sort and address: %q", sort)
	}
	if same, _ := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); !same {
		t.Error("searching or sorting reloaded the page")
	}
	do(t, bctx, "sorting on Email", chromedp.Click(chromedp.CSS(email+" button")))
}

// inlineRoleAndResend: Edit Role in cid's row, then Resend invite to bob from his row's dialog,
// which needs its box ticked.
func inlineRoleAndResend(t *testing.T, bctx context.Context, dev *devRun) {
	t.Helper()
	cid := users.ObjectNameForEmail("cid@example.com")
	do(t, bctx, "Edit Role in cid's row", chromedp.SetValue(chromedp.ID("role-"+cid), "Approver"),
		chromedp.Click(chromedp.CSS(`button[aria-label="Save the role of cid@example.com"]`)), chromedp.WaitVisible(chromedp.CSS(".ok, .error")))
	if got := text(t, bctx, ".ok, .error"); !strings.Contains(got, "dashboarduser/"+cid+" role changed from Member to Approver") {
		t.Errorf("inline Edit Role said %q", got)
	}
	bob := users.ObjectNameForEmail("bob@example.com")
	do(t, bctx, "Resend invite to bob", chromedp.Click(chromedp.CSS(`button[aria-label="Resend invite to bob@example.com"]`)),
		chromedp.WaitVisible(chromedp.ID("resend-"+bob)),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll(".ok, .error").forEach(e => e.remove())`),
		chromedp.Click(chromedp.CSS("#resend-"+bob+" input[name=confirm]")), chromedp.Click(chromedp.CSS("#resend-"+bob+" button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".ok, .error")))
	if got := text(t, bctx, ".ok, .error"); !strings.Contains(got, "dashboarduser/"+bob+" invite resend requested at ") {
		t.Errorf("Resend invite said %q", got)
	}
	u := &accessv1alpha1.DashboardUser{}
	if err := dev.client().Get(context.Background(), types.NamespacedName{Namespace: "default", Name: bob}, u); err != nil ||
		u.Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation] == "" {
		t.Errorf("bob's resend was not requested: %v", err)
	}
}

func screenshot(t *testing.T, bctx context.Context, width int64, name string) {
	t.Helper()
	do(t, bctx, "viewport "+name, chromedp.EmulateViewport(width, 900), chromedp.Sleep(300*time.Millisecond))
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "docs", "images", name), shot, 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, bctx, "viewport back", chromedp.EmulateViewport(1280, 900))
}

// readOnlyKubeconfig writes a kubeconfig of its own for the ServiceAccount "viewer" (a token from
// the TokenRequest API, the session's server and CA): what a read-only person is given.
func readOnlyKubeconfig(t *testing.T, dev *devRun) string {
	t.Helper()
	token := strings.TrimSpace(dev.kubectl("create", "token", "viewer", "-n", "default", "--duration", "1h"))
	cfg, err := clientcmd.LoadFromFile(filepath.Join(dev.state, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	cluster := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]
	ro := clientcmdapi.NewConfig()
	ro.Clusters["dev"] = cluster
	ro.AuthInfos["viewer"] = &clientcmdapi.AuthInfo{Token: token}
	ro.Contexts["viewer"] = &clientcmdapi.Context{Cluster: "dev", AuthInfo: "viewer", Namespace: "default"}
	ro.CurrentContext = "viewer"
	path := filepath.Join(dev.state, "viewer.kubeconfig")
	if err := clientcmd.WriteToFile(*ro, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// readOnlyRefused: the page run with a read-only kubeconfig (a ServiceAccount token bound to a
// get/list/watch Role) shows the table and says "Not allowed" on every write.
func readOnlyRefused(t *testing.T, dev *devRun) {
	t.Helper()
	link := startUI(t, dev, "--kubeconfig", readOnlyKubeconfig(t, dev)) // the later --kubeconfig wins
	u, _ := url.Parse(link)
	base := "http://" + u.Host
	bctx := newBrowser(t)
	do(t, bctx, "opening the read-only page", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#users")))
	if rows := text(t, bctx, "#users-body"); !strings.Contains(rows, "bob@example.com") {
		t.Fatalf("the read-only page does not list the users: %q", rows)
	}
	notAllowed := func(what, got string) {
		t.Helper()
		if !strings.Contains(got, "Not allowed") || !strings.Contains(got, "forbidden") {
			t.Errorf("read-only %s said %q", what, got)
		}
	}
	bob := userPage(base, "bob@example.com")
	do(t, bctx, "bob's page", chromedp.Navigate(bob), chromedp.WaitVisible(chromedp.CSS("#role")))
	notAllowed("Edit Role", submit(t, bctx, bob, "h-role", chromedp.SetValue(chromedp.CSS("#role"), "Admin")))
	notAllowed("Grant Passcode", submit(t, bctx, bob, "h-grant", chromedp.SetValue(chromedp.CSS("#tenure"), "1d")))
	notAllowed("Revoke Access", submit(t, bctx, bob, "h-access", chromedp.Click(chromedp.CSS(`section[aria-labelledby="h-access"] input[name=confirm]`))))
	do(t, bctx, "ana's page", chromedp.Navigate(userPage(base, "ana@example.com")), chromedp.WaitVisible(chromedp.CSS("#passcode")))
	notAllowed("Reset Passcode", submit(t, bctx, userPage(base, "ana@example.com"), "h-reset", chromedp.Click(chromedp.CSS(`section[aria-labelledby="h-reset"] input[name=confirm]`))))
	do(t, bctx, "+ User", chromedp.Navigate(base+"/invite?ns=default"), chromedp.WaitVisible(chromedp.CSS("#email-1")),
		chromedp.SendKeys(chromedp.CSS("#email-1"), "dan@example.com"), chromedp.Click(chromedp.CSS(`button[type=submit].primary`)),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	notAllowed("+ User", text(t, bctx, ".error"))
}

// securityChecks: no token, a wrong Host, and a cross-site POST are refused.
func securityChecks(t *testing.T, base string) {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status := func(req *http.Request) int {
		t.Helper()
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	get, _ := http.NewRequest(http.MethodGet, base+"/?ns=default", nil)
	if code := status(get); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
	rebound, _ := http.NewRequest(http.MethodGet, base+"/?ns=default", nil)
	rebound.Host = "attacker.example" + base[strings.LastIndex(base, ":"):]
	if code := status(rebound); code != http.StatusMisdirectedRequest {
		t.Errorf("with a wrong Host: %d, want 421", code)
	}
	// A cross-site form post, even if the browser sent the cookie: no CSRF token, another Origin.
	post, _ := http.NewRequest(http.MethodPost, base+"/invite", strings.NewReader("ns=default&email=eve%40example.com&role=Admin"))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.Header.Set("Origin", "http://attacker.example")
	post.Header.Set("Sec-Fetch-Site", "cross-site")
	if code := status(post); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("a cross-site POST: %d, want 401 or 403", code)
	}
}
