// Package accessserver is the operator's data plane: the HTTP server API gateways ask "is this
// passcode valid, and for whom" (POST /v1/verify, and /v1/auth for nginx auth_request, Envoy
// ext_authz and Traefik ForwardAuth), with the user's role and permissions. It also serves the
// invite page and, when set up, SCIM (internal/scim). It runs in every manager replica, answers
// from its own index of the informer cache (lookup.go: the same with or without
// --watch-namespaces, no API call per request), checks deadlines against the clock and the spec's
// limits (internal/validity) at request time, throttles repeated failures per client, and records
// last use off the request path.
package accessserver
