package accessserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/dashboardops/access-operator/internal/passcode"
)

// Config configures a Server.
type Config struct {
	// BindAddress is where the server listens, e.g. ":8082".
	BindAddress string
	// Reader is the manager's informer cache (the server keeps its own index of it: lookup.go).
	Reader client.Reader
	// APIReader reads straight from the API server, to retry an invite acceptance that raced.
	APIReader client.Reader
	// Writer patches the last-use status fields and invite acceptances.
	Writer client.Client
	// Clock decides validity at request time.
	Clock clock.PassiveClock
	// TrustedProxies may name the client in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// FailureBurst failures per client are answered 401 before throttling; one more is allowed
	// every FailureRefill. Zero values mean 10 and 6 s (100 a minute after the burst).
	FailureBurst  int
	FailureRefill time.Duration
	// ThrottleIPv6Prefix is how many leading bits of an IPv6 address name one client for the
	// throttle; zero means 64.
	ThrottleIPv6Prefix int
	// LastUseInterval coalesces last-use writes; zero means one minute.
	LastUseInterval time.Duration
	// SCIM, when set, serves SCIM 2.0 under /scim/v2/ (internal/scim); it authenticates its own
	// requests.
	SCIM http.Handler
}

// maxThrottledClients bounds the throttle's memory: about 300 bytes per client, so about 30 MB.
const maxThrottledClients = 100_000

// Server is the access server. It is a manager Runnable that runs on every replica.
type Server struct {
	cfg      Config
	throttle *failureThrottle
	lastUse  *lastUse
	handler  http.Handler
	addr     chan net.Addr
	// index is the server's own index of the cache, once resolved (lookup.go).
	index     atomic.Pointer[resolvedIndex]
	resolving sync.Mutex
	// roles holds the custom roles' permissions, per resourceVersion (permissions.go).
	roles roleCache
	// serving is true while the listener is bound: from then on connections are accepted (the
	// kernel queues them until Serve takes them), so the replica may be sent traffic.
	serving atomic.Bool
}

// New builds a Server from cfg.
func New(cfg Config) *Server {
	if cfg.FailureBurst == 0 {
		cfg.FailureBurst = 10
	}
	if cfg.FailureRefill == 0 {
		cfg.FailureRefill = 6 * time.Second
	}
	if cfg.LastUseInterval == 0 {
		cfg.LastUseInterval = time.Minute
	}
	s := &Server{
		cfg:      cfg,
		throttle: newFailureThrottle(cfg.FailureBurst, cfg.FailureRefill, maxThrottledClients, cfg.ThrottleIPv6Prefix),
		lastUse:  newLastUse(cfg.Writer, cfg.Clock, cfg.LastUseInterval),
		addr:     make(chan net.Addr, 1),
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/verify", instrument("verify", s.verify))
	// Envoy's ext_authz appends the original path to the prefix, so /v1/auth/... is the same check.
	auth := instrument("auth", s.auth)
	mux.Handle("/v1/auth", auth)
	mux.Handle("/v1/auth/", auth)
	mux.Handle("/invitations/", instrument("invitation", s.invitations))
	if cfg.SCIM != nil {
		mux.Handle("/scim/v2/", instrument("scim", s.scimThrottled(cfg.SCIM)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody("no such endpoint; use POST /v1/verify or GET /v1/auth"))
	})
	s.handler = mux
	return s
}

// Handler serves the access server's endpoints (tests drive it directly).
func (s *Server) Handler() http.Handler { return s.handler }

// Addr is the address the server listens on, once it does.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case a := <-s.addr:
		s.addr <- a
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Ready reports whether the server accepts connections: nil from the moment its port is bound
// until it shuts down. The manager's /readyz uses it.
func (s *Server) Ready() error {
	if !s.serving.Load() {
		return errors.New("the access server is not listening")
	}
	return nil
}

// NeedLeaderElection is false: every replica answers gateways.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("access-server")
	ln, err := net.Listen("tcp", s.cfg.BindAddress)
	if err != nil {
		return fmt.Errorf("access server: listening on %s: %w", s.cfg.BindAddress, err)
	}
	s.serving.Store(true)
	defer s.serving.Store(false)
	s.addr <- ln.Addr()
	srv := NewHTTPServer(s.handler)
	go s.lastUse.run(ctx, 5*time.Second)
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	logger.Info("Serving", "address", ln.Addr().String())
	select {
	case err := <-errs:
		return fmt.Errorf("access server: %w", err)
	case <-ctx.Done():
	}
	s.serving.Store(false) // draining: no new traffic
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("access server: shutting down: %w", err)
	}
	return nil
}

// NewHTTPServer is the HTTP stack the access server runs on: timeouts against slow clients and a
// limit on header size. The benchmark serves a trivial handler on the same stack to compare.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// verify is POST /v1/verify.
func (s *Server) verify(w http.ResponseWriter, r *http.Request, o *outcome) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("use POST with a JSON body"))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody("Content-Type must be application/json"))
		return
	}
	var req verifyRequest
	var err error
	if r.ContentLength >= 0 && r.ContentLength <= maxBodyBytes {
		// A body declared to fit (net/http ends it there) is read whole and taken apart by hand
		// when it is plain: MaxBytesReader could never trip on it.
		req, err = decodeVerifyRequest(r.Body)
	} else {
		// Unknown length, or too long: the decoder reads only as far as it needs, as it always did.
		req, err = decodeVerifyRequestJSON(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	}
	if err != nil {
		o.result = resultBadRequest
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	var need permMask
	if req.Permission != "" {
		if need, err = parsePermissions(0, req.Permission, "field "+fieldPermission); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
			return
		}
	}
	g, ok := s.check(r, req.Account, req.Passcode)
	if !ok {
		s.deny(w, r, o)
		return
	}
	if missing := need.missing(g.perms.mask); missing != 0 {
		forbid(w, o, missing)
		return
	}
	o.result = resultValid
	writeGrant(w, g)
}

// auth is the forward-auth check: 200 with the user's identity and permissions in headers, 401
// for a passcode that does not open the account, 403 when it does but the role lacks a required
// permission (permissions.go). Any method is accepted, because Envoy's ext_authz forwards the
// original one.
func (s *Server) auth(w http.ResponseWriter, r *http.Request, o *outcome) {
	// A requirement that names no known permission is the gateway's misconfiguration: refused
	// before the passcode is looked at, so it shows on the first request, whoever sends it.
	need, err := requiredPermissions(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	account, code := r.Header.Get(headerAccountID), r.Header.Get(headerPasscode)
	g, ok := s.check(r, account, code)
	if !ok {
		s.deny(w, r, o)
		return
	}
	if missing := need.missing(g.perms.mask); missing != 0 {
		forbid(w, o, missing)
		return
	}
	o.result = resultValid
	// Header.Set, in one allocation: the keys are canonical already, and each value slice is capped
	// so that an Add could not write into the other. The permissions' value is shared (read only).
	values := []string{g.email, string(g.role)}
	h := w.Header()
	h[headerUser] = values[0:1:1]
	h[headerRole] = values[1:2:2]
	h[headerPermissions] = g.perms.header
	writeFixed(w, http.StatusOK, validBody)
}

// check looks the passcode up by its hash in the cache index and decides. Every input is hashed
// and looked up the same way, so an unknown passcode and a wrong one take the same time.
func (s *Server) check(r *http.Request, account, code string) (grant, bool) {
	if !credentialsFit(account, code) || !passcode.Plausible(code) {
		return grant{}, false // nothing the operator issued or imported: no hash, no lookup
	}
	hash := passcode.Hash(code)
	pc, user, ok := s.lookup(r.Context(), account, hash)
	if !ok {
		return grant{}, false
	}
	now := s.cfg.Clock.Now()
	g, ok := validGrant(now, account, hash, pc, user)
	if !ok {
		return grant{}, false
	}
	s.lastUse.record(useEvent{passcode: client.ObjectKeyFromObject(pc), user: client.ObjectKeyFromObject(user), at: now})
	g.perms = s.permissions(r.Context(), pc.Namespace, g.role)
	return g, true
}

// deny answers a failed check: 401 with the same body whatever the reason, or 429 when this client
// has failed too often. Only failures are counted and refused (a 403 is not one).
func (s *Server) deny(w http.ResponseWriter, r *http.Request, o *outcome) {
	from := clientAddr(r, s.cfg.TrustedProxies)
	now := s.cfg.Clock.Now()
	if wait, blocked := s.throttle.blocked(from, now); blocked {
		o.result = resultThrottled
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeFixed(w, http.StatusTooManyRequests, throttledBody)
		return
	}
	s.throttle.fail(from, now)
	o.result = resultInvalid
	writeFixed(w, http.StatusUnauthorized, deniedBody)
}

// verdict is every JSON answer of the access server. A refusal is {"valid":false}, whatever the
// reason.
type verdict struct {
	Valid bool   `json:"valid"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role,omitempty"`
	// Permissions is on every valid answer, [] when the role grants none (omitzero keeps an empty
	// list, which omitempty would drop), and on no refusal.
	Permissions []string `json:"permissions,omitzero"`
	ExpiresAt   string   `json:"expiresAt,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// errorBody answers bad input: {"valid":false,"error":"..."}.
func errorBody(msg string) verdict { return verdict{Error: msg} }

// writeJSON answers with body encoded by encoding/json: no HTML escaping, a newline at the end.
// The answers on the request path (401, 429, 200) are the same bytes, precomputed or appended by
// hand (response.go).
func writeJSON(w http.ResponseWriter, status int, body any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

// The result labels of access_operator_server_requests_total.
const (
	resultValid      = "valid"
	resultInvalid    = "invalid"
	resultThrottled  = "throttled"
	resultForbidden  = "forbidden" // a valid passcode without a required permission
	resultBadRequest = "bad_request"
	resultError      = "error"
)

// outcome is a request's result label: the handler sets it, the metrics middleware counts it. It
// starts as bad_request.
type outcome struct{ result string }

// endpointHandler is a handler of this package: it reports its result in o.
type endpointHandler func(w http.ResponseWriter, r *http.Request, o *outcome)

// Instrument counts requests by result and observes their latency, and turns a panic into a 500
// without crashing the replica. A plain handler cannot report a result, so it is counted as
// bad_request unless it panics.
func Instrument(endpoint string, next http.Handler) http.Handler {
	return instrument(endpoint, func(w http.ResponseWriter, r *http.Request, _ *outcome) { next.ServeHTTP(w, r) })
}

// instrument is Instrument for this package's handlers, which report their result. The result is
// handed over in o rather than in the request's context, which would copy the request.
func instrument(endpoint string, next endpointHandler) http.Handler {
	m := &endpointMetrics{endpoint: endpoint}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		o := &outcome{result: resultBadRequest}
		defer func() {
			if p := recover(); p != nil {
				if errors.Is(asError(p), http.ErrAbortHandler) {
					panic(p)
				}
				o.result = resultError
				writeJSON(w, http.StatusInternalServerError, errorBody("internal error"))
			}
			m.observe(o.result, time.Since(start))
		}()
		next(w, r, o)
	})
}

func asError(p any) error {
	if err, ok := p.(error); ok {
		return err
	}
	return nil
}

// scimThrottledBody is the 429 of a SCIM client that failed too often, in SCIM's error schema
// (RFC 7644 section 3.12: status as a string).
var scimThrottledBody = []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429",` +
	`"detail":"too many failed attempts; retry later"}` + "\n")

// scimThrottled counts SCIM's 401s against the client, with the same throttle as failed passcodes:
// a bearer token can be guessed like a passcode. As for passcodes, only failures are refused: a
// client that failed too often gets 429 instead of its next 401, while a valid token is served
// even from a throttled address (identity providers behind one ingress share it). The result for
// the metrics follows the status answered (scimResult).
func (s *Server) scimThrottled(next http.Handler) endpointHandler {
	return func(w http.ResponseWriter, r *http.Request, o *outcome) {
		g := &scimGuard{ResponseWriter: w, s: s, from: clientAddr(r, s.cfg.TrustedProxies)}
		next.ServeHTTP(g, r)
		if g.status == 0 {
			g.status = http.StatusOK // nothing written: net/http answers 200
		}
		o.result = scimResult(g.status)
	}
}

// scimGuard is the ResponseWriter SCIM answers through: it turns a 401 into 429 for a client with
// no failure left, and counts the others.
type scimGuard struct {
	http.ResponseWriter
	s       *Server
	from    netip.Addr
	status  int
	replied bool // the 429 is written; SCIM's own body is dropped
}

func (g *scimGuard) WriteHeader(status int) {
	if g.status != 0 {
		return
	}
	g.status = status
	if status == http.StatusUnauthorized {
		now := g.s.cfg.Clock.Now()
		if wait, blocked := g.s.throttle.blocked(g.from, now); blocked {
			g.status, g.replied = http.StatusTooManyRequests, true
			h := g.Header()
			h.Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			h.Set("Content-Type", "application/scim+json")
			h.Set("Cache-Control", "no-store")
			g.ResponseWriter.WriteHeader(http.StatusTooManyRequests)
			_, _ = g.ResponseWriter.Write(scimThrottledBody)
			return
		}
		g.s.throttle.fail(g.from, now)
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *scimGuard) Write(b []byte) (int, error) {
	if g.status == 0 {
		g.WriteHeader(http.StatusOK)
	}
	if g.replied {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (g *scimGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// scimResult is the metrics result of a SCIM answer: valid for success, invalid for a bad token,
// forbidden for a write SCIM may not make, error for a server fault, bad_request for the rest.
func scimResult(status int) string {
	switch {
	case status < http.StatusBadRequest:
		return resultValid
	case status == http.StatusTooManyRequests:
		return resultThrottled
	case status == http.StatusUnauthorized:
		return resultInvalid
	case status == http.StatusForbidden:
		return resultForbidden
	case status >= http.StatusInternalServerError:
		return resultError
	}
	return resultBadRequest
}
