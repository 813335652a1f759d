package accessserver

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// fuzzServer is the access server over a fake cache holding one user and one Passcode (the server
// keeps its own indexes).
func fuzzServer(t testing.TB) http.Handler {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pc, u := fixture()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pc, u).Build()
	return New(Config{Reader: c, APIReader: c, Writer: c, Clock: clocktesting.NewFakeClock(now)}).Handler()
}

func serve(h http.Handler, r *http.Request) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Code
}

// FuzzForwardAuth: whatever a gateway forwards in the two headers, /v1/auth answers 401 or 429
// (never 200 for an unknown passcode, never a 5xx) and does not panic.
func FuzzForwardAuth(f *testing.F) {
	h := fuzzServer(f)
	f.Add("team", "dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ", "10.0.0.1:1")
	f.Add("", "", "[::1]:9")
	f.Add("team\x00", "\xff\xfe", "garbage")
	f.Fuzz(func(t *testing.T, account, code, peer string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/auth", nil)
		r.Header["X-Dashboard-Account-Id"] = []string{account}
		r.Header["X-Dashboard-Passcode"] = []string{code}
		r.RemoteAddr = peer
		if got := serve(h, r); got != http.StatusUnauthorized && got != http.StatusTooManyRequests {
			t.Fatalf("/v1/auth answered %d", got)
		}
	})
}

// FuzzInvitationPath: any path under /invitations/ and any method gets a clear 4xx (no such link,
// wrong method) or, for a path with dot segments, the mux's redirect to the clean path; never a 2xx
// for a link that does not exist, a 5xx or a panic.
func FuzzInvitationPath(f *testing.F) {
	h := fuzzServer(f)
	f.Add("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "GET")
	f.Add("ABCDEFGHIJKLMNOPQRSTUVWXYZ/accept", "POST")
	f.Add("../../etc/passwd", "GET")
	f.Add("%00/accept/x", "DELETE")
	f.Fuzz(func(t *testing.T, rest, method string) {
		r, err := http.NewRequest(method, "http://access/invitations/"+rest, nil)
		if err != nil {
			return // not a request a client could send
		}
		got := serve(h, r)
		if got < 300 || got >= 500 {
			t.Fatalf("%s /invitations/%q answered %d", method, rest, got)
		}
	})
}
