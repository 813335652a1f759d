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
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/passcode"
)

// Config configures a Server.
type Config struct {
	// BindAddress is where the server listens, e.g. ":8082".
	BindAddress string
	// Reader is the manager's informer cache, with HashIndex registered on Passcodes.
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
	mux.Handle("/v1/verify", Instrument("verify", http.HandlerFunc(s.verify)))
	// Envoy's ext_authz appends the original path to the prefix, so /v1/auth/... is the same check.
	mux.Handle("/v1/auth", Instrument("auth", http.HandlerFunc(s.auth)))
	mux.Handle("/v1/auth/", Instrument("auth", http.HandlerFunc(s.auth)))
	mux.Handle("/invitations/", Instrument("invitation", http.HandlerFunc(s.invitations)))
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
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("use POST with a JSON body"))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody("Content-Type must be application/json"))
		return
	}
	req, err := decodeVerifyRequest(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		setResult(r, "bad_request")
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	g, ok := s.check(r, req.Account, req.Passcode)
	if !ok {
		s.deny(w, r)
		return
	}
	setResult(r, "valid")
	writeJSON(w, http.StatusOK, verdict{Valid: true, Email: g.email, Role: string(g.role), ExpiresAt: g.expiresAt.UTC().Format(time.RFC3339)})
}

// auth is the forward-auth check: 200 with the user's identity in headers, else 401. Any method
// is accepted, because Envoy's ext_authz forwards the original one.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	account, code := r.Header.Get(headerAccountID), r.Header.Get(headerPasscode)
	g, ok := s.check(r, account, code)
	if !ok {
		s.deny(w, r)
		return
	}
	setResult(r, "valid")
	w.Header().Set(headerUser, g.email)
	w.Header().Set(headerRole, string(g.role))
	writeJSON(w, http.StatusOK, verdict{Valid: true})
}

// check looks the passcode up by its hash in the cache index and decides. Every input is hashed
// and looked up the same way, so an unknown passcode and a wrong one take the same time.
func (s *Server) check(r *http.Request, account, code string) (grant, bool) {
	if checkCredentials(account, code, "", "") != nil {
		return grant{}, false
	}
	ctx := r.Context()
	hash := passcode.Hash(code)
	list := &accessv1alpha1.PasscodeList{}
	if err := s.cfg.Reader.List(ctx, list, client.InNamespace(account), client.MatchingFields{HashIndex: hash},
		client.UnsafeDisableDeepCopy); err != nil || len(list.Items) != 1 {
		return grant{}, false
	}
	pc := &list.Items[0]
	user := &accessv1alpha1.DashboardUser{}
	if err := s.cfg.Reader.Get(ctx, types.NamespacedName{Namespace: pc.Namespace, Name: pc.Spec.UserRef.Name}, user,
		client.UnsafeDisableDeepCopy); err != nil {
		return grant{}, false
	}
	now := s.cfg.Clock.Now()
	g, ok := validGrant(now, account, hash, pc, user)
	if ok {
		s.lastUse.record(useEvent{passcode: client.ObjectKeyFromObject(pc), user: client.ObjectKeyFromObject(user), at: now})
	}
	return g, ok
}

// deny answers a failed check: 401 with the same body whatever the reason, or 429 when this client
// has failed too often. Only failures are counted and refused.
func (s *Server) deny(w http.ResponseWriter, r *http.Request) {
	from := clientAddr(r, s.cfg.TrustedProxies)
	now := s.cfg.Clock.Now()
	if wait, blocked := s.throttle.blocked(from, now); blocked {
		setResult(r, "throttled")
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeJSON(w, http.StatusTooManyRequests, verdict{Error: "too many failed attempts; retry later"})
		return
	}
	s.throttle.fail(from, now)
	setResult(r, "invalid")
	writeJSON(w, http.StatusUnauthorized, verdict{})
}

// verdict is every JSON answer of the access server. A refusal is {"valid":false}, whatever the
// reason.
type verdict struct {
	Valid     bool   `json:"valid"`
	Email     string `json:"email,omitempty"`
	Role      string `json:"role,omitempty"`
	ExpiresAt string `json:"expiresAt,omitempty"`
	Error     string `json:"error,omitempty"`
}

// errorBody answers bad input: {"valid":false,"error":"..."}.
func errorBody(msg string) verdict { return verdict{Error: msg} }

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

// resultKey carries the request's result label from the handler to the metrics middleware.
type resultKey struct{}

type resultHolder struct{ result string }

func setResult(r *http.Request, result string) {
	if h, ok := r.Context().Value(resultKey{}).(*resultHolder); ok {
		h.result = result
	}
}

// Instrument counts requests by result and observes their latency, and turns a panic into a 500
// without crashing the replica.
func Instrument(endpoint string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := &resultHolder{result: "bad_request"}
		defer func() {
			if p := recover(); p != nil {
				if errors.Is(asError(p), http.ErrAbortHandler) {
					panic(p)
				}
				h.result = "error"
				writeJSON(w, http.StatusInternalServerError, errorBody("internal error"))
			}
			metrics.AccessRequests.WithLabelValues(endpoint, h.result).Inc()
			metrics.AccessLatency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), resultKey{}, h)))
	})
}

func asError(p any) error {
	if err, ok := p.(error); ok {
		return err
	}
	return nil
}
