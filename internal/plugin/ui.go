package plugin

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/dashboardops/access-operator/internal/ui"
)

const uiLong = `Serve the users page on this computer: the users table (Name, Role, Email, User Status, Last
Login, Passcode-Status), live as users and passcodes change, with search, sorting, "+ User" (up
to 50 at once), Edit Role, Resend Invite, Revoke Access, Grant and Reset Passcode, Download Users
(the CSV of users export) and a project switcher.

The page listens on 127.0.0.1 only (a random port unless --port), and acts with your kubeconfig's
credentials: Kubernetes RBAC decides what you may do, and nothing changes in the cluster. The
printed URL carries a one-time session token; the page trades it for a cookie of its own and
removes it from the address bar. The browser opens unless --no-browser: it is given a private
file (readable by you alone, deleted once used) that leads to the URL, never the URL itself, so
that other users of this computer cannot read the token in its command line. Stop with Ctrl-C.`

func newUICommand(o *options) *cobra.Command {
	var port int
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "ui [--port N] [--no-browser]",
		Short: "Serve the users page on 127.0.0.1, acting with your kubeconfig's credentials",
		Long:  uiLong,
		Example: `  kubectl dashboard ui
  kubectl dashboard ui -n marketing --port 8080 --no-browser`,
		Args:              exactArgs(0, "no arguments"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return usageErrorf("invalid --port %d: must be 0 (a random port) to 65535", port)
			}
			return o.serveUI(commandContext(cmd), port, noBrowser)
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "Port on 127.0.0.1 to serve the page on (0: a random free port)")
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "Do not open the browser; only print the URL")
	return cmd
}

func (o *options) serveUI(ctx context.Context, port int, noBrowser bool) error {
	ns, err := o.namespace()
	if err != nil {
		return err
	}
	c, err := o.getClient()
	if err != nil {
		return err
	}
	token, err := ui.NewToken()
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listening on 127.0.0.1:%d: %w", port, err)
	}
	addr := ln.Addr().String()
	link := fmt.Sprintf("http://%s/?%s", addr, url.Values{"ns": {ns}, "token": {token}}.Encode())
	var handOff string
	removeHandOff := func() {}
	if !noBrowser {
		if handOff, removeHandOff, err = writeHandOff(link); err != nil {
			o.warnf("Could not prepare the page for the browser (%v): open the URL below yourself.\n", err)
		}
	}
	defer removeHandOff()
	// The file is deleted as soon as the link was used, whoever used it.
	page, err := ui.New(ui.Config{Client: c, Namespace: ns, Token: token, Addr: addr, TokenUsed: removeHandOff})
	if err != nil {
		_ = ln.Close()
		return err
	}
	o.printf("Serving the users page of project %s on this computer only. Open:\n  %s\nPress Ctrl-C to stop.\n", ns, link)
	if handOff != "" {
		if err := openBrowser(handOff); err != nil {
			removeHandOff()
			o.warnf("Could not open a browser (%v): open the URL above yourself.\n", err)
		}
	}
	srv := &http.Server{Handler: page, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving the users page: %w", err)
	}
	return nil
}

// writeHandOff writes a page that sends the browser on to link, in a new directory only this user
// may enter (0700; the file is 0600), and returns its path and a function that deletes both (safe
// to call more than once, from any goroutine). The browser is started on this path, not on link:
// a command line is readable by every user of the computer (ps, /proc/<pid>/cmdline), and the
// link's one-time token would be there until the browser exits.
func writeHandOff(link string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "kubectl-dashboard-ui-") // 0700
	if err != nil {
		return "", func() {}, err
	}
	var once sync.Once
	remove := func() { once.Do(func() { _ = os.RemoveAll(dir) }) }
	// no-referrer: the next page learns nothing of this file. The link is ours (an address and
	// query built by url.Values), escaped for the attribute all the same.
	a := html.EscapeString(link)
	page := `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
		`<meta http-equiv="refresh" content="0;url=` + a + `"><title>kubectl dashboard ui</title>` +
		`<p><a href="` + a + `">Open the users page</a></p>` + "\n"
	path := filepath.Join(dir, "open-users-page.html")
	if err := os.WriteFile(path, []byte(page), 0o600); err != nil {
		remove()
		return "", func() {}, err
	}
	return path, remove, nil
}

// openBrowser starts the desktop's browser on target (a file or URL) without waiting for it.
func openBrowser(target string) error {
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	path, err := exec.LookPath(opener)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, target) //nolint:gosec,noctx // the path is ours; the browser outlives the command
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
