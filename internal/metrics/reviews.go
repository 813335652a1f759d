package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// ReviewRevocations counts users who lost their access at an access review's deadline.
var ReviewRevocations = newCounter("review_revocations_total",
	"Users whose access an AccessReview revoked at its deadline (decided Revoke, or undecided with defaultDecision Revoke).")

// nameLabel is an object's name.
const nameLabel = "name"

var (
	reviewsDesc = prometheus.NewDesc(namespace+"_access_reviews",
		"AccessReviews by phase (Open: waiting for decisions and its deadline).", []string{nsLabel, "phase"}, nil)
	reviewDeadlineDesc = prometheus.NewDesc(namespace+"_access_review_deadline_timestamp_seconds",
		"When an open AccessReview completes (Unix time). An open review whose deadline has passed is overdue: "+
			"its decisions could not be carried out.", []string{nsLabel, nameLabel}, nil)
	reviewUndecidedDesc = prometheus.NewDesc(namespace+"_access_review_undecided",
		"Users of an open AccessReview nobody has decided about yet.", []string{nsLabel, nameLabel}, nil)
)

// reviewCollector reads AccessReviews from the informer cache at scrape time (like
// passcodeCollector: no bookkeeping, no stale series, only the leader exports them).
type reviewCollector struct{ passcodeCollector }

// Describe implements prometheus.Collector.
func (c reviewCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- reviewsDesc
	ch <- reviewDeadlineDesc
	ch <- reviewUndecidedDesc
}

// Collect implements prometheus.Collector.
func (c reviewCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.leading() {
		return
	}
	list := &accessv1alpha1.AccessReviewList{}
	if err := c.reader.List(context.Background(), list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	type key struct{ ns, phase string }
	phases := map[key]int{}
	for i := range list.Items {
		rv := &list.Items[i]
		phase := string(rv.Status.Phase)
		if phase == "" {
			phase = string(accessv1alpha1.ReviewOpen) // not yet snapshotted: it will be open
		}
		phases[key{rv.Namespace, phase}]++
		if rv.Spec.Deadline == nil || rv.Status.Phase == accessv1alpha1.ReviewCompleted || rv.Spec.Schedule != "" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(reviewDeadlineDesc, prometheus.GaugeValue, float64(rv.Spec.Deadline.Unix()), rv.Namespace, rv.Name)
		ch <- prometheus.MustNewConstMetric(reviewUndecidedDesc, prometheus.GaugeValue, float64(rv.Status.Undecided), rv.Namespace, rv.Name)
	}
	for k, n := range phases {
		ch <- prometheus.MustNewConstMetric(reviewsDesc, prometheus.GaugeValue, float64(n), k.ns, k.phase)
	}
}
