// Package options holds the manager's command-line flags (SPEC "Manager flags") and checks them
// before anything starts, so that a bad value stops the manager with a message naming the flag.
package options

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/dashboardops/access-operator/internal/notify"
)

// Notifier kinds.
const (
	NotifierLog     = "log"
	NotifierSMTP    = "smtp"
	NotifierWebhook = "webhook"
)

// SMTP transport security modes.
const (
	SMTPTLSNone     = "none"
	SMTPTLSStartTLS = "starttls"
	SMTPTLS         = "tls"
)

// MaxInviteBatchSize is the dashboard's limit of invites at one time, per project.
const MaxInviteBatchSize = 50

// DefaultInviteGlobalBatchSize and MaxInviteGlobalBatchSize bound the invites sent per window over
// all namespaces: by default ten projects at full pace (500 per 10 s, 50 a second to the notifier).
const (
	DefaultInviteGlobalBatchSize = 500
	MaxInviteGlobalBatchSize     = 100000
)

// Options are the manager's settings. Zero values are not meaningful: start from Default().
type Options struct {
	MetricsBindAddress     string
	MetricsSecure          bool
	HealthProbeBindAddress string
	LeaderElect            bool
	// LeaderElectionNamespace holds the leader election Lease; empty means the namespace the
	// manager runs in (in-cluster only).
	LeaderElectionNamespace string
	// Dev allows what only a workstation should do: the log notifier and a loopback --public-url.
	Dev         bool
	EnableHTTP2 bool

	AccessBindAddress string
	PublicURL         string

	Notifier          string
	WebhookURL        string
	WebhookSecretFile string
	// WebhookSignature is how webhook deliveries are signed: standard (Standard Webhooks) or
	// x-dashboard (the X-Dashboard-Signature scheme of earlier releases).
	WebhookSignature string
	SMTPAddress      string
	SMTPFrom         string
	SMTPUsername     string
	SMTPPasswordFile string
	SMTPTLS          string
	// SMTPCAFile is a PEM bundle trusted for the SMTP server in addition to the system roots.
	SMTPCAFile string
	// NotifyEvents lists the lifecycle notifications to deliver (comma-separated event types).
	NotifyEvents string
	// InviteBatchSize is how many invites one namespace (dashboard project) may send per window.
	InviteBatchSize int
	// InviteGlobalBatchSize is how many invites all namespaces together may send per window.
	InviteGlobalBatchSize int
	// InviteBatchWindow is how often a new batch of invites may go out.
	InviteBatchWindow time.Duration

	// AllowInsecureDelivery permits invite links in clear text to hosts other than loopback.
	AllowInsecureDelivery bool

	// Worker counts and the client's rate limit toward the API server.
	PasscodeWorkers, UserWorkers int
	KubeAPIQPS                   float64
	KubeAPIBurst                 int

	// PprofBindAddress serves net/http/pprof (heap and CPU profiles); empty or "0" disables it.
	PprofBindAddress string

	// ThrottleIPv6Prefix is the IPv6 network size counted as one client by the failure throttle.
	ThrottleIPv6Prefix int

	WatchNamespaces string
	TrustedProxies  string
}

// Default returns the documented defaults.
func Default() Options {
	return Options{
		MetricsBindAddress:     "0",
		MetricsSecure:          true,
		HealthProbeBindAddress: ":8081",
		AccessBindAddress:      ":8082",
		PublicURL:              "http://localhost:8082",
		Notifier:               NotifierLog,
		SMTPTLS:                SMTPTLSStartTLS,
		WebhookSignature:       string(notify.SchemeStandard),
		NotifyEvents:           notify.DefaultEvents,
		InviteBatchSize:        MaxInviteBatchSize,
		InviteGlobalBatchSize:  DefaultInviteGlobalBatchSize,
		InviteBatchWindow:      10 * time.Second,
		ThrottleIPv6Prefix:     64,
		PasscodeWorkers:        16,
		UserWorkers:            16,
		KubeAPIQPS:             500,
		KubeAPIBurst:           1000,
	}
}

// Bind registers every flag on fs with o's current values as defaults. --kubeconfig is registered
// by controller-runtime itself.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress,
		"Address the metrics endpoint binds to, e.g. :8443 (HTTPS) or :8080 (HTTP); 0 disables it.")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", o.MetricsSecure,
		"Serve metrics over HTTPS, authenticated and authorized through the API server.")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", o.HealthProbeBindAddress,
		"Address the /healthz and /readyz probes bind to.")
	fs.BoolVar(&o.Dev, "dev", o.Dev,
		"Development mode (make dev): allows --notifier=log, which prints live invite links, and a --public-url on loopback. Never in production.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect,
		"Elect a leader so that only one replica runs the controllers (every replica serves the access server).")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace,
		"Namespace of the leader election Lease; empty means the namespace the manager runs in (required with --leader-elect out of cluster).")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", o.EnableHTTP2,
		"Allow HTTP/2 on the metrics server (off by default: CVE-2023-44487 and CVE-2023-39325).")
	fs.StringVar(&o.AccessBindAddress, "access-bind-address", o.AccessBindAddress,
		"Address the access server (verify API, gateway auth, invite page) binds to.")
	fs.StringVar(&o.PublicURL, "public-url", o.PublicURL,
		"Base URL of the access server as users reach it; invite links are <public-url>/invitations/<token>.")
	fs.StringVar(&o.Notifier, "notifier", o.Notifier, "How invites are delivered: log, smtp or webhook.")
	fs.StringVar(&o.WebhookURL, "webhook-url", o.WebhookURL, "URL that receives signed invite POSTs (--notifier=webhook).")
	fs.StringVar(&o.WebhookSecretFile, "webhook-secret-file", o.WebhookSecretFile,
		"File holding the HMAC-SHA256 key that signs webhook deliveries (--notifier=webhook): whsec_<base64 key>, or the key itself.")
	fs.StringVar(&o.WebhookSignature, "webhook-signature", o.WebhookSignature,
		"How webhook deliveries are signed: standard (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature) "+
			"or x-dashboard (X-Dashboard-Timestamp, X-Dashboard-Signature, as before).")
	fs.StringVar(&o.SMTPAddress, "smtp-address", o.SMTPAddress, "SMTP server as host:port (--notifier=smtp).")
	fs.StringVar(&o.SMTPFrom, "smtp-from", o.SMTPFrom, "Sender address of invite emails (--notifier=smtp).")
	fs.StringVar(&o.SMTPUsername, "smtp-username", o.SMTPUsername, "SMTP user name; needs --smtp-password-file.")
	fs.StringVar(&o.SMTPPasswordFile, "smtp-password-file", o.SMTPPasswordFile, "File holding the SMTP password.")
	fs.StringVar(&o.SMTPTLS, "smtp-tls", o.SMTPTLS, "SMTP transport security: none, starttls or tls.")
	fs.StringVar(&o.SMTPCAFile, "smtp-ca-file", o.SMTPCAFile,
		"PEM file of CA certificates trusted for the SMTP server in addition to the system roots (a private CA).")
	fs.StringVar(&o.NotifyEvents, "notify-events", o.NotifyEvents,
		"Comma-separated lifecycle notifications to deliver through --notifier (empty: none): "+allEventTypes()+
			". SMTP emails the user about passcode.expiring and passcode.expired only.")
	fs.BoolVar(&o.AllowInsecureDelivery, "allow-insecure-delivery", o.AllowInsecureDelivery,
		"Allow --smtp-tls=none and http:// webhook URLs to hosts other than loopback: invite links then cross the network in clear text.")
	fs.IntVar(&o.InviteBatchSize, "invite-batch-size", o.InviteBatchSize,
		"Invites sent per batch window in each namespace (dashboard project), from 1 to 50 (the dashboard's limit).")
	fs.IntVar(&o.InviteGlobalBatchSize, "invite-global-batch-size", o.InviteGlobalBatchSize,
		"Invites sent per batch window over all namespaces, from --invite-batch-size to 100000; when more are waiting, "+
			"each window is split evenly between the namespaces waiting, so one namespace's burst never holds up another's invites.")
	fs.DurationVar(&o.InviteBatchWindow, "invite-batch-window", o.InviteBatchWindow,
		"How often a new batch of invites may go out, from 100ms to 1h: 10k queued invites take 10000/--invite-batch-size windows.")
	fs.StringVar(&o.PprofBindAddress, "pprof-bind-address", o.PprofBindAddress,
		"Address serving Go profiles at /debug/pprof/ (e.g. 127.0.0.1:6060); empty disables it. Keep it on loopback: profiles cost CPU and show code paths.")
	fs.StringVar(&o.WatchNamespaces, "watch-namespaces", o.WatchNamespaces,
		"Comma-separated namespaces to manage; empty manages all namespaces.")
	fs.IntVar(&o.PasscodeWorkers, "passcode-workers", o.PasscodeWorkers, "Passcodes reconciled at once, from 1 to 64.")
	fs.IntVar(&o.UserWorkers, "user-workers", o.UserWorkers, "DashboardUsers reconciled at once (invite deliveries wait on SMTP or a webhook), from 1 to 64.")
	fs.Float64Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS,
		"Requests per second the manager sends to the API server, sustained, over all its controllers (above 0, at most 5000).")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst,
		"Requests the manager may send to the API server in a burst (at least --kube-api-qps, at most 10000).")
	fs.IntVar(&o.ThrottleIPv6Prefix, "throttle-ipv6-prefix", o.ThrottleIPv6Prefix,
		"Leading bits of an IPv6 client address that the failure throttle counts as one client, from 32 to 128 (a host usually holds a /64).")
	fs.StringVar(&o.TrustedProxies, "trusted-proxies", o.TrustedProxies,
		"Comma-separated CIDRs of gateways whose X-Forwarded-For names the client; empty trusts none.")
}

// validateInvitePace checks the invite batch flags: per namespace, in all, and the window.
func (o *Options) validateInvitePace(p *problems) {
	if o.InviteBatchSize < 1 || o.InviteBatchSize > MaxInviteBatchSize {
		p.bad("invite-batch-size", "%d is not allowed; use 1 to %d", o.InviteBatchSize, MaxInviteBatchSize)
	}
	if o.InviteGlobalBatchSize < max(o.InviteBatchSize, 1) || o.InviteGlobalBatchSize > MaxInviteGlobalBatchSize {
		p.bad("invite-global-batch-size", "%d is not allowed; use --invite-batch-size (%d) to %d", o.InviteGlobalBatchSize,
			o.InviteBatchSize, MaxInviteGlobalBatchSize)
	}
	if o.InviteBatchWindow < 100*time.Millisecond || o.InviteBatchWindow > time.Hour {
		p.bad("invite-batch-window", "%s is not allowed; use 100ms to 1h", o.InviteBatchWindow)
	}
}

// problems collects what is wrong with the flags, each message naming its flag.
type problems []error

func (p *problems) bad(flagName, format string, args ...any) {
	*p = append(*p, fmt.Errorf("--%s: %s", flagName, fmt.Sprintf(format, args...)))
}

// Config is the manager's settings parsed once, as setup and main.go use them: the flags as given,
// the lists parsed, and the secret files read. Parse builds it; nothing parses a flag again.
type Config struct {
	Options
	// WatchNamespaceList is --watch-namespaces, deduplicated; nil means every namespace.
	WatchNamespaceList []string
	// Events are the lifecycle notifications --notify-events asks for.
	Events notify.EventSet
	// TrustedProxyPrefixes is --trusted-proxies; a bare address is a single-host prefix.
	TrustedProxyPrefixes []netip.Prefix
	// SMTPPassword is --smtp-password-file's content, without its trailing newline.
	SMTPPassword Secret
	// SMTPCAs is --smtp-ca-file's PEM bundle (public certificates).
	SMTPCAs []byte
	// WebhookSecret is --webhook-secret-file's key, decoded.
	WebhookSecret Secret
}

// Secret is a secret file's content: it prints as "<redacted>", so a Config logged or wrapped into
// an error by mistake shows none.
type Secret string

// String hides the secret from %v and %s.
func (Secret) String() string { return "<redacted>" }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return "<redacted>" }

// Validate checks every flag and reports all problems at once, each naming its flag (Parse, for
// callers that only check).
func (o *Options) Validate() error {
	_, err := o.Parse()
	return err
}

// Parse checks every flag, reporting all problems at once, each naming its flag, and returns the
// settings parsed, with the secret files read (once, here).
func (o *Options) Parse() (Config, error) {
	c := Config{Options: *o}
	var p problems
	bad := p.bad
	if o.MetricsBindAddress != "0" {
		if err := checkBindAddress(o.MetricsBindAddress); err != nil {
			bad("metrics-bind-address", "%v (use host:port, :port, or 0 to disable)", err)
		}
	}
	if err := checkBindAddress(o.HealthProbeBindAddress); err != nil && o.HealthProbeBindAddress != "0" {
		bad("health-probe-bind-address", "%v (use host:port, :port, or 0 to disable)", err)
	}
	if err := checkBindAddress(o.AccessBindAddress); err != nil {
		bad("access-bind-address", "%v (use host:port or :port)", err)
	}
	if ns := o.LeaderElectionNamespace; ns != "" {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad("leader-election-namespace", "%q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
		}
	}
	if err := checkHTTPURL(o.PublicURL); err != nil {
		bad("public-url", "%v", err)
	} else if u, _ := url.Parse(o.PublicURL); !o.Dev && loopbackHost(u.Hostname()) {
		bad("public-url", "%q is reachable only from the manager's own machine, so invite links would not open: "+
			"set the address users reach (e.g. https://dashboard-access.example.com), or --dev on a workstation", o.PublicURL)
	}
	o.validateNotifier(&p, &c)
	switch o.SMTPTLS {
	case SMTPTLSNone, SMTPTLSStartTLS, SMTPTLS:
	default:
		bad("smtp-tls", "%q is not allowed; use none, starttls or tls", o.SMTPTLS)
	}
	o.validateInvitePace(&p)
	var err error
	if c.WatchNamespaceList, err = parseNamespaces(o.WatchNamespaces); err != nil {
		bad("watch-namespaces", "%v", err)
	}
	if c.TrustedProxyPrefixes, err = parseProxies(o.TrustedProxies); err != nil {
		bad("trusted-proxies", "%v", err)
	}
	o.validateThroughput(&p)
	if o.ThrottleIPv6Prefix < 32 || o.ThrottleIPv6Prefix > 128 {
		bad("throttle-ipv6-prefix", "%d is not allowed; use 32 to 128 (64 counts each /64 network as one client)", o.ThrottleIPv6Prefix)
	}
	if len(p) > 0 {
		return Config{}, errors.Join(p...)
	}
	return c, nil
}

// validateNotifier checks the flags of the chosen notifier and of what it delivers, and reads its
// secret files into c.
func (o *Options) validateNotifier(p *problems, c *Config) {
	bad := p.bad
	var err error
	if c.Events, err = notify.ParseEventSet(o.NotifyEvents); err != nil {
		bad("notify-events", "%v", err)
	}
	switch o.Notifier {
	case NotifierLog:
		if !o.Dev {
			bad("notifier", "log prints live invite links where anyone who may read the manager's logs (pods/log) can use them: "+
				"use smtp or webhook, or --dev on a workstation")
		}
	case NotifierWebhook:
		if o.WebhookURL == "" {
			bad("webhook-url", "is required with --notifier=webhook")
		} else if err := checkHTTPURL(o.WebhookURL); err != nil {
			bad("webhook-url", "%v", err)
		} else if insecure := o.insecureDelivery(); insecure != "" && !o.AllowInsecureDelivery {
			bad("webhook-url", "%s; use https://, a relay on loopback, or --allow-insecure-delivery", insecure)
		}
		if o.WebhookSecretFile == "" {
			bad("webhook-secret-file", "is required with --notifier=webhook")
		} else if key, err := readWebhookSecret(o.WebhookSecretFile); err != nil {
			bad("webhook-secret-file", "%v", err)
		} else {
			c.WebhookSecret = Secret(key)
		}
		if s := notify.SignatureScheme(o.WebhookSignature); s != notify.SchemeStandard && s != notify.SchemeDashboard {
			bad("webhook-signature", "%q is not allowed; use %s or %s", o.WebhookSignature, notify.SchemeStandard, notify.SchemeDashboard)
		}
	case NotifierSMTP:
		o.validateSMTP(p, c)
	default:
		bad("notifier", "%q is not allowed; use log, smtp or webhook", o.Notifier)
	}
}

// validateThroughput checks the worker counts and the API client's rate limit.
func (o *Options) validateThroughput(p *problems) {
	bad := p.bad
	for flagName, n := range map[string]int{"passcode-workers": o.PasscodeWorkers, "user-workers": o.UserWorkers} {
		if n < 1 || n > 64 {
			bad(flagName, "%d is not allowed; use 1 to 64", n)
		}
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIQPS > 5000 {
		bad("kube-api-qps", "%g is not allowed; use a number above 0 and at most 5000", o.KubeAPIQPS)
	}
	if float64(o.KubeAPIBurst) < o.KubeAPIQPS || o.KubeAPIBurst > 10000 {
		bad("kube-api-burst", "%d is not allowed; use at least --kube-api-qps (%g) and at most 10000", o.KubeAPIBurst, o.KubeAPIQPS)
	}
}

// validateSMTP checks the flags of --notifier=smtp and reads its files into c.
func (o *Options) validateSMTP(p *problems, c *Config) {
	bad := p.bad
	if o.SMTPAddress == "" {
		bad("smtp-address", "is required with --notifier=smtp")
	} else if err := checkDialAddress(o.SMTPAddress); err != nil {
		bad("smtp-address", "%v (use host:port, e.g. smtp.example.com:587)", err)
	}
	if insecure := o.insecureDelivery(); insecure != "" && !o.AllowInsecureDelivery {
		bad("smtp-tls", "%s; use starttls or tls, a relay on loopback, or --allow-insecure-delivery", insecure)
	}
	if o.SMTPFrom == "" {
		bad("smtp-from", "is required with --notifier=smtp")
	} else if _, err := mail.ParseAddress(o.SMTPFrom); err != nil {
		bad("smtp-from", "%q is not an email address", o.SMTPFrom)
	}
	if o.SMTPUsername != "" && o.SMTPPasswordFile == "" {
		bad("smtp-password-file", "is required with --smtp-username")
	}
	if o.SMTPPasswordFile != "" {
		if b, err := readSecretFile(o.SMTPPasswordFile); err != nil {
			bad("smtp-password-file", "%v", err)
		} else {
			c.SMTPPassword = Secret(strings.TrimRight(string(b), "\r\n"))
		}
	}
	if o.SMTPCAFile != "" {
		if o.SMTPTLS == SMTPTLSNone {
			bad("smtp-ca-file", "has no use with --smtp-tls=none; use starttls or tls")
		} else if b, err := os.ReadFile(o.SMTPCAFile); err != nil {
			bad("smtp-ca-file", "cannot read %q: %v", o.SMTPCAFile, errors.Unwrap(err))
		} else if _, err := notify.RootCAs(b); err != nil {
			bad("smtp-ca-file", "%q %v", o.SMTPCAFile, err)
		} else {
			c.SMTPCAs = b
		}
	}
}

// InsecureDeliveryWarning says how invite links travel in clear text when --allow-insecure-delivery
// let it through ("" when they do not), for a warning at start.
func (o *Options) InsecureDeliveryWarning() string {
	if !o.AllowInsecureDelivery {
		return ""
	}
	return o.insecureDelivery()
}

// insecureDelivery describes a clear-text delivery to a host other than loopback, or "". A relay in
// the same pod (127.0.0.0/8, ::1, localhost) never crosses the network.
func (o *Options) insecureDelivery() string {
	switch o.Notifier {
	case NotifierWebhook:
		u, err := url.Parse(o.WebhookURL)
		if err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			return fmt.Sprintf("%q sends invite links in clear text", o.WebhookURL)
		}
	case NotifierSMTP:
		host, _, err := net.SplitHostPort(o.SMTPAddress)
		if err == nil && o.SMTPTLS == SMTPTLSNone && !loopbackHost(host) {
			return fmt.Sprintf("none sends invite links in clear text to %s", o.SMTPAddress)
		}
	}
	return ""
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// parseNamespaces is --watch-namespaces as a list; nil means every namespace.
func parseNamespaces(list string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, ns := range splitList(list) {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
		}
		if !seen[ns] {
			seen[ns] = true
			out = append(out, ns)
		}
	}
	return out, nil
}

// allEventTypes lists every lifecycle notification type for the flag's help.
func allEventTypes() string {
	names := make([]string, 0, len(notify.EventTypes()))
	for _, t := range notify.EventTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// parseProxies is --trusted-proxies parsed; a bare address counts as a single-host prefix.
func parseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(list) {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an IP address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func checkBindAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not an address", addr)
	}
	return checkPort(addr, port)
}

func checkDialAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not a host:port address", addr)
	}
	return checkPort(addr, port)
}

func checkPort(addr, port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port (0-65535)", addr)
	}
	return nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not carry a query, fragment or user info", raw)
	}
	return nil
}

// readWebhookSecret reads a readable, non-empty file whose whsec_ form, if used, decodes, and
// returns the key.
func readWebhookSecret(path string) ([]byte, error) {
	b, err := readSecretFile(path)
	if err != nil {
		return nil, err
	}
	key, err := notify.ParseWebhookSecret(string(b))
	if err != nil {
		return nil, fmt.Errorf("%q %v", path, err)
	}
	return key, nil
}

// readSecretFile reads a secret file that must exist and not be empty; its content never goes into
// an error.
func readSecretFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %v", path, errors.Unwrap(err))
	}
	if info.IsDir() || info.Size() == 0 {
		return nil, fmt.Errorf("%q must be a non-empty file", path)
	}
	b, err := os.ReadFile(path) //nolint:gosec // the path is the operator's own flag
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %v", path, errors.Unwrap(err))
	}
	return b, nil
}
