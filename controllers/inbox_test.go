package controllers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/dashboardops/access-operator/internal/notify"
)

const inboxSecret = "webhook-test-secret"

// inbox receives the operator's signed webhook invites, checks each signature, and can be told to
// fail deliveries for some addresses.
var inbox *webhookInbox

type webhookInbox struct {
	server *httptest.Server

	mu       sync.Mutex
	received map[string][]receivedInvite // by email, oldest first
	failFor  map[string]bool
}

type receivedInvite struct {
	Email          string `json:"email"`
	Project        string `json:"project"`
	Role           string `json:"role"`
	AcceptURL      string `json:"acceptUrl"`
	IdempotencyKey string `json:"idempotencyKey"`
}

// Token is the accept link's token.
func (r receivedInvite) Token() string { return r.AcceptURL[strings.LastIndex(r.AcceptURL, "/")+1:] }

func newInbox() *webhookInbox {
	in := &webhookInbox{received: map[string][]receivedInvite{}, failFor: map[string]bool{}}
	in.server = httptest.NewServer(http.HandlerFunc(in.serve))
	return in
}

func (in *webhookInbox) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-Dashboard-Timestamp")
	if r.Header.Get("X-Dashboard-Signature") != notify.Sign([]byte(inboxSecret), []byte(ts+"."+string(body))) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var inv receivedInvite
	if err := json.Unmarshal(body, &inv); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.failFor[inv.Email] {
		http.Error(w, "mailbox unavailable", http.StatusServiceUnavailable)
		return
	}
	in.received[inv.Email] = append(in.received[inv.Email], inv)
}

// invites returns what email received so far.
func (in *webhookInbox) invites(email string) []receivedInvite {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]receivedInvite(nil), in.received[email]...)
}

func (in *webhookInbox) setFailing(email string, fail bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.failFor[email] = fail
}

// allTokens lists the token of every invite received so far.
func (in *webhookInbox) allTokens() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, invs := range in.received {
		for _, inv := range invs {
			out = append(out, inv.Token())
		}
	}
	return out
}
