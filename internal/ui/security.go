package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
)

// sessionCookiePrefix starts the session cookie's name; the rest is the port and a random part,
// per server (cookieName).
const sessionCookiePrefix = "dashboard_session_"

// csrfField is the form field of the CSRF token on every POST.
const csrfField = "csrf"

// contentSecurityPolicy allows nothing but the page's own embedded assets.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// NewToken is a random session token: 32 bytes, URL-safe base64.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Cookies are not isolated by port: the browser sends a cookie set by 127.0.0.1:8123 to every
// service on 127.0.0.1 it visits, and any of them may set one we then receive. So the session is
// built so that what leaks that way is worth as little as possible:
//   - the cookie's name is per server (cookieName: the port and a random part), so two pages (two
//     runs of kubectl dashboard ui) never take each other's session, and another local service
//     cannot plant or overwrite ours under a name it could guess;
//   - its value (session) is a fresh random secret, never the one-time token of the printed URL:
//     a URL seen in a terminal, in ps or in the browser's history opens nothing once it was used;
//   - the CSRF token is a third secret, not derived from the cookie.
// What remains (docs/security.md): a local service the browser visits while the page runs receives
// the cookie and could replay it here; the session ends when the command stops.

// newSecrets makes a server's session secrets.
func newSecrets(addr string) (cookieName, session, csrf string, err error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return "", "", "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	cookieName = sessionCookiePrefix + port + "_" + hex.EncodeToString(id)
	if session, err = NewToken(); err != nil {
		return "", "", "", err
	}
	if csrf, err = NewToken(); err != nil {
		return "", "", "", err
	}
	return cookieName, session, csrf, nil
}

// csrfToken is a secret of this server that only its pages carry, so a page from another origin
// (which cannot read ours) cannot know it.
func (s *Server) csrfToken() string { return s.csrf }

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// secure wraps the routes with the checks every request goes through: the Host header names the
// bound address (DNS rebinding), the session token (URL once, then the cookie), and on a POST the
// CSRF token and a same-origin Origin or Sec-Fetch-Site.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on a form POST.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if !s.hostAllowed(r.Host) {
			http.Error(w, "refused: the Host header "+r.Host+" is not the address this page is served on", http.StatusMisdirectedRequest)
			return
		}
		if t := r.URL.Query().Get("token"); t != "" && r.Method == http.MethodGet {
			s.acceptToken(w, r, t)
			return
		}
		c, err := r.Cookie(s.cookieName)
		if err != nil || !equal(c.Value, s.session) {
			http.Error(w, "refused: no session; open the URL kubectl dashboard ui printed", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !s.sameOrigin(r) || !equal(r.PostFormValue(csrfField), s.csrfToken()) {
				http.Error(w, "refused: cross-site request or missing CSRF token", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed: the Host is the bound address, by IP or as localhost.
func (s *Server) hostAllowed(host string) bool {
	for _, h := range s.hosts {
		if host == h {
			return true
		}
	}
	return false
}

// sameOrigin refuses a request a browser marks as cross-site, or whose Origin is not ours.
func (s *Server) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Scheme != "http" || !s.hostAllowed(u.Host) || u.Host != r.Host {
			return false
		}
	}
	return true
}

// acceptToken trades the URL's token for an HttpOnly, SameSite=Strict cookie holding the session (a
// secret of its own) and redirects to the same address without it, so the token leaves the address
// bar and the history; then it tells Config.TokenUsed (the plugin deletes the file that handed the
// URL to the browser).
func (s *Server) acceptToken(w http.ResponseWriter, r *http.Request, token string) {
	if !equal(token, s.token) {
		http.Error(w, "refused: wrong session token", http.StatusUnauthorized)
		return
	}
	// The URL's token works once: a copy of the link (history, another browser) opens nothing.
	if !s.tokenUsed.CompareAndSwap(false, true) {
		http.Error(w, "refused: this link was already used; run kubectl dashboard ui again for a new one", http.StatusUnauthorized)
		return
	}
	// Not Secure: the page is plain HTTP on loopback, which never leaves the computer.
	//nolint:gosec // loopback HTTP: a Secure cookie would not be sent back
	cookie := &http.Cookie{Name: s.cookieName, Value: s.session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode}
	http.SetCookie(w, cookie)
	if s.tokenUsedHook != nil {
		s.tokenUsedHook()
	}
	q := r.URL.Query()
	q.Del("token")
	target := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}
