package accessserver

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"net/http"
	"net/url"
	"strings"
	"sync"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
)

// The access server reads DashboardRoles from the manager's cache to answer with a custom role's
// permissions.
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardroles,verbs=get;list;watch

const (
	headerPermissions        = "X-Dashboard-Permissions"
	headerRequiredPermission = "X-Dashboard-Required-Permission"
	// queryPermission is the query parameter naming a required permission, for gateways that set a
	// URL but no header on their check (nginx auth_request, Traefik ForwardAuth).
	queryPermission = "permission"
	// fieldPermission is the /v1/verify body field naming a required permission.
	fieldPermission = "permission"
)

// permMask is a set of permissions, bit i standing for roles.Vocabulary[i]: a requirement is
// checked against a grant with one AND, on every request, without allocating.
type permMask uint64

func init() {
	if len(roles.Vocabulary) > 64 {
		panic("accessserver: permMask holds at most 64 permissions")
	}
}

// permissionBit is p's bit, or 0 for a name outside the vocabulary.
func permissionBit(p string) permMask {
	for i, v := range roles.Vocabulary {
		if string(v.Name) == p {
			return 1 << i
		}
	}
	return 0
}

// permSet is a grant's permissions in every form an answer needs, computed once per role (per
// resourceVersion for a DashboardRole) rather than on each request.
type permSet struct {
	mask permMask
	// names are the permissions in vocabulary order, never nil (the answer lists [] for none).
	names []string
	// header is X-Dashboard-Permissions' value, as a slice the header map can hold (read only).
	header []string
	// json is the "permissions" value of /v1/verify: ["reports.read",...].
	json []byte
	// resourceVersion is the DashboardRole's the set was computed from ("" for a system role).
	resourceVersion string
}

// newPermSet builds the set of perms, which are normalized (known, deduplicated, in order).
func newPermSet(perms []roles.Permission, resourceVersion string) *permSet {
	s := &permSet{names: make([]string, len(perms)), resourceVersion: resourceVersion}
	s.json = append(s.json, '[')
	for i, p := range perms {
		s.mask |= permissionBit(string(p))
		s.names[i] = string(p)
		if i > 0 {
			s.json = append(s.json, ',')
		}
		// Vocabulary names are lower-case letters and dots: nothing encoding/json would escape.
		s.json = append(append(append(s.json, '"'), p...), '"')
	}
	s.json = append(s.json, ']')
	s.header = []string{roles.Join(perms)}
	return s
}

// noPermissions is the set of a user whose role grants nothing: an empty custom role, a
// DashboardRole that does not exist (deleted, or not created yet), or no role at all. The passcode
// is still valid; only a requirement fails.
var noPermissions = newPermSet(nil, "")

// systemPermissions are the system roles' sets, computed once.
var systemPermissions = func() map[accessv1alpha1.Role]*permSet {
	m := map[accessv1alpha1.Role]*permSet{}
	for _, name := range roles.SystemNames {
		perms, _ := roles.System(name)
		m[accessv1alpha1.Role(name)] = newPermSet(perms, "")
	}
	return m
}()

// forbiddenBodies are the 403 answers, one per permission: {"valid":false,"error":"missing
// permission <name>"}, as json.Encoder writes them.
var forbiddenBodies = func() map[permMask][]byte {
	m := map[permMask][]byte{}
	for _, v := range roles.Vocabulary {
		b, err := json.Marshal(errorBody("missing permission " + string(v.Name)))
		if err != nil {
			panic(err)
		}
		m[permissionBit(string(v.Name))] = append(b, '\n')
	}
	return m
}()

// missing is the first permission of need (in vocabulary order) that have lacks, or 0.
func (need permMask) missing(have permMask) permMask {
	lacking := need &^ have
	if lacking == 0 {
		return 0
	}
	return 1 << bits.TrailingZeros64(uint64(lacking))
}

// roleKey names a DashboardRole in the role cache.
type roleKey struct{ namespace, name string }

// roleCache keeps each DashboardRole's permSet until the role changes (its resourceVersion), so a
// request with a custom role costs a map lookup, and an edit is seen on the next request.
type roleCache struct {
	mu   sync.RWMutex
	sets map[roleKey]*permSet
}

// maxCachedRoles bounds the role cache (deleted roles leave their entry): about 300 bytes each.
const maxCachedRoles = 10_000

func (c *roleCache) get(dr *accessv1alpha1.DashboardRole) *permSet {
	key := roleKey{dr.Namespace, dr.Name}
	c.mu.RLock()
	s, ok := c.sets[key]
	c.mu.RUnlock()
	if ok && s.resourceVersion == dr.ResourceVersion {
		return s
	}
	names := make([]string, len(dr.Spec.Permissions))
	for i, p := range dr.Spec.Permissions {
		names[i] = string(p)
	}
	// Normalize drops names outside the vocabulary: the CRD refuses them, but an object stored by
	// a newer version may carry one, and an unknown permission is never granted.
	s = newPermSet(roles.Normalize(names), dr.ResourceVersion)
	c.mu.Lock()
	if c.sets == nil || len(c.sets) >= maxCachedRoles {
		c.sets = map[roleKey]*permSet{}
	}
	c.sets[key] = s
	c.mu.Unlock()
	return s
}

// permissions resolves what role grants in namespace: a system role's set, or the DashboardRole
// of that name in the cache; none when that role does not exist.
func (s *Server) permissions(ctx context.Context, namespace string, role accessv1alpha1.Role) *permSet {
	if p, ok := systemPermissions[role]; ok {
		return p
	}
	if role == "" {
		return noPermissions
	}
	dr := s.dashboardRole(ctx, namespace, string(role))
	if dr == nil {
		return noPermissions
	}
	return s.roles.get(dr)
}

// maxEchoedPermission bounds how much of an unknown permission name an error quotes.
const maxEchoedPermission = 64

// parsePermissions adds to need the permissions named in value, a comma-separated list (spaces
// around names and empty items ignored). An unknown name is the caller's misconfiguration: the
// error names where it came from (source) and the names allowed.
func parsePermissions(need permMask, value, source string) (permMask, error) {
	for value != "" {
		var item string
		item, value, _ = strings.Cut(value, ",")
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		bit := permissionBit(item)
		if bit == 0 {
			if len(item) > maxEchoedPermission {
				item = item[:maxEchoedPermission] + "..."
			}
			return 0, fmt.Errorf("%w: %s: unknown permission %q; must be one of %s", errBadRequest, source, item,
				strings.Join(roles.KnownNames(), ", "))
		}
		need |= bit
	}
	return need, nil
}

// requiredPermissions is what an /v1/auth check requires: every permission named in
// X-Dashboard-Required-Permission headers and in permission query parameters. They add up, so
// that whatever a client adds to a request forwarded to the check (Envoy appends the client's
// query, Traefik forwards the client's headers) can only require more, never less, than the
// gateway asks.
func requiredPermissions(r *http.Request) (permMask, error) {
	var need permMask
	var err error
	for _, v := range r.Header[headerRequiredPermission] {
		if need, err = parsePermissions(need, v, "header "+headerRequiredPermission); err != nil {
			return 0, err
		}
	}
	if r.URL.RawQuery == "" { // the common case: no query to parse
		return need, nil
	}
	// A malformed pair is skipped as net/http skips it; the others still count.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	for _, v := range q[queryPermission] {
		if need, err = parsePermissions(need, v, "query parameter "+queryPermission); err != nil {
			return 0, err
		}
	}
	return need, nil
}

// forbid answers a valid passcode whose role lacks a required permission: 403, with the first
// missing permission named in the body and no identity headers (Envoy and Traefik hand a refusal's
// headers to the client). It is not a failed attempt: the throttle does not count it.
func forbid(w http.ResponseWriter, o *outcome, missing permMask) {
	o.result = resultForbidden
	writeFixed(w, http.StatusForbidden, forbiddenBodies[missing])
}
