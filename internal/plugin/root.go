package plugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

const rootLong = `kubectl dashboard manages the users, roles and API passcodes of a dashboard project (a namespace):
the users page, done on the DashboardUser, Passcode and DashboardRole resources the access
operator acts on.

It reads and writes only DashboardUser, Passcode, DashboardRole and AccessReview objects: it never reads a
Secret, so it never shows a passcode. Workloads mount the Secret a Passcode names.

The namespace comes from -n/--namespace, else from the kubeconfig context, as with kubectl.

Commands that write accept --dry-run=none|client|server: client prints what would be done and
sends nothing; server sends the request with dryRun=All, so the API server validates it and
stores nothing.

Exit codes:
  0  success (a no-op, such as inviting someone already invited, is a success)
  1  the API server refused or failed the request (not found, forbidden, conflict,
     unreachable), or the kubeconfig could not be used
  2  bad arguments, flags or input: nothing was written`

// FieldManager is the field manager of every write, so that metadata.managedFields shows which
// fields the plugin set (a merge patch owns only the one field it changes).
const FieldManager = "kubectl-dashboard"

// options is what every command shares: the kubeconfig flags and the streams.
type options struct {
	configFlags *genericclioptions.ConfigFlags
	streams     genericiooptions.IOStreams
	// client is made on first use, from configFlags.
	client client.WithWatch
}

// NewRootCommand builds `kubectl dashboard` and its subcommands, writing to streams. Errors are not
// printed: the caller prints them (as "error: ...") and exits with ExitCode(err).
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{configFlags: genericclioptions.NewConfigFlags(true), streams: streams}
	cmd := &cobra.Command{
		Use:   "kubectl-dashboard",
		Short: "Manage dashboard users and API passcodes",
		Long:  rootLong,
		Example: `  kubectl dashboard invite --role Member jane@example.com omar@example.com
  kubectl dashboard users list
  kubectl dashboard roles create analyst --permission reports.read,exports.download
  kubectl dashboard passcode grant jane@example.com --tenure 30d`,
		Annotations:       map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl dashboard"},
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return asUsage(err) })
	o.configFlags.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(newInviteCommand(o), newUsersCommand(o), newPasscodeCommand(o), newRolesCommand(o), newUICommand(o), newReviewCommand(o))
	return cmd
}

// groupRunE is the RunE of a command that only groups others: without arguments it prints its help,
// with one it refuses an unknown subcommand (exit 2), with suggestions.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(suggestions, "\n\t")
	}
	return usageErrorf("%s\nRun '%s --help' for usage.", msg, cmd.CommandPath())
}

// exactArgs is cobra.ExactArgs with a usage error naming what is expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s expects %s, got %d argument(s)\nRun '%s --help' for usage.", cmd.CommandPath(), what, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// namespace is -n, else the kubeconfig context's namespace, else "default".
func (o *options) namespace() (string, error) {
	ns, _, err := o.configFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}

// scheme knows the kinds of access.dashboardops.io/v1alpha1, the only ones the plugin uses.
func scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	// Namespaces: the users page's project switcher lists them.
	if err := corev1.AddToScheme(s); err != nil {
		return nil, err
	}
	// SelfSubjectReview: who decides in an access review.
	if err := authenticationv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// clientQPS and clientBurst are the plugin's client-side rate limit (kubectl's for discovery).
const (
	clientQPS   = 50
	clientBurst = 300
)

// getClient makes (once) a controller-runtime client from the kubeconfig flags, one that can also
// watch (the users page's live table); API warnings go to stderr.
func (o *options) getClient() (client.WithWatch, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	// client-go's default of 5 requests a second (burst 10) holds a list of 10,000 users, read in
	// 20 pages, for two seconds, and the users page reads two such lists per view. The pages are
	// read one after the other, and the API server's priority and fairness protect it: kubectl's
	// discovery figures, unless the kubeconfig sets its own.
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS, cfg.Burst = clientQPS, clientBurst
	}
	cfg.WarningHandler = rest.NewWarningWriter(o.streams.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
	s, err := scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s, FieldOwner: FieldManager})
	if err != nil {
		return nil, fmt.Errorf("connecting to the API server: %w", err)
	}
	o.client = c
	return c, nil
}

// target is the client and namespace a command works on.
func (o *options) target() (client.Client, string, error) {
	ns, err := o.namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := o.getClient()
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// printf writes to stdout; a failed write to the terminal is not worth an error of its own.
// writeTarget is what every command that changes one object starts with: the parsed --dry-run,
// a client, the namespace and the command's context.
func (o *options) writeTarget(cmd *cobra.Command, dryRunFlag string) (context.Context, client.Client, string, DryRun, error) {
	dryRun, err := parseDryRun(dryRunFlag)
	if err != nil {
		return nil, nil, "", dryRun, err
	}
	c, ns, err := o.target()
	if err != nil {
		return nil, nil, "", dryRun, err
	}
	return commandContext(cmd), c, ns, dryRun, nil
}

// printResult prints what an operation reports: its lines on stdout, its warnings on stderr.
func (o *options) printResult(r ops.Result) {
	for _, l := range r.Lines {
		o.printf("%s\n", l)
	}
	for _, w := range r.Warnings {
		o.warnf("%s\n", w)
	}
}

func (o *options) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(o.streams.Out, format, args...)
}

// warnf writes a line to stderr.
func (o *options) warnf(format string, args ...any) {
	_, _ = fmt.Fprintf(o.streams.ErrOut, format, args...)
}

// commandContext is the command's context, never nil.
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
