package scim

import (
	"bytes"
	"context"
	"crypto/sha256"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// MaxTokenLength is the longest token accepted (bytes, surrounding white space trimmed): a longer
// one in a Secret never matches. Bearer tokens of identity providers are far shorter.
const MaxTokenLength = 4096

// Digest is the SHA-256 of a token: all the token cache keeps of a token Secret, and all that
// requests are compared with.
type Digest = [sha256.Size]byte

// digestKey is where a Secret in the token cache (TrimTokenSecret) keeps the Digest of its token:
// in stringData, a field the API server never returns, so nothing read from it can pass for a
// digest, and an object already trimmed is recognised (client-go may hand a transform the objects
// it already transformed: a streamed list is transformed as it arrives, then again on Replace).
const digestKey = "token.sha256"

// SecretTokens reads an account's tokens from the Secrets of its namespace labelled
// SCIMTokenLabel=true, once the namespace is annotated SCIMEnabledAnnotation=true. Reader is a
// cache that holds only those Secrets, each reduced by TrimTokenSecret (setup builds it), so a
// rotated token (an edited Secret) takes effect as soon as the informer sees the edit; Namespaces
// reads namespaces' metadata (the manager's cache).
type SecretTokens struct {
	Reader     client.Reader
	Namespaces client.Reader
}

// Tokens are the digests of the account's labelled Secrets' tokens, or none while the account's
// namespace has not turned SCIM on. A Secret the operator wrote (a Passcode's, or a copy) is never a
// token, whatever its labels: a Passcode's author chose its data.
func (s SecretTokens) Tokens(ctx context.Context, account string) ([]Digest, error) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := s.Namespaces.Get(ctx, client.ObjectKey{Name: account}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if ns.Annotations[accessv1alpha1.SCIMEnabledAnnotation] != trueString {
		return nil, nil
	}
	var list corev1.SecretList
	if err := s.Reader.List(ctx, &list, client.InNamespace(account),
		client.MatchingLabels{accessv1alpha1.SCIMTokenLabel: trueString}); err != nil {
		return nil, err
	}
	out := make([]Digest, 0, len(list.Items))
	for _, sec := range list.Items {
		if passcodesecret.WrittenByOperator(&sec) {
			continue
		}
		if d := sec.StringData[digestKey]; len(d) == sha256.Size {
			out = append(out, Digest([]byte(d)))
		}
	}
	return out, nil
}

// tokenOf is the token a Secret holds: its token key with surrounding white space trimmed (a file
// made with echo ends in a newline the IdP's copy does not have). ok is false for a Secret of the
// operator's (WrittenByOperator) and a token shorter than MinTokenLength or longer than
// MaxTokenLength.
func tokenOf(s *corev1.Secret) ([]byte, bool) {
	t := bytes.TrimSpace(s.Data[accessv1alpha1.SCIMTokenKey])
	if passcodesecret.WrittenByOperator(s) || len(t) < MinTokenLength || len(t) > MaxTokenLength {
		return nil, false
	}
	return t, true
}

// TrimTokenSecret is the token cache's transform (setup.SCIMTokenCacheOptions): a Secret enters
// the cache as its name, the two labels and the annotation Tokens reads, and the Digest of its
// token (none when tokenOf refuses it). Anyone who may create a Secret can label it as a token, in
// any namespace, SCIM on or not: each then costs a few hundred bytes on every replica, whatever its
// size. Nothing else is cached, so turning SCIM on later needs nothing more than this.
func TrimTokenSecret(in any) (any, error) {
	s, ok := in.(*corev1.Secret)
	if !ok || s.StringData != nil {
		return in, nil // trimmed already (a Secret from the API server has no stringData)
	}
	out := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: s.Namespace, Name: s.Name, UID: s.UID, ResourceVersion: s.ResourceVersion,
		DeletionTimestamp: s.DeletionTimestamp,
	}}
	out.TypeMeta = s.TypeMeta
	for _, k := range []string{accessv1alpha1.SCIMTokenLabel, accessv1alpha1.ManagedByLabel} {
		if v, ok := s.Labels[k]; ok {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v // label values are at most 63 bytes
		}
	}
	if _, ok := s.Annotations[passcodesecret.CopyOfAnnotation]; ok {
		out.Annotations = map[string]string{passcodesecret.CopyOfAnnotation: ""} // its presence is what counts
	}
	if t, ok := tokenOf(s); ok {
		d := sha256.Sum256(t)
		out.StringData = map[string]string{digestKey: string(d[:])}
	}
	return out, nil
}
