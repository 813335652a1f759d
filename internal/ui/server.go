// Package ui is the local users page of `kubectl dashboard ui`: server-rendered HTML with embedded
// templates and assets, served on loopback by the plugin and acting through internal/ops with the
// caller's own kubeconfig credentials, so that Kubernetes RBAC decides what a person may do.
package ui

import (
	"embed"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dashboardops/access-operator/internal/ops"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the page needs.
type Config struct {
	// Client acts with the caller's credentials; Watch feeds the live updates.
	Client client.WithWatch
	// Namespace is the project shown first.
	Namespace string
	// Token is the session token the printed URL carries.
	Token string
	// Addr is the bound address, host:port: requests naming another Host are refused.
	Addr string
	// TokenUsed, if set, is called once, when the URL's token has been traded for the cookie,
	// before the answer is sent.
	TokenUsed func()
}

// Server is the users page, an http.Handler.
type Server struct {
	c         client.WithWatch
	namespace string
	hosts     []string
	tmpl      *template.Template
	handler   http.Handler
	// token is the printed URL's one-time token. session (the cookie's value) and csrf are secrets
	// of their own, and cookieName is this server's alone (security.go).
	token, session, csrf, cookieName string
	// tokenUsed is set once the URL's token was traded for the cookie; tokenUsedHook is then called.
	tokenUsed     atomic.Bool
	tokenUsedHook func()
}

// New makes the page for cfg.
func New(cfg Config) (*Server, error) {
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"userURL": userURL, "reviewURL": reviewURL, "canResend": ops.CanResendInvite, "searchText": SearchText, "visible": ops.Visible,
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s := &Server{c: cfg.Client, namespace: cfg.Namespace, token: cfg.Token, tmpl: tmpl, hosts: []string{cfg.Addr}, tokenUsedHook: cfg.TokenUsed}
	if s.cookieName, s.session, s.csrf, err = newSecrets(cfg.Addr); err != nil {
		return nil, err
	}
	if _, port, err := net.SplitHostPort(cfg.Addr); err == nil {
		s.hosts = append(s.hosts, net.JoinHostPort("localhost", port))
		if p, _ := strconv.Atoi(port); p == 80 {
			s.hosts = append(s.hosts, "127.0.0.1", "localhost")
		}
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /export.csv", s.export)
	mux.HandleFunc("GET /invite", s.inviteForm)
	mux.HandleFunc("POST /invite", s.invite)
	mux.HandleFunc("GET /user", s.userPage)
	mux.HandleFunc("POST /set-role", s.setRole)
	mux.HandleFunc("POST /access", s.access)
	mux.HandleFunc("POST /reset-passcode", s.resetPasscode)
	mux.HandleFunc("POST /grant-passcode", s.grantPasscode)
	mux.HandleFunc("POST /resend-invite", s.resendInvite)
	mux.HandleFunc("GET /reviews", s.reviews)
	mux.HandleFunc("GET /review", s.review)
	mux.HandleFunc("GET /review.csv", s.reviewCSV)
	mux.HandleFunc("POST /review/decide", s.decide)
	s.handler = s.secure(mux)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
