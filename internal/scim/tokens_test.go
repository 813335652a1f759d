package scim

import (
	"crypto/sha256"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// TestTheTokenCacheKeepsADigestOnly: a token Secret enters the token cache as its identity, the
// labels and annotation Tokens reads, and the SHA-256 of its trimmed token; a Secret of the
// operator's (a Passcode's, a copy) or a token out of bounds leaves no digest. Whatever its size, a
// Secret costs the same few hundred bytes.
func TestTheTokenCacheKeepsADigestOnly(t *testing.T) {
	const token = "idp-token-0123456789"
	secret := func(labels, annotations map[string]string, value string) *corev1.Secret {
		l := map[string]string{accessv1alpha1.SCIMTokenLabel: "true", "team": "a"}
		for k, v := range labels {
			l[k] = v
		}
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "scim", UID: "u", ResourceVersion: "3", Labels: l,
				Annotations: annotations},
			Data: map[string][]byte{accessv1alpha1.SCIMTokenKey: []byte(value), "other": make([]byte, 900<<10), digestKey: make([]byte, 32)},
		}
	}
	digestOf := func(s *corev1.Secret) []byte {
		t.Helper()
		out, err := TrimTokenSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		got := out.(*corev1.Secret)
		if got.Data != nil || len(got.StringData) > 1 || got.Labels["team"] != "" || got.Name != "scim" || got.UID != "u" ||
			got.ResourceVersion != "3" || got.Labels[accessv1alpha1.SCIMTokenLabel] != "true" {
			t.Errorf("the cache keeps too much or too little: %+v, %d data keys", got.ObjectMeta, len(got.Data))
		}
		// client-go may transform an object twice (a streamed list, then Replace): nothing changes.
		again, err := TrimTokenSecret(got.DeepCopy())
		if err != nil || !equality.Semantic.DeepEqual(again, got) {
			t.Errorf("a second pass changed the object: %v", err)
		}
		if d := got.StringData[digestKey]; d != "" {
			return []byte(d)
		}
		return nil
	}
	want := sha256.Sum256([]byte(token))
	if got := digestOf(secret(nil, nil, " "+token+"\n")); string(got) != string(want[:]) {
		t.Errorf("the digest of the trimmed token: %x", got)
	}
	if got := digestOf(secret(map[string]string{accessv1alpha1.ManagedByLabel: "Helm"}, nil, token)); string(got) != string(want[:]) {
		t.Errorf("a Secret another tool manages is a token: %x", got)
	}
	for name, s := range map[string]*corev1.Secret{
		"the operator's":           secret(map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}, nil, token),
		"a copy":                   secret(nil, map[string]string{passcodesecret.CopyOfAnnotation: "src/jane-api"}, token),
		"a copy, annotation empty": secret(nil, map[string]string{passcodesecret.CopyOfAnnotation: ""}, token),
		"too short":                secret(nil, nil, token[:MinTokenLength-1]),
		"too long":                 secret(nil, nil, strings.Repeat("t", MaxTokenLength+1)),
		"900 KB":                   secret(nil, nil, strings.Repeat("t", 900<<10)),
	} {
		if got := digestOf(s); got != nil {
			t.Errorf("%s: a digest was kept", name)
		}
	}
}
