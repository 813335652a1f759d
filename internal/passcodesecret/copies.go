package passcodesecret

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// Copies of the Secret in other namespaces (spec.secretCopies). A copy cannot carry an owner
// reference to its Passcode (owner references never cross namespaces), so it is found by labels and
// recognised by an annotation naming its Passcode; the Passcode's finalizer deletes it.
const (
	// CopyOfNamespaceLabel on a copy is the namespace (account) of the Passcode it copies. With
	// ManagedByLabel and PasscodeLabel it selects a Passcode's copies in the label-filtered cache.
	CopyOfNamespaceLabel = "access.dashboardops.io/copy-of-namespace"
	// CopyOfAnnotation on a copy is "<namespace>/<name>" of its Passcode: the exact owner (the
	// PasscodeLabel may be a shortened name), and what makes a copy ours even when its labels were
	// removed.
	CopyOfAnnotation = "access.dashboardops.io/copy-of"
)

// Consents reports whether a namespace whose AcceptPasscodesFromAnnotation is annotation takes
// copies from the namespace from: the annotation lists from (comma-separated, spaces ignored, case
// ignored since namespace names are lower case) or holds "*" as one of its entries. No annotation,
// or an empty one, refuses everything; entries are names, never patterns.
func Consents(annotation, from string) bool {
	if from == "" {
		return false
	}
	for _, entry := range strings.Split(annotation, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "*" || (entry != "" && strings.EqualFold(entry, from)) {
			return true
		}
	}
	return false
}

// CopyTarget is where one copy lives.
type CopyTarget struct {
	Namespace, Name string
}

func (t CopyTarget) String() string { return t.Namespace + "/" + t.Name }

// CopyTargets are the copies spec.secretCopies asks for, an empty name meaning the primary's.
func CopyTargets(pc *accessv1alpha1.Passcode) []CopyTarget {
	out := make([]CopyTarget, 0, len(pc.Spec.SecretCopies))
	for _, c := range pc.Spec.SecretCopies {
		name := c.Name
		if name == "" {
			name = Name(pc)
		}
		out = append(out, CopyTarget{Namespace: c.Namespace, Name: name})
	}
	return out
}

// copyOf is the value of CopyOfAnnotation for pc's copies.
func copyOf(pc *accessv1alpha1.Passcode) string { return pc.Namespace + "/" + pc.Name }

// CopyLabels are the labels of pc's copies: the primary's plus CopyOfNamespaceLabel.
func CopyLabels(pc *accessv1alpha1.Passcode) map[string]string {
	out := Labels(pc)
	out[CopyOfNamespaceLabel] = pc.Namespace
	return out
}

// CopySelector selects pc's copies (and, because names are shortened in labels, possibly those of
// another Passcode of a very similar long name: CopyOwnedBy decides).
func CopySelector(pc *accessv1alpha1.Passcode) labels.Selector {
	return labels.SelectorFromSet(labels.Set{
		accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue,
		accessv1alpha1.PasscodeLabel:  PasscodeLabelValue(pc.Name),
		CopyOfNamespaceLabel:          pc.Namespace,
	})
}

// CopySource is the Passcode a copy belongs to, from its annotation; ok is false for any other
// Secret.
func CopySource(s client.Object) (namespace, name string, ok bool) {
	ns, n, found := strings.Cut(s.GetAnnotations()[CopyOfAnnotation], "/")
	return ns, n, found && ns != "" && n != ""
}

// WrittenByOperator reports whether s is a Secret of the operator's: labelled ManagedByLabel =
// ManagedByValue, or carrying CopyOfAnnotation (any value: a copy keeps it when its labels are
// removed). Its data comes from a Passcode, whose author may not hold any right on Secrets, so it
// is never taken for anyone's credential (a SCIM token).
func WrittenByOperator(s metav1.Object) bool {
	_, copied := s.GetAnnotations()[CopyOfAnnotation]
	return copied || s.GetLabels()[accessv1alpha1.ManagedByLabel] == accessv1alpha1.ManagedByValue
}

// CopyOwnedBy reports whether s is a copy written for pc. Anything else in the target namespace
// under that name belongs to someone else and is never written nor deleted.
func CopyOwnedBy(s *corev1.Secret, pc *accessv1alpha1.Passcode) bool {
	return s.Annotations[CopyOfAnnotation] == copyOf(pc)
}

// CopyInSync reports whether the copy s holds what ApplyCopy would write for pc and c.
func CopyInSync(s *corev1.Secret, pc *accessv1alpha1.Passcode, c Contents) bool {
	if got := s.Type; got != SecretType(pc) && (got != "" || SecretType(pc) != corev1.SecretTypeOpaque) {
		return false
	}
	for k, v := range CopyLabels(pc) {
		if s.Labels[k] != v {
			return false
		}
	}
	for k, v := range copyAnnotations(pc, c.Revision) {
		if s.Annotations[k] != v {
			return false
		}
	}
	want, err := Data(pc, c)
	if err != nil {
		return false
	}
	for k, v := range want {
		if string(s.Data[k]) != string(v) {
			return false
		}
	}
	_, has := s.Data[KeyPasscode]
	return has == (c.Passcode != "")
}

func copyAnnotations(pc *accessv1alpha1.Passcode, revision int64) map[string]string {
	out := Annotations(pc, revision)
	out[CopyOfAnnotation] = copyOf(pc)
	return out
}

// copyApplyConfig is everything the operator owns in a copy: what the primary holds, without the
// owner reference, plus the copy's label and annotation.
func copyApplyConfig(pc *accessv1alpha1.Passcode, t CopyTarget, c Contents) (*corev1ac.SecretApplyConfiguration, error) {
	data, err := Data(pc, c)
	if err != nil {
		return nil, err
	}
	return corev1ac.Secret(t.Name, t.Namespace).
		WithType(SecretType(pc)).
		WithLabels(CopyLabels(pc)).
		WithAnnotations(copyAnnotations(pc, c.Revision)).
		WithData(data), nil
}

// ApplyCopy writes pc's copy at t, which exists and is ours (CopyOwnedBy), with contents c.
func ApplyCopy(ctx context.Context, cl client.Client, pc *accessv1alpha1.Passcode, t CopyTarget, c Contents) error {
	ac, err := copyApplyConfig(pc, t, c)
	if err != nil {
		return err
	}
	if err := cl.Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying Secret copy %s: %w", t, err)
	}
	return nil
}

// CreateCopy writes pc's copy at t when a live list at resourceVersion absentAt found none: like
// Create, the apply carries absentAt, so a Secret someone made meanwhile makes it conflict and is
// never taken over (ErrNotOurs when it is someone else's).
func CreateCopy(ctx context.Context, cl client.Client, reader client.Reader, pc *accessv1alpha1.Passcode, t CopyTarget,
	c Contents, absentAt string) error {
	ac, err := copyApplyConfig(pc, t, c)
	if err != nil {
		return err
	}
	err = cl.Apply(ctx, ac.WithResourceVersion(absentAt), client.FieldOwner(FieldManager), client.ForceOwnership)
	if err == nil || !apierrors.IsConflict(err) {
		if err != nil {
			return fmt.Errorf("creating Secret copy %s: %w", t, err)
		}
		return nil
	}
	existing := &corev1.Secret{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, existing); err != nil {
		return fmt.Errorf("reading Secret copy %s: %w", t, err)
	}
	if !CopyOwnedBy(existing, pc) {
		return ErrNotOurs
	}
	return fmt.Errorf("creating Secret copy %s: it was written meanwhile: %w", t, err)
}

// DeleteCopy deletes the copy s (ours: CopyOwnedBy), only while it is the object that was read (a
// Secret someone created under that name since is another UID and stays).
func DeleteCopy(ctx context.Context, cl client.Client, s *corev1.Secret) error {
	err := cl.Delete(ctx, s, client.Preconditions{UID: &s.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Secret copy %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}
