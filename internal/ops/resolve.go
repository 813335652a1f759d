package ops

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// GetUser finds USER in namespace ns: an object name, or an email (it has an '@') matched against
// spec.email. A user that does not exist is an error that says so.
func GetUser(ctx context.Context, c client.Client, ns, ref string) (*accessv1alpha1.DashboardUser, error) {
	if strings.Contains(ref, "@") {
		email := strings.ToLower(strings.TrimSpace(ref))
		var list accessv1alpha1.DashboardUserList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("looking up the user with email %q in project %q: %w", email, ns, err)
		}
		var found []*accessv1alpha1.DashboardUser
		for i := range list.Items {
			if list.Items[i].Spec.Email == email {
				found = append(found, &list.Items[i])
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("no dashboarduser with email %q in project (namespace) %q", email, ns)
		case 1:
			return found[0], nil
		default:
			names := make([]string, len(found))
			for i, u := range found {
				names[i] = u.Name
			}
			return nil, fmt.Errorf("%d dashboardusers have email %q in project %q (%s): name one", len(found), email, ns, strings.Join(names, ", "))
		}
	}
	u := &accessv1alpha1.DashboardUser{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("dashboarduser %q not found in project (namespace) %q", ref, ns)
		}
		return nil, fmt.Errorf("reading dashboarduser %q: %w", ref, err)
	}
	return u, nil
}

// GetPasscode reads Passcode name in namespace ns, with a clear error when it does not exist.
func GetPasscode(ctx context.Context, c client.Client, ns, name string) (*accessv1alpha1.Passcode, error) {
	pc := &accessv1alpha1.Passcode{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("passcode %q not found in project (namespace) %q", name, ns)
		}
		return nil, fmt.Errorf("reading passcode %q: %w", name, err)
	}
	return pc, nil
}
