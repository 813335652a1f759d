package admission

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func passcode(ns, name string, mods ...func(*accessv1alpha1.Passcode)) *accessv1alpha1.Passcode {
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "30d"}}
	for _, m := range mods {
		m(pc)
	}
	return pc
}

func importing(secret string) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) {
		pc.Spec.Import = &accessv1alpha1.PasscodeImport{SecretRef: accessv1alpha1.LocalSecretReference{Name: secret}}
	}
}

func copyingTo(ns string) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) {
		pc.Spec.SecretCopies = append(pc.Spec.SecretCopies, accessv1alpha1.SecretCopy{Namespace: ns})
	}
}

func restarting(kind, name string) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) {
		pc.Spec.RolloutRestartTargets = append(pc.Spec.RolloutRestartTargets, accessv1alpha1.RolloutRestartTarget{Kind: kind, Name: name})
	}
}

// Confused deputy (issue 22 item 3): whoever may edit Passcodes but not read Secrets or patch
// workloads cannot have the operator do it for them.
func TestDelegatedFieldsNeedTheRightsThemselves(t *testing.T) {
	ns := newNamespace(t, "deputy")
	for _, name := range []string{"legacy-key", "other-key"} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"passcode": []byte("Legacy_key-0123456789abcdef")}}
		if err := admin.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// alice edits Passcodes only; bob may also read Secrets and patch workloads; carol may read one
	// Secret and patch one Deployment (resourceNames).
	grant(t, ns, "alice", editPasscodes)
	grant(t, ns, "bob", editPasscodes,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: []string{"patch"}})
	grant(t, ns, "carol", editPasscodes,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{"legacy-key"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"patch"}, ResourceNames: []string{"api"}})
	alice, bob, carol := as("alice"), as("bob"), as("carol")

	t.Run("import needs get on the Secret", func(t *testing.T) {
		refused(t, alice.Create(ctx, passcode(ns, "a-import", importing("legacy-key"))),
			"spec.import.secretRef: importing the passcode of Secret legacy-key needs get on that Secret, which alice may not do in namespace "+ns)
		refused(t, carol.Create(ctx, passcode(ns, "c-import-other", importing("other-key"))),
			"spec.import.secretRef: importing the passcode of Secret other-key needs get on that Secret, which carol may not do in namespace "+ns)
		accepted(t, carol.Create(ctx, passcode(ns, "c-import", importing("legacy-key"))), "carol imports the Secret she may read")
		accepted(t, bob.Create(ctx, passcode(ns, "b-import", importing("other-key"))), "bob imports")
	})

	t.Run("copies need get on Secrets in the namespace", func(t *testing.T) {
		want := "spec.secretCopies: a copy discloses the passcode, so adding one needs get on Secrets in namespace " + ns + ", which alice may not do"
		refused(t, alice.Create(ctx, passcode(ns, "a-copies", copyingTo("elsewhere"))), want)
		// carol may get one Secret by name, not the Secrets of the namespace.
		refused(t, carol.Create(ctx, passcode(ns, "c-copies", copyingTo("elsewhere"))), "which carol may not do")
		accepted(t, bob.Create(ctx, passcode(ns, "b-copies", copyingTo("elsewhere"))), "bob adds a copy")
		// alice adds a copy to a Passcode bob made: refused; leaving the copies as they are: accepted.
		pc := &accessv1alpha1.Passcode{}
		if err := alice.Get(ctx, client.ObjectKey{Namespace: ns, Name: "b-copies"}, pc); err != nil {
			t.Fatal(err)
		}
		more := pc.DeepCopy()
		copyingTo("another")(more)
		refused(t, alice.Update(ctx, more), want)
		pc.Spec.Tenure = "10d"
		pc.Labels = map[string]string{"team": "a"}
		accepted(t, alice.Update(ctx, pc), "alice edits the tenure and labels of a Passcode with copies")
		pc.Spec.SecretCopies = nil
		accepted(t, alice.Update(ctx, pc), "alice removes the copies (nothing is disclosed)")
	})

	t.Run("restart targets need patch on each workload", func(t *testing.T) {
		refused(t, alice.Create(ctx, passcode(ns, "a-restart", restarting("Deployment", "api"), restarting("StatefulSet", "db"))),
			"spec.rolloutRestartTargets[0]: restarting Deployment api needs patch on deployments (apps) api, which alice may not do in namespace "+ns)
		refused(t, carol.Create(ctx, passcode(ns, "c-restart", restarting("Deployment", "api"), restarting("Deployment", "web"))),
			"spec.rolloutRestartTargets[1]: restarting Deployment web needs patch on deployments (apps) web, which carol may not do in namespace "+ns)
		refused(t, carol.Create(ctx, passcode(ns, "c-restart-ds", restarting("DaemonSet", "api"))),
			"spec.rolloutRestartTargets[0]: restarting DaemonSet api needs patch on daemonsets (apps) api, which carol may not do")
		accepted(t, carol.Create(ctx, passcode(ns, "c-restart", restarting("Deployment", "api"))), "carol restarts the Deployment she may patch")
		// Every index is checked, up to MaxItems (16): the last one alone is refused.
		full := passcode(ns, "b-full")
		for i := range 15 {
			restarting("Deployment", fmt.Sprintf("api-%d", i))(full)
		}
		restarting("Deployment", "api")(full)
		accepted(t, bob.Create(ctx, full), "bob sets 16 targets")
		// carol edits bob's Passcode: leaving its targets alone or removing one passes; adding one she
		// may not patch is refused at its index, the last one.
		pc := &accessv1alpha1.Passcode{}
		if err := carol.Get(ctx, client.ObjectKey{Namespace: ns, Name: "b-full"}, pc); err != nil {
			t.Fatal(err)
		}
		pc.Spec.Tenure = "10d"
		accepted(t, carol.Update(ctx, pc), "carol edits a Passcode whose targets she may not patch, leaving them alone")
		pc.Spec.RolloutRestartTargets = pc.Spec.RolloutRestartTargets[:15]
		accepted(t, carol.Update(ctx, pc), "carol removes a target")
		pc.Spec.RolloutRestartTargets = append(pc.Spec.RolloutRestartTargets, accessv1alpha1.RolloutRestartTarget{Kind: "StatefulSet", Name: "db"})
		refused(t, carol.Update(ctx, pc),
			"spec.rolloutRestartTargets[15]: restarting StatefulSet db needs patch on statefulsets (apps) db, which carol may not do")
	})

	t.Run("the operator's own kind of writes are not caught", func(t *testing.T) {
		// dave may patch Passcodes and their status, nothing about Secrets or workloads: what the
		// operator writes on a Passcode (finalizers, owner references, status) passes for him too.
		grant(t, ns, "dave", rbacv1.PolicyRule{APIGroups: []string{"access.dashboardops.io"},
			Resources: []string{"passcodes", "passcodes/status"}, Verbs: []string{"get", "patch", "update"}})
		dave := as("dave")
		pc := &accessv1alpha1.Passcode{}
		if err := dave.Get(ctx, client.ObjectKey{Namespace: ns, Name: "b-full"}, pc); err != nil {
			t.Fatal(err)
		}
		before := pc.DeepCopy()
		pc.Finalizers = append(pc.Finalizers, "access.dashboardops.io/secret-copies")
		pc.OwnerReferences = []metav1.OwnerReference{{APIVersion: "access.dashboardops.io/v1alpha1", Kind: "DashboardUser", Name: "jane", UID: "1234"}}
		accepted(t, dave.Patch(ctx, pc, client.MergeFrom(before)), "finalizer and owner reference")
		before = pc.DeepCopy()
		pc.Status.Phase = accessv1alpha1.PasscodePending
		accepted(t, dave.Status().Patch(ctx, pc, client.MergeFrom(before)), "status")
		before = pc.DeepCopy()
		pc.Finalizers = nil
		accepted(t, dave.Patch(ctx, pc, client.MergeFrom(before)), "finalizer removed")
	})
}
