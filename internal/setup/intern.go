package setup

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// intern is s's canonical copy. The decoder allocates every string of every object it reads, so
// each cached object held its own copy of the same namespace, label and annotation keys, owner
// kind, condition types and reasons, phases and data keys: one shared copy each instead (strings
// cannot change, so sharing them changes nothing anyone reads). Only values that many objects
// repeat are interned: a unique value (a name, a UID, a hash) would cost an entry more.
//
// A map of our own rather than package unique: unique's copies live only while a Handle does, so
// objects decoded after a collection would get new copies. Anyone who may label or annotate an
// object can make new keys: the map is bounded (maxInterned), and a string beyond it is kept as is.
func intern(s string) string {
	if s == "" {
		return s
	}
	interned.mu.Lock()
	defer interned.mu.Unlock()
	if v, ok := interned.m[s]; ok {
		return v
	}
	if len(interned.m) < maxInterned {
		interned.m[s] = s
	}
	return s
}

// maxInterned bounds the strings intern keeps: the operator's objects repeat a few dozen.
const maxInterned = 4096

var interned = struct {
	mu sync.Mutex
	m  map[string]string
}{m: map[string]string{}}

// internKeys returns m with its keys interned.
func internKeys[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[intern(k)] = v
	}
	return out
}

var (
	sharedTrue, sharedFalse = true, false
	// sharedLabelValues are the label values many cached objects repeat (the rest name one object).
	sharedLabelValues = map[string]bool{accessv1alpha1.ManagedByLabel: true}
)

// sharedBool is a shared *bool of *b's value (owner references hold two each).
func sharedBool(b *bool) *bool {
	switch {
	case b == nil:
		return nil
	case *b:
		return &sharedTrue
	default:
		return &sharedFalse
	}
}

// internStrings replaces the repeated strings of a cached object by their shared copies (intern).
func internStrings(obj client.Object) {
	obj.SetNamespace(intern(obj.GetNamespace()))
	if l := obj.GetLabels(); len(l) > 0 {
		out := make(map[string]string, len(l))
		for k, v := range l {
			if sharedLabelValues[k] {
				v = intern(v)
			}
			out[intern(k)] = v
		}
		obj.SetLabels(out)
	}
	obj.SetAnnotations(internKeys(obj.GetAnnotations()))
	if f := obj.GetFinalizers(); len(f) > 0 {
		for i := range f {
			f[i] = intern(f[i])
		}
	}
	if refs := obj.GetOwnerReferences(); len(refs) > 0 {
		for i := range refs {
			r := &refs[i]
			r.APIVersion, r.Kind = intern(r.APIVersion), intern(r.Kind)
			r.Controller, r.BlockOwnerDeletion = sharedBool(r.Controller), sharedBool(r.BlockOwnerDeletion)
		}
	}
	switch o := obj.(type) {
	case *accessv1alpha1.Passcode:
		o.Spec.Tenure = intern(o.Spec.Tenure)
		o.Status.Phase = accessv1alpha1.PasscodePhase(intern(string(o.Status.Phase)))
		internConditions(o.Status.Conditions)
	case *accessv1alpha1.DashboardUser:
		o.Spec.Role = accessv1alpha1.Role(intern(string(o.Spec.Role)))
		o.Spec.Access = accessv1alpha1.Access(intern(string(o.Spec.Access)))
		o.Status.Phase = accessv1alpha1.UserPhase(intern(string(o.Status.Phase)))
		o.Status.ObservedRole = accessv1alpha1.Role(intern(string(o.Status.ObservedRole)))
		o.Status.PasscodeStatus = accessv1alpha1.PasscodeSummary(intern(string(o.Status.PasscodeStatus)))
		internConditions(o.Status.Conditions)
	case *corev1.Secret:
		o.Type = corev1.SecretType(intern(string(o.Type)))
		o.Data = internKeys(o.Data)
	}
}

// internConditions interns what conditions repeat: their type, status and reason (a message may
// name the object: left as it is).
func internConditions(cs []metav1.Condition) {
	for i := range cs {
		c := &cs[i]
		c.Type, c.Reason = intern(c.Type), intern(c.Reason)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
	}
}
