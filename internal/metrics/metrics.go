// Package metrics defines the operator's Prometheus metrics, registered with controller-runtime's
// registry so they are served on the manager's (secure) metrics endpoint. Series carry namespace
// and object names only: never a passcode, token or hash.
package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

const (
	namespace = "access_operator"
	// nsLabel is the Kubernetes namespace (the dashboard project) of a series.
	nsLabel = "namespace"
	// resultLabel is the outcome of a delivery or request.
	resultLabel = "result"
)

// Counters of what the Passcode controller did.
var (
	// PasscodeRotations counts automatic rotations.
	PasscodeRotations = newCounter("passcode_rotations_total", "Passcodes replaced by automatic rotation.")
	// PasscodeResets counts resets (the reset annotation or the plugin).
	PasscodeResets = newCounter("passcode_resets_total", "Passcodes replaced by a reset request.")
	// PasscodeRevocations counts passcodes revoked (spec.revoked, user revoked or deleted).
	PasscodeRevocations = newCounter("passcode_revocations_total", "Passcodes revoked.")
	// PasscodeExpirations counts passcodes that reached the end of their tenure (Manual).
	PasscodeExpirations = newCounter("passcode_expirations_total", "Passcodes expired at the end of their tenure.")
	// PasscodeRepairs counts passcodes re-issued because their Secret was deleted or edited.
	PasscodeRepairs = newCounter("passcode_repairs_total", "Passcodes re-issued because their Secret was deleted or edited.")
	// PasscodeIssues counts first issues.
	PasscodeIssues = newCounter("passcode_issues_total", "First passcodes issued for new grants.")
	// RolloutRestarts counts workloads restarted because a new passcode revision was written.
	RolloutRestarts = newCounter("rollout_restarts_total", "Workloads (spec.rolloutRestartTargets) restarted for a new passcode revision.")
)

// ReconcileFailures counts failed reconciles of every controller by reason: the API server's
// reason for a step that is retried (Timeout, ServiceUnavailable, Conflict, Unknown for an error
// that is no API status), the Stalled reason for a problem only a person can fix (InvalidSpec,
// SecretConflict, Refused ...). The Passcode and DashboardUser reconcilers record their failures
// in status and return no error, so controller_runtime_reconcile_errors_total never sees them:
// this counter does, for all controllers alike.
var ReconcileFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "reconcile_failures_total",
	Help: "Failed reconciles by controller and reason (the API's reason when retried, the Stalled reason when stalled)."},
	[]string{"controller", "reason"})

// InviteDeliveries counts invite deliveries by result (sent, failed).
var InviteDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "invite_deliveries_total",
	Help: "Invite deliveries by result (sent, failed)."}, []string{nsLabel, resultLabel})

// NotificationDeliveries counts lifecycle notification deliveries by type and result (sent, failed,
// skipped: an email with no address to write to).
var NotificationDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "notification_deliveries_total",
	Help: "Lifecycle notification deliveries by type and result (sent, failed, skipped)."}, []string{nsLabel, "type", resultLabel})

// InvitesQueued is how many users wait for a later invite batch window (the Batcher's queue).
var InvitesQueued = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "invites_queued",
	Help: "Users waiting for a later invite batch window " +
		"(at most --invite-batch-size per namespace and --invite-global-batch-size in all per --invite-batch-window)."})

// Access server metrics, named access_operator_server_*. Until release 0.x+1 they are also exported
// under their former, documented names (access_operator_access_*, which repeated "access"), marked
// deprecated in their help: see deprecatedAliases.
var (
	// AccessRequests counts access server requests by endpoint and result (valid, invalid,
	// throttled, forbidden, bad_request, error).
	AccessRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "server_requests_total",
		Help: "Access server requests by endpoint and result."}, []string{"endpoint", "result"})
	// AccessThrottled counts requests refused by the failure throttle (429).
	AccessThrottled = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "server_throttled_requests_total",
		Help: "Access server requests refused with 429 because their client failed too often."})
	// AccessThrottleClients is how many clients (IPv4 addresses, IPv6 networks) the throttle tracks.
	AccessThrottleClients = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "server_throttle_clients",
		Help: "Clients (IPv4 addresses or IPv6 networks) the access server's failure throttle remembers."})
	// AccessLatency observes access server request latency.
	AccessLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "server_request_duration_seconds",
		Help:    "Access server request latency.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"endpoint"})
	// LastUseDropped counts last-use stamps dropped because the writer fell behind.
	LastUseDropped = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "last_use_dropped_total",
		Help: "Last-use stamps dropped because the status writer fell behind."})
)

// deprecatedAliases export the access server's metrics under their former names too, for one
// release, so that dashboards and alerts can move over.
var deprecatedAliases = []alias{
	{AccessRequests, namespace + "_access_requests_total", namespace + "_server_requests_total"},
	{AccessThrottled, namespace + "_access_throttled_total", namespace + "_server_throttled_requests_total"},
	{AccessThrottleClients, namespace + "_access_throttle_clients", namespace + "_server_throttle_clients"},
	{AccessLatency, namespace + "_access_request_duration_seconds", namespace + "_server_request_duration_seconds"},
}

// alias re-exports what a collector collects under another name, at scrape time: nothing is
// counted twice on the request path. It is an unchecked collector (it describes nothing), as the
// label names are only known from the series.
type alias struct {
	of       prometheus.Collector
	old, now string
}

// Describe implements prometheus.Collector: nothing, an unchecked collector.
func (a alias) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (a alias) Collect(ch chan<- prometheus.Metric) {
	series := make(chan prometheus.Metric, 64)
	go func() { a.of.Collect(series); close(series) }()
	help := "Deprecated: renamed " + a.now + "; this name goes in the next release."
	for m := range series {
		var pb dto.Metric
		if m.Write(&pb) != nil {
			continue
		}
		names, values := make([]string, 0, len(pb.GetLabel())), make([]string, 0, len(pb.GetLabel()))
		for _, l := range pb.GetLabel() {
			names, values = append(names, l.GetName()), append(values, l.GetValue())
		}
		desc := prometheus.NewDesc(a.old, help, names, nil)
		var out prometheus.Metric
		var err error
		switch {
		case pb.Counter != nil:
			out, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, pb.GetCounter().GetValue(), values...)
		case pb.Gauge != nil:
			out, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, pb.GetGauge().GetValue(), values...)
		case pb.Histogram != nil:
			h := pb.GetHistogram()
			buckets := make(map[float64]uint64, len(h.GetBucket()))
			for _, b := range h.GetBucket() {
				buckets[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			out, err = prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
		default:
			continue
		}
		if err == nil {
			ch <- out
		}
	}
}

func newCounter(name, help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, []string{nsLabel})
}

var (
	expirationDesc = prometheus.NewDesc(namespace+"_passcode_expiration_timestamp_seconds",
		"When the current passcode expires (Unix time), like cert-manager's certificate_expiration_timestamp_seconds.",
		[]string{nsLabel, nameLabel, "user", "rotation"}, nil)
	renewalDesc = prometheus.NewDesc(namespace+"_passcode_renewal_timestamp_seconds",
		"When the current passcode will be rotated (Unix time); Automatic rotation only.",
		[]string{nsLabel, nameLabel, "user"}, nil)
	phaseDesc = prometheus.NewDesc(namespace+"_passcodes",
		"Passcodes by phase.", []string{nsLabel, "phase"}, nil)
	failingDesc = prometheus.NewDesc(namespace+"_objects_failing",
		"Objects whose last reconcile failed, by kind and state: Retrying (condition Reconciling, reason Retrying) "+
			"or Stalled (condition Stalled: only a person can fix it).", []string{"kind", "state"}, nil)
)

// Failing states, as the failing gauge labels them.
const (
	stateRetrying = "Retrying"
	stateStalled  = "Stalled"
)

// failingState is the failing state an object's conditions show, or "".
func failingState(conds []metav1.Condition) string {
	if apimeta.IsStatusConditionTrue(conds, accessv1alpha1.ConditionStalled) {
		return stateStalled
	}
	if c := apimeta.FindStatusCondition(conds, accessv1alpha1.ConditionReconciling); c != nil &&
		c.Status == metav1.ConditionTrue && c.Reason == accessv1alpha1.ReasonRetrying {
		return stateRetrying
	}
	return ""
}

// passcodeCollector reads Passcodes from the informer cache at scrape time, so deleted Passcodes
// leave no stale series and no bookkeeping is needed in the reconciler. Every replica has the
// cache, but only the leader exports these series (until elected is closed a scrape gets none of
// them): otherwise each object's gauges would come once per replica and so would its alerts.
type passcodeCollector struct {
	reader  client.Reader
	elected <-chan struct{}
}

// leading reports whether elected is closed: this replica leads (or runs without election).
func (c passcodeCollector) leading() bool {
	select {
	case <-c.elected:
		return true
	default:
		return false
	}
}

// Describe implements prometheus.Collector.
func (c passcodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- expirationDesc
	ch <- renewalDesc
	ch <- phaseDesc
	ch <- failingDesc
}

// Collect implements prometheus.Collector.
func (c passcodeCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.leading() {
		return
	}
	list := &accessv1alpha1.PasscodeList{}
	if err := c.reader.List(context.Background(), list); err != nil {
		return
	}
	type key struct{ ns, phase string }
	phases := map[key]int{}
	for i := range list.Items {
		pc := &list.Items[i]
		phase := string(pc.Status.Phase)
		if phase == "" {
			phase = string(accessv1alpha1.PasscodePending)
		}
		phases[key{pc.Namespace, phase}]++
		if pc.Status.Phase != accessv1alpha1.PasscodeActive {
			continue
		}
		rotation := string(accessv1alpha1.RotationManual)
		if pc.Spec.Rotation != nil && pc.Spec.Rotation.Policy != "" {
			rotation = string(pc.Spec.Rotation.Policy)
		}
		if pc.Status.ExpiresAt != nil {
			ch <- prometheus.MustNewConstMetric(expirationDesc, prometheus.GaugeValue,
				float64(pc.Status.ExpiresAt.Unix()), pc.Namespace, pc.Name, pc.Spec.UserRef.Name, rotation)
		}
		if pc.Status.RenewalTime != nil {
			ch <- prometheus.MustNewConstMetric(renewalDesc, prometheus.GaugeValue,
				float64(pc.Status.RenewalTime.Unix()), pc.Namespace, pc.Name, pc.Spec.UserRef.Name)
		}
	}
	for k, n := range phases {
		ch <- prometheus.MustNewConstMetric(phaseDesc, prometheus.GaugeValue, float64(n), k.ns, k.phase)
	}
	c.collectFailing(ch, list)
}

// collectFailing exports how many objects of each kind are Retrying and Stalled (zeros included,
// so an alert's series exists before the first failure). pcs are the Passcodes Collect listed.
func (c passcodeCollector) collectFailing(ch chan<- prometheus.Metric, pcs *accessv1alpha1.PasscodeList) {
	count := map[string]map[string]int{}
	add := func(kind string, conds []metav1.Condition) {
		if count[kind] == nil {
			count[kind] = map[string]int{stateRetrying: 0, stateStalled: 0}
		}
		if s := failingState(conds); s != "" {
			count[kind][s]++
		}
	}
	add("Passcode", nil)
	for i := range pcs.Items {
		add("Passcode", pcs.Items[i].Status.Conditions)
	}
	add("DashboardUser", nil)
	users := &accessv1alpha1.DashboardUserList{}
	if c.reader.List(context.Background(), users, client.UnsafeDisableDeepCopy) == nil {
		for i := range users.Items {
			add("DashboardUser", users.Items[i].Status.Conditions)
		}
	}
	add("DashboardRole", nil)
	roles := &accessv1alpha1.DashboardRoleList{}
	if c.reader.List(context.Background(), roles, client.UnsafeDisableDeepCopy) == nil {
		for i := range roles.Items {
			add("DashboardRole", roles.Items[i].Status.Conditions)
		}
	}
	for kind, states := range count {
		for state, n := range states {
			ch <- prometheus.MustNewConstMetric(failingDesc, prometheus.GaugeValue, float64(n), kind, state)
		}
	}
}

// Register adds every metric to controller-runtime's registry; reader is the manager's cache and
// elected its Elected() channel: the per-Passcode gauges are exported once it is closed.
func Register(reader client.Reader, elected <-chan struct{}) error {
	for _, c := range []prometheus.Collector{PasscodeRotations, PasscodeResets, PasscodeRevocations,
		PasscodeExpirations, PasscodeRepairs, PasscodeIssues, RolloutRestarts, ReconcileFailures, InviteDeliveries, NotificationDeliveries, InvitesQueued,
		AccessRequests, AccessLatency, LastUseDropped,
		AccessThrottled, AccessThrottleClients,
		ReviewRevocations, PolicyRevocations,
		passcodeCollector{reader: reader, elected: elected}, reviewCollector{passcodeCollector{reader: reader, elected: elected}},
		policyCollector{passcodeCollector{reader: reader, elected: elected}}} {
		if err := ctrlmetrics.Registry.Register(c); err != nil {
			return err
		}
	}
	for _, a := range deprecatedAliases {
		if err := ctrlmetrics.Registry.Register(a); err != nil {
			return err
		}
	}
	return nil
}
