package testenv

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

var namespaces atomic.Int32

// NewNamespace creates a fresh namespace (one dashboard project) for one test.
func (o *Operator) NewNamespace(ctx context.Context) (string, error) {
	name := fmt.Sprintf("project-%d", namespaces.Add(1))
	return name, o.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// CreateUser creates a DashboardUser <name>@example.com with role Member.
func (o *Operator) CreateUser(ctx context.Context, ns, name string) (*accessv1alpha1.DashboardUser, error) {
	u := &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: accessv1alpha1.RoleMember},
	}
	return u, o.Client.Create(ctx, u)
}

// CreatePasscode creates a Passcode for user; mods adjust the spec first.
func (o *Operator) CreatePasscode(ctx context.Context, ns, name, user, tenure string,
	mods ...func(*accessv1alpha1.Passcode)) (*accessv1alpha1.Passcode, error) {
	pc := &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: user}, Tenure: tenure},
	}
	for _, m := range mods {
		m(pc)
	}
	return pc, o.Client.Create(ctx, pc)
}
