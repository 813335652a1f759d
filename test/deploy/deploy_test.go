// Package deploy checks the production install: what `kubectl apply -k config/default` creates,
// that a real API server accepts it, that RBAC stays least privilege, that the Dockerfile builds
// the way `make build` does, and that the Argo CD health check reads the operator's conditions.
package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dashboardops/access-operator/internal/testenv"
	"github.com/dashboardops/access-operator/internal/testenv/manifests"
)

// render runs kustomize on a folder of config/, as `kubectl apply -k` would.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string, into any) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("config/default renders no %s %s", kind, name)
}

func TestDefaultInstall(t *testing.T) {
	objs := render(t, "config/default")
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && ns != "access-operator-system" {
			t.Errorf("%s %s lands in namespace %q", o.GetKind(), o.GetName(), ns)
		}
	}
	ns := &corev1.Namespace{}
	find(t, objs, "Namespace", "access-operator-system", ns)
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Error("the namespace must enforce the restricted Pod Security Standard")
	}

	d := &appsv1.Deployment{}
	find(t, objs, "Deployment", "access-operator-controller-manager", d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Error("two replicas: the access server must survive one pod")
	}
	pod := d.Spec.Template.Spec
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
		pod.SecurityContext.SeccompProfile == nil || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("the pod must run as non-root with the RuntimeDefault seccomp profile")
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil ||
		!*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context is not restricted: %+v", sc)
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Error("liveness and readiness probes are required")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("requests and a memory limit are required")
	}
	for _, arg := range []string{"--leader-elect", "--metrics-bind-address=:8443", "--access-bind-address=:8082"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("the manager is not started with %s", arg)
		}
	}
	pdb := map[string]any{}
	find(t, objs, "PodDisruptionBudget", "access-operator-controller-manager", &pdb)
	for _, svc := range []string{"access-operator-access", "access-operator-controller-manager-metrics-service"} {
		find(t, objs, "Service", svc, &corev1.Service{})
	}
	for _, crd := range []string{"dashboardroles.access.dashboardops.io", "dashboardusers.access.dashboardops.io", "passcodes.access.dashboardops.io",
		"accessreviews.access.dashboardops.io", "dashboardpolicies.access.dashboardops.io"} {
		find(t, objs, "CustomResourceDefinition", crd, &map[string]any{})
	}
}

// TestManagerRBACIsLeastPrivilege fails when a verb or resource is added to the manager's role
// without this list being updated on purpose.
func TestManagerRBACIsLeastPrivilege(t *testing.T) {
	role := &rbacv1.ClusterRole{}
	find(t, render(t, "config/default"), "ClusterRole", "access-operator-manager-role", role)
	var got []string
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got = append(got, g+"/"+res+": "+strings.Join(sorted(r.Verbs), ","))
			}
		}
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("the manager role must not grant non-resource URLs: %v", r.NonResourceURLs)
		}
	}
	sort.Strings(got)
	want := []string{
		"/namespaces: get,list,watch",                                               // consent to secretCopies (metadata only)
		"/secrets: create,delete,get,list,patch,watch",                              // the passcode Secrets; SCIM tokens (caches: labelled ones only); delete: copies
		"access.dashboardops.io/accessreviews: create,get,list,watch",               // create: the reviews a schedule makes
		"access.dashboardops.io/accessreviews/status: get,patch",                    // snapshot, counts, evidence
		"access.dashboardops.io/dashboardpolicies: get,list,watch",                  // the project's rules
		"access.dashboardops.io/dashboardpolicies/status: get,patch",                // counts, non-compliant objects, next action
		"access.dashboardops.io/dashboardroles: get,list,patch,watch",               // permissions, SCIM groups; patch: the in-use finalizer
		"access.dashboardops.io/dashboardroles/status: get,patch",                   // users count, Ready
		"access.dashboardops.io/dashboardusers: create,delete,get,list,patch,watch", // create, patch, delete: SCIM provisioning; patch: revoked by a review
		"access.dashboardops.io/dashboardusers/status: get,patch",                   // status, last login, acceptance
		"access.dashboardops.io/passcodes: get,list,patch,watch",                    // patch: the owner reference to the user; revoked for inactivity
		"access.dashboardops.io/passcodes/finalizers: update",                       // blockOwnerDeletion on the Secrets
		"access.dashboardops.io/passcodes/status: get,patch",
		"events.k8s.io/events: create,patch",
		"apps/deployments: patch", // spec.rolloutRestartTargets: the restarted-at annotation, nothing else
		"apps/statefulsets: patch",
		"apps/daemonsets: patch",
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("manager role rules changed:\n got %q\nwant %q", got, want)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// TestInstallIsAcceptedByTheAPIServer applies everything config/default renders to a real API
// server with server-side apply; no pods run there, but every object must be accepted.
func TestInstallIsAcceptedByTheAPIServer(t *testing.T) {
	objs := render(t, "config/default")
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	env.CRDDirectoryPaths = nil // the install brings its own CRDs
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Namespaces and CRDs first, as kubectl apply orders them.
	manifests.SortForApply(objs)
	for _, o := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
			t.Errorf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	got := &unstructured.Unstructured{}
	got.SetAPIVersion("apps/v1")
	got.SetKind("Deployment")
	if err := c.Get(ctx, client.ObjectKey{Namespace: "access-operator-system", Name: "access-operator-controller-manager"}, got); err != nil {
		t.Fatalf("the Deployment was not stored: %v", err)
	}
}

// TestDockerfileBuildsLikeMakeBuild: no Docker engine runs here, so the image's build step is held
// to the command `make build` and `make image` run (and CI runs), flag for flag; hack/image's tests
// hold `make image`'s image to the Dockerfile's user and entrypoint.
func TestDockerfileBuildsLikeMakeBuild(t *testing.T) {
	root, _ := testenv.RepoRoot()
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^GO_BUILD := (.+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile has no GO_BUILD")
	}
	// The Makefile's $(VERSION) is the Dockerfile's build argument ${VERSION}, with the same default.
	goBuild := strings.ReplaceAll(string(m[1]), "$(VERSION)", "${VERSION}")
	if !strings.Contains(string(dockerfile), "RUN "+goBuild+" -o bin/manager .") {
		t.Errorf("the Dockerfile does not build with %q -o bin/manager .", goBuild)
	}
	version := regexp.MustCompile(`(?m)^VERSION \?= (\S+)$`).FindSubmatch(makefile)
	if version == nil || !strings.Contains(string(dockerfile), "\nARG VERSION="+string(version[1])+"\n") {
		t.Error("the Dockerfile's ARG VERSION= is not the Makefile's VERSION default")
	}
	if !strings.Contains(string(makefile), "$(GO_BUILD) -o bin/manager .") {
		t.Error("make build does not build the manager with GO_BUILD")
	}
	for _, want := range []string{"FROM gcr.io/distroless/static:nonroot@sha256:", "USER 65532:65532", "CGO_ENABLED=0"} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	if problems := unpinnedBaseImages(string(dockerfile)); len(problems) > 0 {
		t.Errorf("the Dockerfile's base images must be pinned by digest, with the tag in a comment (docs/operations.md):\n  %s",
			strings.Join(problems, "\n  "))
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod)
	if goLine == nil || !strings.Contains(string(dockerfile), "FROM golang:"+string(goLine[1])+"@sha256:") {
		t.Errorf("the builder is not golang:<go.mod's go version>@sha256:... (the image sets GOTOOLCHAIN=local)")
	}
}

// pinnedFrom is a FROM line whose image is pinned: name:tag@sha256:<64 hex>, optionally AS a stage.
var pinnedFrom = regexp.MustCompile(`^FROM (?:--platform=\S+ )?([a-z0-9./_-]+):([\w][\w.-]*)@sha256:[0-9a-f]{64}(?: AS \w+)?$`)

// unpinnedBaseImages lists every FROM of a Dockerfile that does not name its image by digest, or
// whose tag is not written in the comment line above it (the digest alone says nothing to a reader).
// A FROM naming an earlier stage is not an image.
func unpinnedBaseImages(dockerfile string) []string {
	var problems []string
	stages := map[string]bool{}
	lines := strings.Split(dockerfile, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		if len(fields) >= 4 && strings.EqualFold(fields[len(fields)-2], "AS") {
			stages[fields[len(fields)-1]] = true // later FROMs may name it
		}
		if stages[fields[1]] {
			continue
		}
		m := pinnedFrom.FindStringSubmatch(line)
		if m == nil {
			problems = append(problems, fmt.Sprintf("line %d: %s (want image:tag@sha256:<digest>)", i+1, line))
			continue
		}
		if i == 0 || strings.TrimSpace(lines[i-1]) != "# "+m[1]+":"+m[2] {
			problems = append(problems, fmt.Sprintf("line %d: the line above does not say the tag: # %s:%s", i+1, m[1], m[2]))
		}
	}
	return problems
}

// TestUnpinnedBaseImagesRefused: the check above is not vacuous.
func TestUnpinnedBaseImagesRefused(t *testing.T) {
	const digest = "@sha256:e2e927ec666bae08560abb3c55d0659eceabb657f56b6782ab500a9fc7f555e3"
	for dockerfile, want := range map[string]int{
		"FROM golang:1.26 AS builder\nFROM gcr.io/distroless/static:nonroot\n":                                   2,
		"# golang:1.26\nFROM golang:1.26" + digest + " AS builder\nFROM builder\n":                               0,
		"FROM golang:1.26" + digest + "\n":                                                                       1, // no tag comment
		"# golang:1.27\nFROM golang:1.26" + digest + "\n":                                                        1, // a comment that lies
		"# golang:latest\nFROM golang@sha256:e2e927ec666bae08560abb3c55d0659eceabb657f56b6782ab500a9fc7f555e3\n": 1, // no tag
		"# golang:1.26\nFROM golang:1.26@sha256:e2e9\n":                                                          1,
		"FROM --platform=$BUILDPLATFORM golang:1.26\n":                                                           1,
	} {
		if got := unpinnedBaseImages(dockerfile); len(got) != want {
			t.Errorf("%q: %d problems %v, want %d", dockerfile, len(got), got, want)
		}
	}
}

// TestPrometheusRulesUseExportedMetrics keeps the alerts in step with the metrics the code exports.
func TestPrometheusRulesUseExportedMetrics(t *testing.T) {
	root, _ := testenv.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "config/prometheus/prometheus_rule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &rule); err != nil {
		t.Fatal(err)
	}
	sources, err := filepath.Glob(filepath.Join(root, "internal/metrics/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var code []byte
	for _, src := range sources {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		code = append(code, b...)
	}
	alerts := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			for _, name := range regexp.MustCompile(`access_operator_([a-z_]+)`).FindAllStringSubmatch(r.Expr, -1) {
				metric := strings.TrimSuffix(name[1], "_total")
				if !strings.Contains(string(code), metric) {
					t.Errorf("alert %s uses %s, which internal/metrics does not export", r.Alert, name[0])
				}
			}
		}
	}
	for _, a := range []string{"DashboardPasscodeExpiringWithoutRotation", "DashboardInviteDeliveryFailing", "DashboardOperatorReconcileErrors"} {
		if !alerts[a] {
			t.Errorf("missing alert %s", a)
		}
	}
}

// `make deploy IMG=...` (docs/operations.md) installs that image: it applies `make render`.
func TestRenderUsesIMG(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "render", "IMG=registry.example.com/access-operator:1.2.3")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make render: %v", err)
	}
	if !strings.Contains(string(out), "image: registry.example.com/access-operator:1.2.3\n") ||
		strings.Contains(string(out), "ghcr.io/dashboardops/access-operator:dev") {
		t.Fatal("make render IMG=... does not put IMG in the manager's Deployment")
	}
}
