// Package passcodesecret is the one place that writes the operator's Secrets (the Secrets holding
// passcodes, and each project's invite key) and that reads the passcode Secrets' format. It applies
// them with server-side apply under one field manager, so the operator owns exactly the keys,
// labels, annotations and owner reference it sets, and whatever else people or other tools add to
// the Secret is left alone.
package passcodesecret

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// FieldManager owns the operator's fields of every Secret it writes.
const FieldManager = "access-operator"

// RevisionAnnotation on the Secret is the Passcode's status.revision of the passcode it holds.
const RevisionAnnotation = "access.dashboardops.io/revision"

// Keys of the Secret's data.
const (
	KeyPasscode  = "passcode"
	KeyEmail     = "email"
	KeyAccount   = "account"
	KeyExpiresAt = "expiresAt"
)

// Name is the Secret of a Passcode: spec.secretName, else the Passcode's name. Every other place
// asks this function.
func Name(pc *accessv1alpha1.Passcode) string {
	if pc.Spec.SecretName != "" {
		return pc.Spec.SecretName
	}
	return pc.Name
}

// Contents is what the Secret should hold.
type Contents struct {
	// Passcode is the passcode; empty writes the Secret without it (expired or revoked).
	Passcode  string
	Email     string
	ExpiresAt time.Time
	Revision  int64
}

// maxLabelValue is the longest label value the API server accepts.
const maxLabelValue = 63

// PasscodeLabelValue is the value of the PasscodeLabel for a Passcode named name: the name itself
// when it fits a label value (63 characters), else its first 54 characters, "-" and 8 hex digits of
// its SHA-256, so that a long name never makes the Secret unwritable and two long names never share
// a value by accident.
func PasscodeLabelValue(name string) string {
	if len(name) <= maxLabelValue {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	prefix := strings.TrimRight(name[:maxLabelValue-9], "-.")
	return prefix + "-" + hex.EncodeToString(sum[:])[:8]
}

// ownedKeyPrefix starts every label and annotation key of the operator's own.
const ownedKeyPrefix = "access.dashboardops.io/"

// OperatorKey reports whether a label or annotation key is the operator's, which no secretTemplate
// may set (the CRD refuses them, case ignored): keys under access.dashboardops.io/ (one of them,
// SCIMTokenLabel, would make the Secret a SCIM token; others mark copies and owners) and
// ManagedByLabel. Labels and Annotations skip them too, for Passcodes stored before the CRD refused
// them.
func OperatorKey(k string) bool {
	k = strings.ToLower(k)
	return strings.HasPrefix(k, ownedKeyPrefix) || k == accessv1alpha1.ManagedByLabel
}

// Labels are the labels the operator puts on the Secret: the Passcode's secretTemplate plus ours.
func Labels(pc *accessv1alpha1.Passcode) map[string]string {
	out := map[string]string{}
	if pc.Spec.SecretTemplate != nil {
		for k, v := range pc.Spec.SecretTemplate.Labels {
			if !OperatorKey(k) {
				out[k] = string(v)
			}
		}
	}
	out[accessv1alpha1.ManagedByLabel] = accessv1alpha1.ManagedByValue
	out[accessv1alpha1.PasscodeLabel] = PasscodeLabelValue(pc.Name)
	return out
}

// Annotations are the annotations the operator puts on the Secret.
func Annotations(pc *accessv1alpha1.Passcode, revision int64) map[string]string {
	out := map[string]string{}
	if pc.Spec.SecretTemplate != nil {
		for k, v := range pc.Spec.SecretTemplate.Annotations {
			if !OperatorKey(k) {
				out[k] = v
			}
		}
	}
	out[RevisionAnnotation] = strconv.FormatInt(revision, 10)
	return out
}

// Data is the Secret's data for c: the four keys, and the spec.secretTemplate.data keys rendered
// from c. An error (a template failing with the passcode's values) names the key, never the value.
func Data(pc *accessv1alpha1.Passcode, c Contents) (map[string][]byte, error) {
	data, err := templated(pc, c)
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = make(map[string][]byte, 4)
	}
	data[KeyEmail] = []byte(c.Email)
	data[KeyAccount] = []byte(pc.Namespace)
	if !c.ExpiresAt.IsZero() {
		data[KeyExpiresAt] = []byte(c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if c.Passcode != "" {
		data[KeyPasscode] = []byte(c.Passcode)
	}
	return data, nil
}

// ErrNotOurs is returned when a Secret of the Passcode's Secret name exists and belongs to someone
// else: it is never written.
var ErrNotOurs = errors.New("a Secret of that name exists and is not managed by this Passcode")

// Create writes the Secret of pc with contents c when a live list at resourceVersion absentAt found
// none: one server-side apply that carries absentAt as its precondition. The API server creates the
// Secret only while nothing of that name exists; a Secret made since (by anyone) has a newer
// resourceVersion and the apply conflicts, so another's Secret is never taken over and the operator
// still owns every field it writes through Apply (later applies can remove them). One write, where
// a plain create followed by an apply took two.
func Create(ctx context.Context, cl client.Client, reader client.Reader, pc *accessv1alpha1.Passcode, c Contents, absentAt string) error {
	ac, err := applyConfig(pc, c)
	if err != nil {
		return err
	}
	err = cl.Apply(ctx, ac.WithResourceVersion(absentAt), client.FieldOwner(FieldManager), client.ForceOwnership)
	if err == nil {
		return nil
	}
	if !apierrors.IsConflict(err) {
		return fmt.Errorf("creating Secret %s: %w", Name(pc), err)
	}
	existing := &corev1.Secret{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: pc.Namespace, Name: Name(pc)}, existing); err != nil {
		return fmt.Errorf("reading Secret %s: %w", Name(pc), err)
	}
	if !OwnedBy(existing, pc) {
		return ErrNotOurs
	}
	// Ours (an earlier attempt made it): the next reconcile reads it and finishes from there.
	return fmt.Errorf("creating Secret %s: it was written meanwhile: %w", Name(pc), err)
}

// Apply writes the Secret of pc with contents c. Fields the operator set before and no longer
// sends (the passcode after expiry, a label removed from secretTemplate) are removed by the API
// server; fields of other managers stay.
func Apply(ctx context.Context, cl client.Client, pc *accessv1alpha1.Passcode, c Contents) error {
	ac, err := applyConfig(pc, c)
	if err != nil {
		return err
	}
	if err := cl.Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying Secret %s: %w", Name(pc), err)
	}
	return nil
}

// applyConfig is everything the operator owns in the Secret of pc holding c.
func applyConfig(pc *accessv1alpha1.Passcode, c Contents) (*corev1ac.SecretApplyConfiguration, error) {
	data, err := Data(pc, c)
	if err != nil {
		return nil, err
	}
	return corev1ac.Secret(Name(pc), pc.Namespace).
		WithType(SecretType(pc)).
		WithLabels(Labels(pc)).
		WithAnnotations(Annotations(pc, c.Revision)).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(accessv1alpha1.GroupVersion.String()).
			WithKind("Passcode").
			WithName(pc.Name).
			WithUID(pc.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)).
		WithData(data), nil
}

// differs reports whether s differs from what Apply would write for pc and c in anything the
// operator owns: type, labels, annotations, owner reference, data (a template that cannot be
// rendered counts as a difference: the write reports it).
func differs(s *corev1.Secret, pc *accessv1alpha1.Passcode, c Contents) bool {
	if got := s.Type; got != SecretType(pc) && (got != "" || SecretType(pc) != corev1.SecretTypeOpaque) {
		return true // an empty type is Opaque (what the API server stores)
	}
	for k, v := range Labels(pc) {
		if s.Labels[k] != v {
			return true
		}
	}
	for k, v := range Annotations(pc, c.Revision) {
		if s.Annotations[k] != v {
			return true
		}
	}
	if ref := metav1.GetControllerOf(s); ref == nil || ref.UID != pc.UID {
		return true
	}
	want, err := Data(pc, c)
	if err != nil {
		return true
	}
	for k, v := range want {
		if string(s.Data[k]) != string(v) {
			return true
		}
	}
	_, has := s.Data[KeyPasscode]
	return has != (c.Passcode != "")
}
