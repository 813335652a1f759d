package chart

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// typed converts each rendered object into its Go type, refusing unknown fields, so a misspelt
// or misplaced field in a template fails here and not at install time. Kinds the client-go scheme
// does not know (CRDs, the Prometheus Operator's) are left to the install test and lint.
func typed(t *testing.T, objs []*unstructured.Unstructured) map[string]runtime.Object {
	t.Helper()
	out := map[string]runtime.Object{}
	for _, o := range objs {
		obj, err := clientgoscheme.Scheme.New(o.GroupVersionKind())
		if err != nil {
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, obj, true); err != nil {
			t.Errorf("%s is not a valid %s: %v", key(o), o.GetKind(), err)
		}
		out[key(o)] = obj
	}
	return out
}

func manager(t *testing.T, objs map[string]runtime.Object) *appsv1.Deployment {
	t.Helper()
	d, ok := objs["Deployment "+namespace+"/access-operator-controller-manager"].(*appsv1.Deployment)
	if !ok {
		t.Fatal("no manager Deployment rendered")
	}
	return d
}

// TestValuesMatrix renders the values people set and checks each lands where it should, in
// objects that decode strictly into their Kubernetes types.
func TestValuesMatrix(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	t.Run("image digest and pull policy", func(t *testing.T) {
		d := manager(t, typed(t, template(t, "image.digest="+digest, "image.tag=v9.9.9", "image.pullPolicy=Always")))
		c := d.Spec.Template.Spec.Containers[0]
		if want := "ghcr.io/dashboardops/access-operator@" + digest; c.Image != want {
			t.Errorf("image %q, want %q (a digest wins over the tag)", c.Image, want)
		}
		if c.ImagePullPolicy != "Always" {
			t.Errorf("imagePullPolicy %q", c.ImagePullPolicy)
		}
	})
	t.Run("image tag", func(t *testing.T) {
		d := manager(t, typed(t, template(t, "image.repository=registry.example.com/ops/access", "image.tag=v0.3.0")))
		if c := d.Spec.Template.Spec.Containers[0]; c.Image != "registry.example.com/ops/access:v0.3.0" {
			t.Errorf("image %q", c.Image)
		}
	})
	t.Run("replicas, resources, scheduling, no PDB", func(t *testing.T) {
		objs := typed(t, template(t, "replicas=3", "resources.limits.memory=512Mi",
			"nodeSelector.kubernetes\\.io/os=linux", "tolerations[0].key=dedicated", "tolerations[0].operator=Exists",
			"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight=100",
			"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey=kubernetes.io/hostname",
			"podDisruptionBudget.enabled=false"))
		d := manager(t, objs)
		spec := d.Spec.Template.Spec
		if *d.Spec.Replicas != 3 || spec.Containers[0].Resources.Limits.Memory().String() != "512Mi" {
			t.Errorf("replicas %d, resources %v", *d.Spec.Replicas, spec.Containers[0].Resources)
		}
		if spec.NodeSelector["kubernetes.io/os"] != "linux" || len(spec.Tolerations) != 1 || spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
			t.Errorf("scheduling not rendered: nodeSelector %v, tolerations %v, affinity %v", spec.NodeSelector, spec.Tolerations, spec.Affinity)
		}
		if _, ok := objs["PodDisruptionBudget "+namespace+"/access-operator-controller-manager"]; ok {
			t.Error("podDisruptionBudget.enabled=false still renders the PDB")
		}
	})
	t.Run("webhook notifier and its Secret", func(t *testing.T) {
		d := manager(t, typed(t, template(t, "notifier.type=webhook", "notifier.webhook.url=https://hooks.example.com/invites",
			"notifier.webhook.signature=x-dashboard", "notifier.existingSecret=invite-webhook")))
		spec := d.Spec.Template.Spec
		args := spec.Containers[0].Args
		for _, want := range []string{"--notifier=webhook", "--webhook-url=https://hooks.example.com/invites",
			"--webhook-secret-file=/etc/access-operator/notifier/webhook-secret", "--webhook-signature=x-dashboard"} {
			if !slices.Contains(args, want) {
				t.Errorf("args %v lack %s", args, want)
			}
		}
		if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--smtp-") }) {
			t.Errorf("webhook notifier with SMTP flags: %v", args)
		}
		if len(spec.Volumes) != 1 || spec.Volumes[0].Secret == nil || spec.Volumes[0].Secret.SecretName != "invite-webhook" ||
			len(spec.Containers[0].VolumeMounts) != 1 || !spec.Containers[0].VolumeMounts[0].ReadOnly {
			t.Errorf("the notifier Secret is not mounted read-only: volumes %v, mounts %v", spec.Volumes, spec.Containers[0].VolumeMounts)
		}
	})
	t.Run("smtp with a password", func(t *testing.T) {
		d := manager(t, typed(t, template(t, "notifier.smtp.username=invites", "notifier.smtp.tls=tls", "notifier.existingSecret=smtp")))
		args := d.Spec.Template.Spec.Containers[0].Args
		for _, want := range []string{"--smtp-username=invites", "--smtp-password-file=/etc/access-operator/notifier/smtp-password", "--smtp-tls=tls"} {
			if !slices.Contains(args, want) {
				t.Errorf("args %v lack %s", args, want)
			}
		}
	})
	t.Run("namespaced, several namespaces", func(t *testing.T) {
		objs := typed(t, template(t, "watchNamespaces={team-a,team-b}", "extraArgs={--passcode-workers=8}"))
		args := manager(t, objs).Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--watch-namespaces=team-a,team-b") || !slices.Contains(args, "--passcode-workers=8") {
			t.Errorf("args %v", args)
		}
		for _, k := range []string{"Role team-a/access-operator-manager-role", "RoleBinding team-b/access-operator-manager-rolebinding",
			"ClusterRole /access-operator-namespace-reader"} {
			if _, ok := objs[k]; !ok {
				t.Errorf("no %s", k)
			}
		}
		if _, ok := objs["ClusterRole /access-operator-manager-role"]; ok {
			t.Error("namespaced mode still grants the cluster-wide manager role")
		}
	})
	t.Run("release namespace", func(t *testing.T) {
		out, err := helm(t, "template", release, chartDir, "--namespace", "ops")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "'system:serviceaccount:ops:access-operator-controller-manager'") ||
			strings.Contains(string(out), "access-operator-system") {
			t.Error("the admission policies do not name the manager's ServiceAccount in the release namespace")
		}
	})
}

// TestBadValuesAreRefused: a wrong value fails the render with the value's path and what is
// allowed, instead of a manager that crash-loops on its flags.
func TestBadValuesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"notifier.type=log"}, "notifier.type: \"log\" is not allowed"},
		{[]string{"notifier.type=webhook", "notifier.webhook.url=https://h.example.com"}, "notifier.existingSecret: required"},
		{[]string{"notifier.type=webhook", "notifier.existingSecret=s"}, "notifier.webhook.url: required"},
		{[]string{"notifier.smtp.username=u"}, "notifier.existingSecret: required"},
		// values.schema.json: names the path of the value and what is allowed.
		{[]string{"image.digest=latest"}, "at '/image/digest': 'latest' does not match pattern"},
		{[]string{"image.pullPolicy=Sometimes"}, "at '/image/pullPolicy': value must be one of"},
		{[]string{"replica=3"}, "additional properties 'replica' not allowed"},
		{[]string{"replicas=two"}, "at '/replicas'"},
		{[]string{"notifier.smtp.tls=ssl"}, "at '/notifier/smtp/tls': value must be one of '', 'none', 'starttls', 'tls'"},
		{[]string{"notifier.webhook.signature=hmac"}, "at '/notifier/webhook/signature'"},
		{[]string{"extraArgs={verbose}"}, "at '/extraArgs/0'"},
		{[]string{"watchNamespaces={Team_A}"}, "watchNamespaces: \"Team_A\" is not a namespace name"},
		{[]string{"publicURL="}, "publicURL: the address users reach the access server at is required"},
	} {
		args := append([]string{"template", release, chartDir, "--namespace", namespace}, setFlags(tc.set)...)
		_, err := helm(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %v: got %v, want an error with %q", tc.set, err, tc.want)
		}
	}
}
