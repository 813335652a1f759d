package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// copiesStayInsideWatchNamespaces runs in TestWatchNamespacesLimitsTheManager's manager (one
// manager per process: controller names are unique), started with copy-a and copy-c among its
// --watch-namespaces: a copy into copy-c (consenting) is written, and one into copy-b (outside the
// watched set, consenting too) is refused with a condition saying so, never attempted.
func copiesStayInsideWatchNamespaces(t *testing.T, op *testenv.Operator) {
	ctx := context.Background()
	for _, ns := range []string{"copy-a", "copy-b", "copy-c"} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Annotations: map[string]string{accessv1alpha1.AcceptPasscodesFromAnnotation: "*"}}}
		if err := op.Client.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := op.CreateUser(ctx, "copy-a", "jane"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.CreatePasscode(ctx, "copy-a", "jane-api", "jane", "1h", func(pc *accessv1alpha1.Passcode) {
		pc.Spec.SecretCopies = []accessv1alpha1.SecretCopy{{Namespace: "copy-b"}, {Namespace: "copy-c"}}
	}); err != nil {
		t.Fatal(err)
	}
	var msg string
	deadline := time.Now().Add(20 * time.Second)
	for {
		pc := &accessv1alpha1.Passcode{}
		if err := op.Client.Get(ctx, types.NamespacedName{Namespace: "copy-a", Name: "jane-api"}, pc); err != nil {
			t.Fatal(err)
		}
		if c := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies); c != nil {
			msg = c.Message
		}
		copied := op.Client.Get(ctx, types.NamespacedName{Namespace: "copy-c", Name: "jane-api"}, &corev1.Secret{}) == nil
		if copied && strings.Contains(msg, `namespace "copy-b" is outside the manager's --watch-namespaces`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("copy in copy-c: %v; SecretCopies message: %q", copied, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := op.Client.Get(ctx, types.NamespacedName{Namespace: "copy-b", Name: "jane-api"}, &corev1.Secret{}); err == nil {
		t.Fatal("a copy was written outside --watch-namespaces")
	}
}
