package admission

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/consumers"
)

// workloads creates a Deployment api, a StatefulSet db and a DaemonSet agent in ns.
func workloads(t *testing.T, ns string) []client.Object {
	t.Helper()
	labels := map[string]string{"app": "x"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"team": "a"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}}}}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	objs := []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"}, Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent"}, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}},
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	return objs
}

func mergePatch(patch string) client.Patch {
	return client.RawPatch(types.MergePatchType, []byte(patch))
}

// Blast radius (issue 22 item 5): impersonating the shipped ServiceAccount, a Secret it did not
// make cannot be deleted nor changed, and a workload's image cannot be changed; what the operator
// writes still passes.
func TestManagerServiceAccountWritesOnlyWhatTheOperatorWrites(t *testing.T) {
	ns := newNamespace(t, "blast")
	sa := as(managerSA)
	notOurs := "the access operator may change or delete only Secrets labelled app.kubernetes.io/managed-by=access-operator: Secret " + ns + "/db-password is not"

	t.Run("Secrets it did not make", func(t *testing.T) {
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-password"}, Data: map[string][]byte{"password": []byte("s3cret")}}
		if err := admin.Create(ctx, foreign); err != nil {
			t.Fatal(err)
		}
		refused(t, sa.Delete(ctx, foreign.DeepCopy()), notOurs)
		refused(t, sa.Patch(ctx, foreign.DeepCopy(), mergePatch(`{"data":{"password":"b3duZWQ="}}`)), notOurs)
		refused(t, sa.Patch(ctx, foreign.DeepCopy(), mergePatch(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"access-operator"}}}`)), notOurs)
		after := &corev1.Secret{}
		if err := admin.Get(ctx, client.ObjectKeyFromObject(foreign), after); err != nil || after.ResourceVersion != foreign.ResourceVersion {
			t.Errorf("the Secret must be untouched: %v", err)
		}
		refused(t, sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unlabelled"}}),
			"the access operator writes only Secrets labelled app.kubernetes.io/managed-by=access-operator: Secret "+ns+"/unlabelled would not be")
	})

	t.Run("Secrets it labels as its own", func(t *testing.T) {
		ours := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ours",
			Labels: map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}}}
		accepted(t, sa.Create(ctx, ours), "create a labelled Secret")
		accepted(t, sa.Patch(ctx, ours.DeepCopy(), mergePatch(`{"data":{"passcode":"eA=="}}`)), "patch it")
		refused(t, sa.Patch(ctx, ours.DeepCopy(), mergePatch(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":null}}}`)),
			"Secret "+ns+"/ours would not be")
		accepted(t, sa.Delete(ctx, ours), "delete it")
		// A labelled Secret of a type the cluster fills with credentials: a token of any ServiceAccount
		// (the token controller writes it, and the manager may read it), or a bootstrap token.
		for _, typ := range []corev1.SecretType{corev1.SecretTypeServiceAccountToken, corev1.SecretTypeBootstrapToken} {
			s := ours.DeepCopy()
			s.ResourceVersion, s.Name, s.Type = "", "credential", typ
			s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
			refused(t, sa.Create(ctx, s), "the access operator never writes Secrets of type "+string(typ))
		}
	})

	t.Run("workloads", func(t *testing.T) {
		objs := workloads(t, ns)
		only := func(kind, name string) string {
			return "the access operator may change only the pod template annotation access.dashboardops.io/restarted-at of " + kind + " " + ns + "/" + name +
				", nothing else of its spec or metadata"
		}
		// What consumers.Restart sends, as the operator sends it, for each kind.
		out, err := consumers.Restart(ctx, sa, ns, []accessv1alpha1.RolloutRestartTarget{
			{Kind: "Deployment", Name: "api"}, {Kind: "StatefulSet", Name: "db"}, {Kind: "DaemonSet", Name: "agent"}, {Kind: "Deployment", Name: "gone"}},
			consumers.Value(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), 2))
		accepted(t, err, "the restart annotation")
		if len(out.Restarted) != 3 || len(out.Missing) != 1 {
			t.Errorf("restarted %v, missing %v", out.Restarted, out.Missing)
		}
		d := &appsv1.Deployment{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "api"}, d); err != nil ||
			d.Spec.Template.Annotations[accessv1alpha1.RestartedAtAnnotation] == "" || d.Spec.Template.Annotations["team"] != "a" {
			t.Errorf("the Deployment was not restarted as asked: %v %v", err, d.Spec.Template.Annotations)
		}

		api := objs[0]
		for what, patch := range map[string]string{
			"image":                `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"evil.example.com/miner:1"}]}}}}`,
			"service account":      `{"spec":{"template":{"spec":{"serviceAccountName":"admin"}}}}`,
			"replicas":             `{"spec":{"replicas":0}}`,
			"paused":               `{"spec":{"paused":true}}`,
			"pod label":            `{"spec":{"template":{"metadata":{"labels":{"extra":"1"}}}}}`,
			"other pod annotation": `{"spec":{"template":{"metadata":{"annotations":{"team":"b"}}}}}`,
			"label":                `{"metadata":{"labels":{"x":"1"}}}`,
			"annotation":           `{"metadata":{"annotations":{"x":"1"}}}`,
			"finalizer":            `{"metadata":{"finalizers":["example.com/block"]}}`,
			"owner":                `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"0d5a6bde-0000-4000-8000-000000000000"}]}}`,
		} {
			t.Run(what, func(t *testing.T) {
				refused(t, sa.Patch(ctx, api.DeepCopyObject().(client.Object), mergePatch(patch)), only("deployments", "api"))
			})
		}
		refused(t, sa.Patch(ctx, objs[1].DeepCopyObject().(client.Object),
			mergePatch(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"evil.example.com/miner:1"}]}}}}`)), only("statefulsets", "db"))
		refused(t, sa.Patch(ctx, objs[2].DeepCopyObject().(client.Object),
			mergePatch(`{"spec":{"template":{"spec":{"hostNetwork":true}}}}`)), only("daemonsets", "agent"))

		// No create (a workload running any image as any ServiceAccount), no delete.
		err = sa.Delete(ctx, api.DeepCopyObject().(client.Object))
		if !apierrors.IsForbidden(err) {
			t.Errorf("deleting a Deployment: want Forbidden, got %v", err)
		}
		mine, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "miner"}, Spec: *d.Spec.DeepCopy()})
		if err != nil {
			t.Fatal(err)
		}
		err = sa.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: mine}), client.FieldOwner("x"))
		if !apierrors.IsForbidden(err) {
			t.Errorf("creating a Deployment by server-side apply: want Forbidden, got %v", err)
		}
	})
}
