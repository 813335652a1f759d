package scim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

const secretToken = "s3cr3t-token-0123456789"

type staticTokens struct{ err error }

func (s staticTokens) Tokens(context.Context, string) ([]Digest, error) {
	return []Digest{sha256.Sum256([]byte(secretToken))}, s.err
}

// TestNoTokenInLogsOrAnswers drives every kind of request, right and wrong, with a logger that
// records everything, and checks the token appears in no log line and no answer.
func TestNoTokenInLogsOrAnswers(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	var logs bytes.Buffer
	logger := funcr.New(func(prefix, args string) { logs.WriteString(prefix + args + "\n") }, funcr.Options{Verbosity: 10})
	ctx := log.IntoContext(context.Background(), logger)

	var answers bytes.Buffer
	send := func(h http.Handler, method, path, token, body string) int {
		r := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		answers.Write(w.Body.Bytes())
		for k, v := range w.Header() {
			answers.WriteString(k + strings.Join(v, ","))
		}
		return w.Code
	}
	h := NewHandler(c, c, c, staticTokens{})
	if code := send(h, http.MethodPost, "/scim/v2/team/Users", secretToken, `{"userName":"a@x.io","externalId":"e1"}`); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, answers.String())
	}
	id := ObjectNameForTest("a@x.io")
	for _, req := range []struct{ method, path, token, body string }{
		{http.MethodPatch, "/scim/v2/team/Users/" + id, secretToken, `{"Operations":[{"op":"replace","value":{"active":false}}]}`},
		{http.MethodPut, "/scim/v2/team/Users/" + id, secretToken, `{"userName":"a@x.io","roles":["admin"]}`},
		{http.MethodGet, "/scim/v2/team/Users?filter=userName%20eq", secretToken, ""},
		{http.MethodGet, "/scim/v2/team/Users", secretToken + "x", ""},
		{http.MethodGet, "/scim/v2/other/Users", "other-" + secretToken, ""},
		{http.MethodDelete, "/scim/v2/team/Users/" + id, secretToken, ""},
	} {
		send(h, req.method, req.path, req.token, req.body)
	}
	failing := NewHandler(c, c, c, staticTokens{err: errors.New("the cache is not started")})
	if code := send(failing, http.MethodGet, "/scim/v2/team/Users", secretToken, ""); code != http.StatusUnauthorized {
		t.Fatalf("a failing token source must deny: %d", code)
	}
	if !strings.Contains(logs.String(), "SCIM created DashboardUser") || !strings.Contains(logs.String(), "Cannot read the SCIM tokens") {
		t.Fatalf("the test did not exercise the logging paths:\n%s", logs.String())
	}
	for name, text := range map[string]string{"logs": logs.String(), "answers": answers.String()} {
		if strings.Contains(text, "s3cr3t") {
			t.Errorf("the token appears in the %s:\n%s", name, text)
		}
	}
}
