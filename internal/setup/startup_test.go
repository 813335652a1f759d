package setup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// timeoutError is a net.Error that timed out, as net/http's "TLS handshake timeout" is.
type timeoutError struct{}

func (timeoutError) Error() string   { return "net/http: TLS handshake timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// asClientGo wraps err as client-go and the REST mapper return it: in a *url.Error, behind
// "failed to get server groups".
func asClientGo(err error) error {
	return fmt.Errorf("failed to get server groups: %w", &url.Error{Op: "Get", URL: "https://10.96.0.1:443/api", Err: err})
}

func TestClassifyStartupError(t *testing.T) {
	gr := schema.GroupResource{Group: "access.dashboardops.io", Resource: "passcodes"}
	dial := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: errno}}
	}
	for _, c := range []struct {
		name string
		err  error
		want startupAction
	}{
		{"connection refused (API server down)", asClientGo(dial(syscall.ECONNREFUSED)), startupWaitAPIServer},
		{"connection reset", asClientGo(dial(syscall.ECONNRESET)), startupWaitAPIServer},
		{"no route to host", asClientGo(dial(syscall.EHOSTUNREACH)), startupWaitAPIServer},
		{"network unreachable", asClientGo(dial(syscall.ENETUNREACH)), startupWaitAPIServer},
		{"dial timeout", asClientGo(&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}), startupWaitAPIServer},
		{"TLS handshake timeout", asClientGo(timeoutError{}), startupWaitAPIServer},
		{"request timeout (?timeout=10s)", asClientGo(context.DeadlineExceeded), startupWaitAPIServer},
		{"connection closed during the handshake", asClientGo(io.EOF), startupWaitAPIServer},
		{"unexpected EOF", asClientGo(io.ErrUnexpectedEOF), startupWaitAPIServer},
		{"name does not resolve yet", asClientGo(&net.DNSError{Err: "no such host", Name: "api.example", IsNotFound: true}), startupWaitAPIServer},
		{"503 while starting", apierrors.NewServiceUnavailable("starting"), startupWaitAPIServer},
		{"500", fmt.Errorf("failed to get server groups: %w", apierrors.NewInternalError(errors.New("etcd"))), startupWaitAPIServer},
		{"429", apierrors.NewTooManyRequests("slow down", 1), startupWaitAPIServer},
		{"504", apierrors.NewTimeoutError("slow", 1), startupWaitAPIServer},
		{"server timeout", apierrors.NewServerTimeout(gr, "list", 1), startupWaitAPIServer},
		{"502 from a proxy", apierrors.NewGenericServerResponse(502, "get", gr, "", "bad gateway", 0, false), startupWaitAPIServer},
		{"CRD not installed (no kind)", &apimeta.NoKindMatchError{GroupKind: schema.GroupKind{Group: gr.Group, Kind: "Passcode"},
			SearchedVersions: []string{"v1alpha1"}}, startupWaitCRDs},
		{"CRD not installed (no resource)", fmt.Errorf("x: %w", &apimeta.NoResourceMatchError{PartialResource: gr.WithVersion("v1alpha1")}), startupWaitCRDs},

		{"401: wrong credentials", apierrors.NewUnauthorized("Unauthorized"), startupFail},
		{"403: no right to discovery", fmt.Errorf("failed to get server groups: %w", apierrors.NewForbidden(gr, "", errors.New("no"))), startupFail},
		{"unknown CA", asClientGo(x509.UnknownAuthorityError{}), startupFail},
		{"wrong host name in the certificate", asClientGo(x509.HostnameError{Host: "10.0.0.1", Certificate: &x509.Certificate{}}), startupFail},
		{"404 on discovery", apierrors.NewNotFound(gr, ""), startupFail},
		{"anything unknown", errors.New("http: server gave HTTP response to HTTPS client"), startupFail},
		{"nil", nil, startupFail},
	} {
		if got := classifyStartupError(c.err); got != c.want {
			t.Errorf("%s (%v): got %d, want %d", c.name, c.err, got, c.want)
		}
	}
}

func TestStartupBackoff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := startupBackoff(i+1, 0); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
		if got := startupBackoff(i+1, 0.999); got <= w*4/5 || got >= w {
			t.Errorf("attempt %d with full jitter: %s, want within (%s, %s)", i+1, got, w*4/5, w)
		}
	}
	if got := startupBackoff(1000, 0.5); got != 9*time.Second {
		t.Errorf("attempt 1000: %s, want the cap less half its jitter, 9s", got)
	}
}
