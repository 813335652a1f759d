package scim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// fixture is a recorded provisioning flow of an identity provider (testdata/*.json): each step is
// a request, the answer expected, and what the DashboardUser must be after it.
type fixture struct {
	Description string `json:"description"`
	Steps       []step `json:"steps"`
}

type step struct {
	Name   string          `json:"name"`
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
	// Capture names the response attribute whose value replaces {{id}} in later steps.
	Capture string `json:"capture"`
	// Expect maps a dotted path in the answer (Resources.0.id) to its value; null means absent.
	Expect map[string]any `json:"expect"`
	// User is what the DashboardUser {{id}} must hold after the step, read from the API server:
	// email, displayName, role, access, externalId, provisionedBy, or gone.
	User map[string]any `json:"user"`
}

// at walks a dotted path through maps and lists.
func at(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			v = t[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// mismatch says how a answers differently from s, or "".
func mismatch(s step, a answer, subst func(string) string) string {
	if a.status != s.Status {
		return fmt.Sprintf("status %d, want %d (body %v)", a.status, s.Status, a.body)
	}
	for path, want := range s.Expect {
		if w, ok := want.(string); ok {
			want = subst(w)
		}
		got := at(a.body, path)
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			return fmt.Sprintf("%s = %s, want %s (body %v)", path, gj, wj, a.body)
		}
	}
	return ""
}

func replay(file string) {
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	Expect(err).NotTo(HaveOccurred())
	var f fixture
	Expect(json.Unmarshal(raw, &f)).To(Succeed())
	ns := account("replay-token-0123456789")
	id := ""
	subst := func(s string) string { return strings.ReplaceAll(s, "{{id}}", id) }
	for _, s := range f.Steps {
		By(s.Name)
		var body []byte
		if len(s.Body) > 0 {
			body = []byte(subst(string(s.Body)))
		}
		path := ns + subst(s.Path)
		send := func() answer { return call(s.Method, path, "replay-token-0123456789", body) }
		var a answer
		if s.Method == http.MethodGet {
			// Reads are served from the informer cache, which sees a write a moment after it.
			Eventually(func() string { a = send(); return mismatch(s, a, subst) }).WithTimeout(10 * time.Second).Should(BeEmpty())
		} else {
			// A write reads the user from the cache first: a user created a moment ago may not be
			// there yet (404), as an IdP retrying would find.
			Eventually(func() int { a = send(); return a.status }).WithTimeout(10*time.Second).ShouldNot(Equal(http.StatusNotFound), "step %s", s.Name)
			Expect(mismatch(s, a, subst)).To(BeEmpty(), "step %s", s.Name)
		}
		if s.Capture != "" {
			id, _ = a.body[s.Capture].(string)
			Expect(id).NotTo(BeEmpty())
		}
		if s.User != nil {
			expectUser(ns, id, s.User)
		}
	}
}

func expectUser(ns, id string, want map[string]any) {
	du := &accessv1alpha1.DashboardUser{}
	key := client.ObjectKey{Namespace: ns, Name: id}
	if want["gone"] == true {
		Eventually(func() bool { return apierrors.IsNotFound(op.Client.Get(ctx, key, du)) }).WithTimeout(20 * time.Second).Should(BeTrue())
		return
	}
	Expect(op.Client.Get(ctx, key, du)).To(Succeed())
	got := map[string]any{
		"email":         du.Spec.Email,
		"displayName":   du.Spec.DisplayName,
		"role":          string(du.Spec.Role),
		"access":        string(du.Spec.Access),
		"externalId":    du.Annotations[accessv1alpha1.SCIMExternalIDAnnotation],
		"provisionedBy": du.Labels[accessv1alpha1.ProvisionedByLabel],
	}
	for k, v := range want {
		Expect(got).To(HaveKeyWithValue(k, v), "DashboardUser %s", id)
	}
}

var _ = Describe("Recorded provisioning flows", func() {
	It("replays Okta's", func() { replay("okta.json") })
	It("replays Entra ID's", func() { replay("entra.json") })
})
