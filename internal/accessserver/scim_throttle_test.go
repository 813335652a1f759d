package accessserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// A SCIM bearer token can be guessed like a passcode: the SCIM endpoint's 401s count against the
// client, whose failures are answered 429 (in SCIM's error schema) once it failed too often. As for
// passcodes, a valid token is never refused, even from a throttled address, and never counts.
func TestSCIMFailuresAreThrottled(t *testing.T) {
	scim := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right-token-0123456789" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	counted := series(t)
	clk := clocktesting.NewFakeClock(now)
	s := New(Config{Reader: fake.NewClientBuilder().Build(), Clock: clk, FailureBurst: 3, FailureRefill: time.Minute, SCIM: scim})
	do := func(token, from string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/scim/v2/team/Users", nil)
		r.RemoteAddr = from + ":5000"
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w
	}
	for range 10 {
		if w := do("right-token-0123456789", "10.0.0.1"); w.Code != http.StatusOK {
			t.Fatalf("a valid token: %d", w.Code)
		}
	}
	for i := range 3 {
		if w := do("guess", "10.0.0.1"); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, w.Code)
		}
	}
	w := do("guess", "10.0.0.1")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" ||
		w.Body.String() != string(scimThrottledBody) || !strings.Contains(w.Body.String(), "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("after the burst: %d %q %q, want 429 in SCIM's error schema", w.Code, w.Header(), w.Body.String())
	}
	if w := do("right-token-0123456789", "10.0.0.1"); w.Code != http.StatusOK {
		t.Errorf("a valid token from the throttled address: %d, want 200", w.Code)
	}
	if w := do("right-token-0123456789", "10.0.0.2"); w.Code != http.StatusOK {
		t.Errorf("another client: %d, want 200", w.Code)
	}
	clk.Step(time.Minute)
	if w := do("right-token-0123456789", "10.0.0.1"); w.Code != http.StatusOK {
		t.Errorf("after a refill: %d, want 200", w.Code)
	}
	// Each answer is counted under endpoint="scim" with its result.
	after := series(t)
	for result, want := range map[string]uint64{"valid": 13, "invalid": 3, "throttled": 1} {
		key := "access_operator_server_requests_total scim " + result
		if got := after[key] - counted[key]; got != want {
			t.Errorf("%s: %d more, want %d", key, got, want)
		}
	}
}
