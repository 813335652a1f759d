package metrics

import "github.com/prometheus/client_golang/prometheus"

// PolicyRevocations counts users and passcodes a DashboardPolicy's inactivity rules revoked.
var PolicyRevocations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "policy_revocations_total",
	Help: "DashboardUsers (kind DashboardUser) and Passcodes (kind Passcode) a DashboardPolicy revoked for inactivity " +
		"(spec.inactivity.revokeUsersAfter, revokePasscodesUnusedFor)."}, []string{nsLabel, "kind"})
