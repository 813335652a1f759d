package accessserver

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/invite"
)

// inviteState is what a token opens.
type inviteState int

const (
	inviteUnknown inviteState = iota // no such link (never made, or replaced by a resend)
	inviteOpen
	inviteExpired
	inviteUsed
	inviteRevoked
)

// inviteStateOf decides what the invite page shows for a user found by a token's hash.
func inviteStateOf(now time.Time, u *accessv1alpha1.DashboardUser) inviteState {
	switch {
	case u == nil || u.Status.Invite == nil || u.DeletionTimestamp != nil:
		return inviteUnknown
	case u.Status.Invite.AcceptedAt != nil:
		return inviteUsed
	case u.Spec.Access == accessv1alpha1.AccessRevoked:
		return inviteRevoked
	case u.Status.Invite.ExpiresAt == nil:
		return inviteUnknown // made but not delivered yet
	case invite.Expired(now, u.Status.Invite.ExpiresAt.Time):
		return inviteExpired
	}
	return inviteOpen
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2933}
h1{font-size:1.4rem}button{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:.3rem;background:#2563eb;color:#fff;cursor:pointer}
.muted{color:#616e7c}</style></head>
<body><main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Form}}<form method="post" action="{{.Action}}"><button type="submit" id="accept">Accept</button></form>
<p class="muted">The link works until {{.Expires}}.</p>{{end}}
</main></body></html>
`))

type page struct {
	Title, Message, Action, Expires string
	Form                            bool
}

// invitations serves GET /invitations/<token> and POST /invitations/<token>/accept. The page works
// without JavaScript. The token is the only credential, so a cross-site page cannot accept for
// someone (it does not know the token); POSTs from another site are refused all the same.
func (s *Server) invitations(w http.ResponseWriter, r *http.Request, o *outcome) {
	rest := strings.TrimPrefix(r.URL.Path, "/invitations/")
	token, action, _ := strings.Cut(rest, "/")
	switch {
	case action == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.invitePage(w, r, o, token)
	case action == "accept" && r.Method == http.MethodPost:
		s.acceptInvite(w, r, o, token)
	case action == "" || action == "accept":
		w.Header().Set("Allow", "GET, POST")
		writePage(w, http.StatusMethodNotAllowed, page{Title: "Method not allowed", Message: "Open the link from your invite email."})
	default:
		writePage(w, http.StatusNotFound, unknownPage)
	}
}

var unknownPage = page{Title: "This invite link is not valid",
	Message: "It may have been replaced by a newer invite. Ask your dashboard admin to send you a new one."}

// lookupInvite finds the user a token belongs to, from the cache: from the server's index (index.go)
// or, when there is none (a Reader without informers, or an index still not told of every user
// after indexWait), from a List of every user, filtered here. The rule is the index's either way: exactly one user
// holds the hash. The user is returned as a copy: callers patch it.
func (s *Server) lookupInvite(ctx context.Context, token string) *accessv1alpha1.DashboardUser {
	if !invite.WellFormed(token) {
		return nil
	}
	hash := invite.Hash(token)
	if ix := s.awaitIndex(ctx); ix != nil {
		if u, ok := ix.invited(hash); ok {
			return u.DeepCopy()
		}
		return nil
	}
	list := &accessv1alpha1.DashboardUserList{}
	if err := s.cfg.Reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	ix := newIndex()
	for i := range list.Items {
		ix.setUser(&list.Items[i])
	}
	if u, ok := ix.invited(hash); ok {
		return u.DeepCopy()
	}
	return nil
}

func (s *Server) invitePage(w http.ResponseWriter, r *http.Request, o *outcome, token string) {
	u := s.lookupInvite(r.Context(), token)
	switch inviteStateOf(s.cfg.Clock.Now(), u) {
	case inviteOpen:
		o.result = resultValid
		writePage(w, http.StatusOK, page{
			Title:   "You were invited to " + u.Namespace + " as " + string(u.Spec.Role),
			Message: "Accept to get access to the " + u.Namespace + " dashboard as " + u.Spec.Email + ".",
			Action:  "/invitations/" + url.PathEscape(token) + "/accept",
			Expires: u.Status.Invite.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"),
			Form:    true,
		})
	default:
		s.inviteRefused(w, o, u)
	}
}

func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request, o *outcome, token string) {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		writePage(w, http.StatusForbidden, page{Title: "Not allowed", Message: "Accept the invite from its own page."})
		return
	}
	ctx := r.Context()
	u := s.lookupInvite(ctx, token)
	now := s.cfg.Clock.Now()
	if inviteStateOf(now, u) != inviteOpen {
		s.inviteRefused(w, o, u)
		return
	}
	// Single use across replicas: the patch carries the resourceVersion the decision was made on,
	// so of two concurrent accepts one conflicts, re-reads the user live and finds the invite used.
	for attempt := 0; ; attempt++ {
		accepted := u.DeepCopy()
		accepted.Status.Invite.AcceptedAt = &metav1.Time{Time: now.Truncate(time.Second)}
		err := s.cfg.Writer.Status().Patch(ctx, accepted, client.MergeFromWithOptions(u, client.MergeFromWithOptimisticLock{}))
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) || attempt == 2 {
			writePage(w, http.StatusServiceUnavailable, page{Title: "Please try again", Message: "The invite could not be accepted just now."})
			return
		}
		live := &accessv1alpha1.DashboardUser{}
		if err := s.cfg.APIReader.Get(ctx, client.ObjectKeyFromObject(u), live); err != nil {
			s.inviteRefused(w, o, nil)
			return
		}
		if live.Status.Invite == nil || live.Status.Invite.TokenHash != invite.Hash(token) || inviteStateOf(now, live) != inviteOpen {
			s.inviteRefused(w, o, sameToken(live, token))
			return
		}
		u = live
	}
	o.result = resultValid
	writePage(w, http.StatusOK, page{Title: "Welcome to " + u.Namespace,
		Message: "You accepted the invite: you now have access as " + string(u.Spec.Role) + "."})
}

// sameToken is u when token is still its invite's token, else nil (a replaced link is unknown).
func sameToken(u *accessv1alpha1.DashboardUser, token string) *accessv1alpha1.DashboardUser {
	if u.Status.Invite == nil || u.Status.Invite.TokenHash != invite.Hash(token) {
		return nil
	}
	return u
}

func (s *Server) inviteRefused(w http.ResponseWriter, o *outcome, u *accessv1alpha1.DashboardUser) {
	o.result = resultInvalid
	switch inviteStateOf(s.cfg.Clock.Now(), u) {
	case inviteUsed:
		writePage(w, http.StatusGone, page{Title: "This invite was already accepted", Message: "Sign in to the dashboard as usual."})
	case inviteExpired:
		writePage(w, http.StatusGone, page{Title: "This invite has expired",
			Message: "Ask your dashboard admin to send you a new one."})
	case inviteRevoked:
		writePage(w, http.StatusGone, page{Title: "This invite was withdrawn", Message: "Your access to this dashboard was revoked."})
	default:
		writePage(w, http.StatusNotFound, unknownPage)
	}
}

// writePage renders a page with headers that keep the token in the URL from leaking: no Referer
// to other sites, no caching, no framing, no scripts.
func writePage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}

// indexWait bounds how long an invite lookup waits for the server's index after a start: its
// handlers are told of every cached object within moments of the informers' sync, and the List
// that replaces it copies every user of the cache for one request.
const indexWait = 2 * time.Second

// awaitIndex is cacheIndex, waiting up to indexWait for it while the Reader has informers that
// have not synced or an index not yet told of everything; nil at once for a Reader without them.
func (s *Server) awaitIndex(ctx context.Context) *index {
	deadline := time.Now().Add(indexWait)
	for {
		if ix := s.cacheIndex(ctx); ix != nil {
			return ix
		}
		if r := s.index.Load(); (r != nil && r.ix == nil) || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}
