// Package v1alpha1 holds the access.dashboardops.io/v1alpha1 API: DashboardUser (a person with a role
// on one dashboard project, the namespace) and Passcode (an API credential with a tenure, stored in a
// Secret for the workloads that mount it) and DashboardRole (a custom role: the permissions gateways
// enforce for the users who hold it).
//
// +kubebuilder:object:generate=true
// +groupName=access.dashboardops.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "access.dashboardops.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme. It is apimachinery's,
	// not controller-runtime's, so that importing this API pulls in nothing else.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &DashboardUser{}, &DashboardUserList{}, &Passcode{}, &PasscodeList{},
		&DashboardRole{}, &DashboardRoleList{}, &DashboardPolicy{}, &DashboardPolicyList{})
	s.AddKnownTypes(GroupVersion, &AccessReview{}, &AccessReviewList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
