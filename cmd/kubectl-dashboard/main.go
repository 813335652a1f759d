// Command kubectl-dashboard is the kubectl plugin for the imperative actions of the users page:
// `kubectl dashboard invite`, `users`, `passcode` (see internal/plugin). On PATH, kubectl runs it as
// `kubectl dashboard ...`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/dashboardops/access-operator/internal/plugin"
)

func main() {
	// controller-runtime's client logs nothing a CLI user needs (API warnings go to stderr on their own).
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}

// run executes the plugin with args, prints an error as "error: ..." on stderr, and returns the
// exit code: 0 success, 1 the API server refused or failed, 2 bad arguments (nothing written).
func run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	cmd := plugin.NewRootCommand(streams)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		_, _ = fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	}
	return plugin.ExitCode(err)
}
