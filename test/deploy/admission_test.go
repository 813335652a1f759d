package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dashboardops/access-operator/internal/testenv"
)

// policy is the part of a ValidatingAdmissionPolicy these checks read.
type policy struct {
	Spec struct {
		MatchConditions []struct {
			Expression string `json:"expression"`
		} `json:"matchConditions"`
		Validations []struct {
			Expression string `json:"expression"`
		} `json:"validations"`
	} `json:"spec"`
}

// The admission policies (config/admission) are installed and bound, and the ServiceAccount they
// name is the one config/default runs the manager as: renaming one without the other would turn
// the manager's restrictions off without a sound. test/admission runs them on a real API server.
func TestAdmissionPoliciesAreInstalledForTheManagersServiceAccount(t *testing.T) {
	for _, dir := range []string{"config/default", "config/namespaced"} {
		t.Run(dir, func(t *testing.T) { checkPolicies(t, render(t, dir)) })
	}
}

func checkPolicies(t *testing.T, objs []*unstructured.Unstructured) {
	sa := map[string]any{}
	find(t, objs, "ServiceAccount", "access-operator-controller-manager", &sa)
	user := fmt.Sprintf("'system:serviceaccount:%s:%s'", "access-operator-system", "access-operator-controller-manager")
	for _, name := range []string{"access-operator-passcode-delegation", "access-operator-manager-writes", "access-operator-invite-key-guard",
		"access-operator-dashboard-policy"} {
		p := &policy{}
		find(t, objs, "ValidatingAdmissionPolicy", name, p)
		binding := map[string]any{}
		find(t, objs, "ValidatingAdmissionPolicyBinding", name, &binding)
		spec := binding["spec"].(map[string]any)
		if spec["policyName"] != name || fmt.Sprint(spec["validationActions"]) != "[Deny]" {
			t.Errorf("binding %s: %v", name, spec)
		}
		if name == "access-operator-dashboard-policy" {
			// Each namespace's DashboardPolicy default; none means no check (a project as before).
			if ref, _ := spec["paramRef"].(map[string]any); ref["name"] != "default" || ref["parameterNotFoundAction"] != "Allow" {
				t.Errorf("binding %s: paramRef %v, want name default and parameterNotFoundAction Allow", name, spec["paramRef"])
			}
		}
		if name == "access-operator-passcode-delegation" || name == "access-operator-dashboard-policy" {
			continue // they are about everyone, not the manager
		}
		if len(p.Spec.MatchConditions) == 0 || !strings.Contains(p.Spec.MatchConditions[0].Expression, "request.userInfo.username") ||
			!strings.Contains(p.Spec.MatchConditions[0].Expression, user) {
			t.Errorf("%s must match the manager's ServiceAccount %s", name, user)
		}
	}
}

// The API server allows about two authorizer checks per CEL expression, so the delegation policy
// checks spec.rolloutRestartTargets one index per validation: one for each index the CRD allows.
func TestDelegationPolicyChecksEveryRestartTarget(t *testing.T) {
	objs := render(t, "config/default")
	p := &policy{}
	find(t, objs, "ValidatingAdmissionPolicy", "access-operator-passcode-delegation", p)
	root, _ := testenv.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "config/crd/bases/access.dashboardops.io_passcodes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]struct {
								MaxItems *int `json:"maxItems"`
							} `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}{}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	maxItems := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["rolloutRestartTargets"].MaxItems
	if maxItems == nil {
		t.Fatal("spec.rolloutRestartTargets has no maxItems")
	}
	for i := range *maxItems + 1 {
		found := false
		for _, v := range p.Spec.Validations {
			if strings.Contains(v.Expression, fmt.Sprintf("variables.targets.size() <= %d ||", i)) &&
				strings.Count(v.Expression, ".check(") == 1 {
				found = true
			}
		}
		if found != (i < *maxItems) {
			t.Errorf("index %d: a validation with one authorizer check = %v, want %v", i, found, i < *maxItems)
		}
	}
}
