// Package accessserver is the operator's data plane: the HTTP server API gateways ask "is this
// passcode valid, and for whom" (POST /v1/verify, and /v1/auth for nginx auth_request, Envoy
// ext_authz and Traefik ForwardAuth). It runs in every manager replica, answers from the informer
// cache (no API call per request), checks deadlines against the clock at request time, throttles
// repeated failures per client, and records last use off the request path.
package accessserver
