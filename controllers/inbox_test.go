package controllers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"k8s.io/utils/clock"

	"github.com/dashboardops/access-operator/internal/testenv/webhookverify"
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
	// events are the lifecycle notifications (docs/notifications.md), every delivery, oldest first.
	events []receivedEvent
}

// receivedEvent is one lifecycle notification the inbox accepted, with its raw body for the leak check.
type receivedEvent struct {
	Type           string `json:"type"`
	Account        string `json:"account"`
	User           string `json:"user"`
	Email          string `json:"email"`
	PasscodeName   string `json:"passcodeName"`
	Revision       int64  `json:"revision"`
	Reason         string `json:"reason"`
	Role           string `json:"role"`
	PreviousRole   string `json:"previousRole"`
	IdempotencyKey string `json:"idempotencyKey"`
	HeaderKey      string `json:"-"`
	Body           string `json:"-"`
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
	if err := webhookverify.Verify(webhookverify.Secret([]byte(inboxSecret)), r.Header, body, clock.RealClock{}.Now()); err != nil { // the notifier signs with the wall clock
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var typed struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &typed); err == nil && typed.Type != "dashboard.invite" {
		in.serveEvent(w, r, body)
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

func (in *webhookInbox) serveEvent(w http.ResponseWriter, r *http.Request, body []byte) {
	var ev receivedEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ev.HeaderKey, ev.Body = r.Header.Get("Idempotency-Key"), string(body)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.failFor[ev.Account+"/"+ev.User] {
		http.Error(w, "receiver unavailable", http.StatusServiceUnavailable)
		return
	}
	in.events = append(in.events, ev)
}

// eventsIn returns the lifecycle notifications received for a project, oldest first.
func (in *webhookInbox) eventsIn(account string) []receivedEvent {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []receivedEvent
	for _, ev := range in.events {
		if ev.Account == account {
			out = append(out, ev)
		}
	}
	return out
}
