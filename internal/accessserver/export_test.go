package accessserver

import (
	"context"
	"fmt"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
)

// ReadsCache says how the server looks passcodes up (lookup.go): "index" (its own, kept by event
// handlers on the cache's informers, ready) or "list" (List and Get).
func (s *Server) ReadsCache(ctx context.Context) string {
	if s.cacheIndex(ctx) != nil {
		return "index"
	}
	return "list"
}

// LookupBothWays looks code up in account the way the server does (its index) and with List and
// Get, and describes what each found.
func (s *Server) LookupBothWays(ctx context.Context, account, code string) (fast, listed string) {
	hash := passcode.Hash(code)
	listed = describeFound(s.listed(ctx, account, hash))
	if ix := s.cacheIndex(ctx); ix != nil {
		return describeFound(ix.lookup(account, hash)), listed
	}
	return "no index", listed
}

func describeFound(pc *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser, ok bool) string {
	if !ok {
		return "nothing"
	}
	return fmt.Sprintf("passcode %s/%s uid %s rv %s hash %s, user %s/%s uid %s rv %s role %s", pc.Namespace, pc.Name, pc.UID,
		pc.ResourceVersion, pc.Status.Hash, u.Namespace, u.Name, u.UID, u.ResourceVersion, u.Spec.Role)
}

// PermissionsOf is what the server answers in X-Dashboard-Permissions for role in namespace.
func (s *Server) PermissionsOf(ctx context.Context, namespace, role string) string {
	return s.permissions(ctx, namespace, accessv1alpha1.Role(role)).header[0]
}
