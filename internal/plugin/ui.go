package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
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
printed URL carries a one-time session token; the page trades it for a cookie and removes it
from the address bar. The browser opens unless --no-browser. Stop with Ctrl-C.`

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
	page, err := ui.New(ui.Config{Client: c, Namespace: ns, Token: token, Addr: addr})
	if err != nil {
		_ = ln.Close()
		return err
	}
	link := fmt.Sprintf("http://%s/?%s", addr, url.Values{"ns": {ns}, "token": {token}}.Encode())
	o.printf("Serving the users page of project %s on this computer only. Open:\n  %s\nPress Ctrl-C to stop.\n", ns, link)
	if !noBrowser {
		if err := openBrowser(link); err != nil {
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

// openBrowser starts the desktop's browser on link without waiting for it.
func openBrowser(link string) error {
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	path, err := exec.LookPath(opener)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, link) //nolint:gosec,noctx // the URL is ours; the browser outlives the command
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
