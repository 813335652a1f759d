package scim

import (
	"bytes"
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// SecretTokens reads an account's tokens from the Secrets of its namespace labelled
// SCIMTokenLabel=true, once the namespace is annotated SCIMEnabledAnnotation=true. Reader is a
// cache that holds only those Secrets (setup builds it), so a rotated token (an edited Secret) takes
// effect as soon as the informer sees the edit; Namespaces reads namespaces' metadata (the
// manager's cache).
type SecretTokens struct {
	Reader     client.Reader
	Namespaces client.Reader
}

// Tokens are the non-empty token keys (surrounding white space trimmed) of the account's labelled
// Secrets, or none while the account's namespace has not turned SCIM on.
func (s SecretTokens) Tokens(ctx context.Context, account string) ([][]byte, error) {
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
	out := make([][]byte, 0, len(list.Items))
	for _, sec := range list.Items {
		// A file made with echo ends in a newline the IdP's copy does not have.
		if t := bytes.TrimSpace(sec.Data[accessv1alpha1.SCIMTokenKey]); len(t) > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}
