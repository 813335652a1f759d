package passcodesecret

import (
	"testing"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// TestTemplateNeverSetsTheOperatorsKeys: a Passcode stored before the CRD refused them may still
// carry the operator's keys in its secretTemplate (issue 22, item 2). Neither its Secret nor its
// copies get them: the template's scim-token label would make them SCIM tokens, and its managed-by
// or copy keys would pass another's Secret off as the operator's.
func TestTemplateNeverSetsTheOperatorsKeys(t *testing.T) {
	pc := activePasscode()
	owned := map[string]string{
		accessv1alpha1.SCIMTokenLabel:  "true",
		accessv1alpha1.ManagedByLabel:  "someone",
		accessv1alpha1.PasscodeLabel:   "other",
		CopyOfNamespaceLabel:           "elsewhere",
		CopyOfAnnotation:               "elsewhere/other",
		RevisionAnnotation:             "99",
		"Access.DashboardOps.io/x":     "y",
		"APP.kubernetes.io/managed-by": "someone",
	}
	pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{
		Labels:      map[string]accessv1alpha1.LabelValue{"team": "a"},
		Annotations: map[string]string{"note": "kept"},
	}
	for k, v := range owned {
		pc.Spec.SecretTemplate.Labels[k] = accessv1alpha1.LabelValue(v)
		pc.Spec.SecretTemplate.Annotations[k] = v
	}
	for name, got := range map[string]map[string]string{
		"labels": Labels(pc), "copy labels": CopyLabels(pc),
		"annotations": Annotations(pc, 1), "copy annotations": copyAnnotations(pc, 1),
	} {
		if _, ok := got[accessv1alpha1.SCIMTokenLabel]; ok {
			t.Errorf("%s carry the template's %s: %v", name, accessv1alpha1.SCIMTokenLabel, got)
		}
		for k, v := range owned {
			if got[k] == v {
				t.Errorf("%s: %s=%s comes from the template", name, k, v)
			}
		}
		if got["team"] != "a" && got["note"] != "kept" {
			t.Errorf("%s lost the template's other keys: %v", name, got)
		}
	}
	if l := Labels(pc); l[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue || l[accessv1alpha1.PasscodeLabel] != pc.Name {
		t.Errorf("the operator's own labels: %v", l)
	}
	if a := copyAnnotations(pc, 1); a[CopyOfAnnotation] != "team/jane-api" || a[RevisionAnnotation] != "1" {
		t.Errorf("the operator's own annotations: %v", a)
	}
}
