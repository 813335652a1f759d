// Package chart checks the Helm chart in charts/access-operator: that it renders the objects of
// config/default (and of config/namespaced and config/prometheus with the values that select
// them), that its copies of the generated files do not drift, that `helm lint --strict` passes,
// and that a real helm installs, upgrades and uninstalls it on a real kube-apiserver.
//
// helm comes from hack/helm.sh (`make helm`; `make test` builds it and passes HELM).
package chart

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/dashboardops/access-operator/internal/testenv"
	"github.com/dashboardops/access-operator/internal/testenv/manifests"
)

const (
	chartDir  = "charts/access-operator"
	release   = "access-operator"
	namespace = "access-operator-system"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// helmBinary is $HELM, else the path hack/helm.sh builds to.
func helmBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		out, err := exec.Command(filepath.Join(repoRoot(t), "hack/helm.sh"), "print-path").Output()
		if err != nil {
			t.Fatal(err)
		}
		bin = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no helm at %s: run `make helm` (hack/helm.sh builds it from the Go module proxy)", bin)
	}
	return bin
}

// helm runs helm in the repository root and returns its standard output.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out, nil
}

// template renders the chart as `helm install` would, CRDs included.
func template(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", release, chartDir, "--namespace", namespace, "--include-crds"}, setFlags(set)...)
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

// setFlags turns key=value pairs into helm's --set flags.
func setFlags(set []string) []string {
	out := make([]string, 0, 2*len(set))
	for _, s := range set {
		out = append(out, "--set", s)
	}
	return out
}

func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// kustomize renders a folder of config/ as `kubectl apply -k` would. edit, when set, may change
// the files first (on a copy in memory), e.g. to enable ../prometheus as config/default says.
func kustomize(t *testing.T, dir string, edit func(filesys.FileSystem)) []*unstructured.Unstructured {
	t.Helper()
	root := repoRoot(t)
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(filepath.Join(root, "config"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		return mem.WriteFile("/"+rel, data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(mem)
	}
	objs, err := manifests.RenderFS(mem, "/"+dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// helmLabels are the labels the chart adds to every object it templates, with their values for
// this chart and release: the only difference allowed from config/default (docs/operations.md).
func helmLabels(t *testing.T) map[string]string {
	t.Helper()
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	data, err := os.ReadFile(filepath.Join(repoRoot(t), chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"helm.sh/chart":                "access-operator-" + chart.Version,
		"app.kubernetes.io/managed-by": "Helm",
		"app.kubernetes.io/instance":   release,
		"app.kubernetes.io/version":    chart.AppVersion,
	}
}

// clusterScoped kinds that kustomize gives the namespace of config/default anyway (it does not
// know admission policies are cluster-scoped); the API server ignores it, the chart omits it.
var clusterScoped = map[string]bool{"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true}

// normalizeKustomize drops from config/default's objects what the chart does not render, as
// docs/operations.md says: the Namespace (Helm needs the release namespace before the install:
// create it with its Pod Security label first), the label kustomize adds to the CRDs (the chart's
// crds/ are config/crd/bases byte for byte) and the namespace of cluster-scoped objects.
func normalizeKustomize(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		switch {
		case o.GetKind() == "Namespace" && o.GetName() == namespace:
			continue
		case o.GetKind() == "CustomResourceDefinition":
			o.SetLabels(nil)
		case clusterScoped[o.GetKind()]:
			o.SetNamespace("")
		}
		collapseCEL(o.Object)
		out[key(o)] = o
	}
	return out
}

// normalizeHelm takes off the chart's Helm labels, failing on any other value of them.
func normalizeHelm(t *testing.T, objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	want := helmLabels(t)
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			labels := o.GetLabels()
			for k, v := range want {
				if labels[k] != v {
					t.Errorf("%s: label %s is %q, want %q", key(o), k, labels[k], v)
				}
				delete(labels, k)
			}
			o.SetLabels(labels)
		}
		collapseCEL(o.Object)
		if _, dup := out[key(o)]; dup {
			t.Errorf("the chart renders %s twice", key(o))
		}
		out[key(o)] = o
	}
	return out
}

// collapseCEL turns each run of white space in CEL expressions into one space. The admission
// policies fold long expressions with `>-`, and kustomize's YAML library keeps an extra line
// break before a more-indented line where Helm's does not: the same CEL either way, as white
// space outside string literals means nothing in CEL (and no literal here spans lines).
func collapseCEL(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "expression" || k == "messageExpression") {
				x[k] = strings.Join(strings.Fields(s), " ")
				continue
			}
			collapseCEL(e)
		}
	case []any:
		for _, e := range x {
			collapseCEL(e)
		}
	}
}

func key(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
}

// assertSameObjects compares object by object; a difference is shown as both objects in YAML
// (sorted keys) from the first line that differs.
func assertSameObjects(t *testing.T, want, got map[string]*unstructured.Unstructured) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, g := want[k], got[k]
		switch {
		case g == nil:
			t.Errorf("%s: in config/, not rendered by the chart", k)
		case w == nil:
			t.Errorf("%s: rendered by the chart, not in config/", k)
		case !reflect.DeepEqual(w.Object, g.Object):
			t.Errorf("%s differs (config/ first, then the chart):\n%s", k, lineDiff(w.Object, g.Object))
		}
	}
}

func lineDiff(a, b map[string]any) string {
	ay, _ := yaml.Marshal(a)
	by, _ := yaml.Marshal(b)
	al, bl := strings.Split(string(ay), "\n"), strings.Split(string(by), "\n")
	i := 0
	for i < len(al) && i < len(bl) && al[i] == bl[i] {
		i++
	}
	from := max(0, i-3)
	cut := func(l []string) string { return strings.Join(l[from:min(len(l), i+8)], "\n") }
	return fmt.Sprintf("--- config/ (from line %d)\n%s\n--- chart\n%s", from+1, cut(al), cut(bl))
}

// TestChartRendersConfigDefault: with its default values the chart renders the objects of
// config/default, apart from the documented differences; with watchNamespaces those of
// config/namespaced; with the ServiceMonitor and PrometheusRule on, config/default with
// ../prometheus added (as its kustomization.yaml tells users to).
func TestChartRendersConfigDefault(t *testing.T) {
	withPrometheus := func(fsys filesys.FileSystem) {
		path := "/config/default/kustomization.yaml"
		data, err := fsys.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		enabled := strings.Replace(string(data), "# - ../prometheus", "- ../prometheus", 1)
		if enabled == string(data) {
			t.Fatal("config/default/kustomization.yaml no longer has the line `# - ../prometheus`")
		}
		if err := fsys.WriteFile(path, []byte(enabled)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, dir string
		edit      func(filesys.FileSystem)
		set       []string
	}{
		{name: "default", dir: "config/default"},
		{name: "namespaced", dir: "config/namespaced", set: []string{"watchNamespaces={team-a}"}},
		{name: "prometheus", dir: "config/default", edit: withPrometheus,
			set: []string{"serviceMonitor.enabled=true", "prometheusRule.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := normalizeKustomize(kustomize(t, tc.dir, tc.edit))
			got := normalizeHelm(t, template(t, tc.set...))
			assertSameObjects(t, want, got)
		})
	}
}

// TestChartCopiesMatchGenerated: the chart's CRDs, manager rules, admission policies and alerts
// are copies (`make manifests` makes them) of the generated or hand-written files in config/, byte
// for byte, so a marker change cannot leave the chart behind.
func TestChartCopiesMatchGenerated(t *testing.T) {
	root := repoRoot(t)
	pairs := map[string]string{
		"config/rbac/role.yaml":                     chartDir + "/files/manager-role.yaml",
		"config/prometheus/prometheus_rule.yaml":    chartDir + "/files/prometheus_rule.yaml",
		"config/admission/passcode_delegation.yaml": chartDir + "/files/admission/passcode_delegation.yaml",
		"config/admission/manager_writes.yaml":      chartDir + "/files/admission/manager_writes.yaml",
		"config/admission/invite_key_guard.yaml":    chartDir + "/files/admission/invite_key_guard.yaml",
		"config/admission/dashboard_policy.yaml":    chartDir + "/files/admission/dashboard_policy.yaml",
	}
	crds, err := filepath.Glob(filepath.Join(root, "config/crd/bases/*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	for _, c := range crds {
		pairs["config/crd/bases/"+filepath.Base(c)] = chartDir + "/crds/" + filepath.Base(c)
	}
	shipped, _ := filepath.Glob(filepath.Join(root, chartDir, "crds/*"))
	if len(shipped) != len(crds) {
		t.Errorf("%s/crds has %d files, config/crd/bases %d: run make manifests", chartDir, len(shipped), len(crds))
	}
	admission, _ := filepath.Glob(filepath.Join(root, "config/admission/*.yaml"))
	if len(admission) != 5 { // four policies and kustomization.yaml
		t.Errorf("config/admission has %d files; a new policy must be added to the chart (templates/admission.yaml, the Makefile and this test)", len(admission))
	}
	for src, dst := range pairs {
		a, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(root, dst))
		if err != nil {
			t.Errorf("%v: run make manifests", err)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run make manifests", dst, src)
		}
	}
}

// TestHelmLint: helm lint --strict (warnings fail too) passes with the defaults and with the other
// modes on.
func TestHelmLint(t *testing.T) {
	for _, set := range [][]string{
		nil,
		{"watchNamespaces={team-a,team-b}", "serviceMonitor.enabled=true", "prometheusRule.enabled=true"},
		{"image.digest=sha256:" + strings.Repeat("ab", 32), "notifier.type=webhook", "notifier.webhook.url=https://hooks.example.com/invites", "notifier.existingSecret=notifier"},
	} {
		args := append([]string{"lint", "--strict", chartDir, "--namespace", namespace}, setFlags(set)...)
		if out, err := helm(t, args...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
}
