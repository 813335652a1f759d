package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// PolicyRevocations counts users and passcodes a DashboardPolicy's inactivity rules revoked.
var PolicyRevocations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "policy_revocations_total",
	Help: "DashboardUsers (kind DashboardUser) and Passcodes (kind Passcode) a DashboardPolicy revoked for inactivity " +
		"(spec.inactivity.revokeUsersAfter, revokePasscodesUnusedFor)."}, []string{nsLabel, "kind"})

var (
	activeAdminsDesc = prometheus.NewDesc(namespace+"_policy_active_admins",
		"Users with role Admin and access Granted in a project with a DashboardPolicy (its status.activeAdmins).", []string{nsLabel}, nil)
	adminsMinimumDesc = prometheus.NewDesc(namespace+"_policy_admins_minimum",
		"A project's DashboardPolicy spec.admins.minimum, where it sets one.", []string{nsLabel}, nil)
)

// policyCollector reads DashboardPolicies from the informer cache at scrape time (like
// passcodeCollector: only the leader exports them).
type policyCollector struct{ passcodeCollector }

// Describe implements prometheus.Collector.
func (c policyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeAdminsDesc
	ch <- adminsMinimumDesc
}

// Collect implements prometheus.Collector.
func (c policyCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.leading() {
		return
	}
	list := &accessv1alpha1.DashboardPolicyList{}
	if err := c.reader.List(context.Background(), list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range list.Items {
		p := &list.Items[i]
		if p.Status.ObservedGeneration == 0 {
			continue // not counted yet: no zero that would fire the alert
		}
		ch <- prometheus.MustNewConstMetric(activeAdminsDesc, prometheus.GaugeValue, float64(p.Status.ActiveAdmins), p.Namespace)
		if p.Spec.Admins != nil && p.Spec.Admins.Minimum > 0 {
			ch <- prometheus.MustNewConstMetric(adminsMinimumDesc, prometheus.GaugeValue, float64(p.Spec.Admins.Minimum), p.Namespace)
		}
	}
}
