package setup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/options"
)

// A manager Pod that starts while the API server is unreachable (a control plane upgrade, a node
// that comes up before it) used to exit at once, and kubelet's crash-loop backoff (up to 5 minutes)
// then delayed its return long after the API server was back. WaitForAPIServer keeps the process up
// instead: it asks the API server what building the manager needs (the REST mappings of the kinds
// it caches), retries on a short capped backoff while the answer is a transient failure, and serves
// the probes meanwhile (/healthz ok, /readyz failing with the reason). Errors a retry cannot cure
// (bad credentials, a bad CA, anything unknown) still fail fast, as before.

// startupAction is what to do about a failed startup attempt.
type startupAction int

const (
	// startupFail: exit with the error, as a misconfiguration should (CrashLoopBackOff shows it).
	startupFail startupAction = iota
	// startupWaitAPIServer: the API server is unreachable or not serving yet; try again.
	startupWaitAPIServer
	// startupWaitCRDs: the API server answers but does not serve this project's kinds yet (the
	// CRDs are applied after the Deployment, or separately); try again.
	startupWaitCRDs
)

// classifyStartupError decides, per error, whether a startup attempt is worth repeating. Transient:
// the connection failed or timed out (the API server is down, restarting, or its Service has no
// endpoint yet), the name did not resolve (cluster DNS coming up), the server answered 429 or 5xx
// (starting, overloaded), the kinds are not served yet (CRDs missing). Not transient: 401 and 403
// (the credentials or their rights are wrong: a restart is the usual remedy and CrashLoopBackOff is
// where people look), certificate errors (a wrong CA), and anything not recognised, so that an
// unexpected error is never hidden behind a Pod that waits for ever.
func classifyStartupError(err error) startupAction {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var netErr net.Error
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return startupFail
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return startupFail
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid):
		return startupFail
	case apimeta.IsNoMatchError(err):
		return startupWaitCRDs
	case apierrors.IsTooManyRequests(err), apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err),
		apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), serverError(err):
		return startupWaitAPIServer
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &dnsErr):
		return startupWaitAPIServer
	case errors.As(err, &netErr) && netErr.Timeout(): // dial, TLS handshake ("net/http: TLS handshake timeout"), response
		return startupWaitAPIServer
	}
	return startupFail
}

// serverError reports a Status error with a 5xx code that IsInternalError and friends do not name
// (502 from a proxy in front of the API server, for one).
func serverError(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status) && status.Status().Code >= 500
}

// startupBackoff is the wait before attempt n+1 (n >= 1): 1s doubling up to 10s, each shortened by
// up to a fifth at random (jitter in [0,1)) so that the replicas of a Deployment do not retry in
// step. The cap keeps the manager within seconds of the API server's return.
func startupBackoff(n int, jitter float64) time.Duration {
	const first, maxWait = time.Second, 10 * time.Second
	d := maxWait
	if n < 5 { // 1, 2, 4, 8, then the cap
		d = min(first<<(n-1), maxWait)
	}
	return d - time.Duration(float64(d)/5*jitter)
}

// startupKinds are the kinds whose REST mappings building the manager asks for (the caches decide
// by them whether a kind is namespaced). Asking for one kind of a group version loads the whole
// group version, so the core Secret stands for core/v1 and DashboardUser for the project's group.
var startupKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Secret"},
	accessv1alpha1.GroupVersion.WithKind("DashboardUser"),
	accessv1alpha1.GroupVersion.WithKind("Passcode"),
	accessv1alpha1.GroupVersion.WithKind("DashboardRole"),
}

// startupRequestTimeout bounds one discovery request of a startup attempt, so that an API server
// that accepts connections and never answers is retried rather than waited on for ever.
const startupRequestTimeout = 10 * time.Second

// WaitForAPIServer returns a REST mapper that holds the mappings building the manager needs, once
// the API server answers them (pass it to NewManagerWithMapper, which then asks the API server
// nothing). Until then it retries transient failures (classifyStartupError) on startupBackoff,
// logging each, and serves /healthz (ok) and /readyz (failing with the reason) on
// --health-probe-bind-address; it closes that server before returning, so the manager can bind
// the address. It returns ctx's error when ctx ends first (SIGTERM), and the error itself when it
// is not transient.
func WaitForAPIServer(ctx context.Context, cfg *rest.Config, o options.Config, log logr.Logger) (apimeta.RESTMapper, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = startupRequestTimeout
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the API client: %w", err)
	}
	var reason atomic.Pointer[string]
	waiting := "waiting for the first attempt to reach the API server at " + cfg.Host
	reason.Store(&waiting)
	stopProbes, err := serveStartupProbes(o.HealthProbeBindAddress, func() string { return *reason.Load() }, log)
	if err != nil {
		return nil, err
	}
	defer stopProbes()
	for attempt := 1; ; attempt++ {
		mapper, err := startupMappings(cfg, httpClient)
		if err == nil {
			if attempt > 1 {
				log.Info("The API server answers: starting", "host", cfg.Host, "attempts", attempt)
			}
			return mapper, nil
		}
		var why string
		switch classifyStartupError(err) {
		case startupWaitAPIServer:
			why = fmt.Sprintf("waiting for the API server at %s: %v", cfg.Host, err)
		case startupWaitCRDs:
			why = fmt.Sprintf("waiting for the CustomResourceDefinitions of %s (config/crd) on the API server at %s: %v",
				accessv1alpha1.GroupVersion, cfg.Host, err)
		default:
			return nil, fmt.Errorf("asking the API server at %s for the REST mappings: %w", cfg.Host, err)
		}
		reason.Store(&why)
		delay := startupBackoff(attempt, rand.Float64()) //nolint:gosec // jitter, not a secret
		// One line per attempt: at most one a second at first, then one every 8-10 s.
		log.Info("Cannot start yet: "+why, "attempt", attempt, "retryIn", delay.Round(100*time.Millisecond).String())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// startupMappings asks the API server for every startupKinds mapping with a fresh dynamic mapper,
// which then holds them.
func startupMappings(cfg *rest.Config, httpClient *http.Client) (apimeta.RESTMapper, error) {
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	for _, gvk := range startupKinds {
		if _, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return nil, err
		}
	}
	return mapper, nil
}

// serveStartupProbes serves the probes while the manager cannot be built yet: /healthz answers 200
// (the process is fine: restarting it would not help) and /readyz 503 with why(). addr "0" or ""
// turns it off, as it does the manager's. stop closes the listener and waits for it, so that the
// manager can then bind the same address.
func serveStartupProbes(addr string, why func() string, log logr.Logger) (stop func(), err error) {
	if addr == "" || addr == "0" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--health-probe-bind-address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, why()+"\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "The startup probe server stopped")
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // closes the listener first
		<-done
	}, nil
}
