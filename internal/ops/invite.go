package ops

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/policy"
	"github.com/dashboardops/access-operator/internal/users"
)

// InviteResult is what Invite did: the lines the plugin prints and how many users it created.
type InviteResult struct {
	Result
	Created int
}

// Invite creates a DashboardUser for each invitee (validated by ValidateInvitees) in ns. Users
// already invited (same email) are reported and left alone; the error lists those that could not
// be invited, each on its line.
func Invite(ctx context.Context, c client.Client, ns string, invitees []Invitee, dryRun DryRun) (InviteResult, error) {
	var res InviteResult
	// One read of the project's users finds who is already invited, by name or by email.
	var existing accessv1alpha1.DashboardUserList
	if err := c.List(ctx, &existing, client.InNamespace(ns)); err != nil {
		return res, fmt.Errorf("listing the users of project %q: %w", ns, err)
	}
	byName := map[string]*accessv1alpha1.DashboardUser{}
	byEmail := map[string]*accessv1alpha1.DashboardUser{}
	for i := range existing.Items {
		u := &existing.Items[i]
		byName[u.Name] = u
		byEmail[u.Spec.Email] = u
	}
	var failures []string
	var causes []error
	pol := ProjectPolicy(ctx, c, ns)
	for _, inv := range invitees {
		name := users.ObjectNameForEmail(inv.Email)
		if u, ok := byEmail[inv.Email]; ok {
			res.linef("already invited: %s (dashboarduser/%s)", inv.Email, u.Name)
			continue
		}
		if pol != nil {
			// The project's DashboardPolicy, refused here with the API server's own message.
			if msg := violations(policy.UserViolations(ns, pol, inv.Email)); msg != "" {
				failures = append(failures, fmt.Sprintf("cannot invite %s: %s", inv.Email, msg))
				continue
			}
		}
		if u, ok := byName[name]; ok {
			failures = append(failures, fmt.Sprintf("cannot invite %s: dashboarduser/%s already exists for %s", inv.Email, name, u.Spec.Email))
			continue
		}
		user := &accessv1alpha1.DashboardUser{
			TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardUser"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       accessv1alpha1.DashboardUserSpec{Email: inv.Email, Role: inv.Role, DisplayName: inv.DisplayName},
		}
		if dryRun != DryRunClient {
			err := c.Create(ctx, user, dryRun.createOptions()...)
			if apierrors.IsAlreadyExists(err) {
				res.linef("already invited: %s (dashboarduser/%s)", inv.Email, name)
				continue
			}
			if err != nil {
				failures = append(failures, fmt.Sprintf("cannot invite %s: %v", inv.Email, err))
				causes = append(causes, err)
				continue
			}
		}
		res.Created++
		res.linef("dashboarduser/%s created: %s as %s%s", name, inv.Email, inv.Role, dryRun.Suffix())
	}
	res.linef("%d users successfully invited%s", res.Created, dryRun.Suffix())
	if len(failures) > 0 {
		return res, &InviteFailures{
			msg:    fmt.Sprintf("%d of %d users could not be invited:\n  %s", len(failures), len(invitees), strings.Join(failures, "\n  ")),
			causes: causes,
		}
	}
	return res, nil
}

// InviteFailures is the error of an invite some users of which could not be created: every one
// named, each on its line; it unwraps to the API server's errors (apierrors.IsForbidden sees them).
type InviteFailures struct {
	msg    string
	causes []error
}

func (e *InviteFailures) Error() string { return e.msg }

// Unwrap returns the API server's errors.
func (e *InviteFailures) Unwrap() []error { return e.causes }
