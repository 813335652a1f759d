package passcodesecret

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func TestConsents(t *testing.T) {
	for _, c := range []struct {
		annotation, from string
		want             bool
	}{
		{"", "team", false},
		{"team", "team", true},
		{"team", "tea", false},
		{"tea", "team", false},
		{"other,team", "team", true},
		{" other , team ", "team", true},
		{"other,,team,", "team", true},
		{",,", "team", false},
		{" ", "team", false},
		{"*", "team", true},
		{" * ", "team", true},
		{"other, *", "team", true},
		{"team-*", "team-a", false}, // names, never patterns
		{"**", "team", false},
		{"Team", "team", true}, // namespace names are lower case: case cannot tell two apart
		{"TEAM", "team", true},
		{"team", "", false},
		{"*", "", false},
		{"team;other", "team", false}, // only commas separate
	} {
		if got := Consents(c.annotation, c.from); got != c.want {
			t.Errorf("Consents(%q, %q) = %v, want %v", c.annotation, c.from, got, c.want)
		}
	}
}

func TestCopyTargetsDefaultToThePrimarysName(t *testing.T) {
	pc := activePasscode()
	pc.Spec.SecretName = "primary"
	pc.Spec.SecretCopies = []accessv1alpha1.SecretCopy{{Namespace: "b"}, {Namespace: "c", Name: "elsewhere"}}
	got := CopyTargets(pc)
	if len(got) != 2 || got[0] != (CopyTarget{"b", "primary"}) || got[1] != (CopyTarget{"c", "elsewhere"}) {
		t.Fatalf("targets %v", got)
	}
}

func copyOfActive(pc *accessv1alpha1.Passcode, c Contents) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: Name(pc), Labels: CopyLabels(pc), Annotations: copyAnnotations(pc, c.Revision)},
		Type:       SecretType(pc),
		Data:       mustData(pc, c),
	}
}

func TestCopyOwnershipAndSync(t *testing.T) {
	pc := activePasscode()
	c := Contents{Passcode: "old", Email: "jane@example.com", ExpiresAt: t0.Add(time.Hour), Revision: 1}
	s := copyOfActive(pc, c)
	if !CopyOwnedBy(s, pc) || !CopyInSync(s, pc, c) {
		t.Fatal("a copy as written is ours and in sync")
	}
	if OwnedBy(s, pc) {
		t.Fatal("a copy is never taken for the primary Secret of a Passcode of the same name")
	}
	other := pc.DeepCopy()
	other.Namespace = "b"
	if OwnedBy(s, other) || CopyOwnedBy(s, other) {
		t.Fatal("a copy of team/jane-api is not b/jane-api's Secret")
	}
	if ns, name, ok := CopySource(s); !ok || ns != "team" || name != "jane-api" {
		t.Fatalf("CopySource = %q %q %v", ns, name, ok)
	}
	unlabelled := s.DeepCopy()
	unlabelled.Labels = nil
	if !CopyOwnedBy(unlabelled, pc) || CopyInSync(unlabelled, pc, c) {
		t.Fatal("a copy that lost its labels is still ours and gets them back")
	}
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "jane-api", Labels: Labels(pc)}}
	if CopyOwnedBy(foreign, pc) {
		t.Fatal("a Secret without the copy annotation is someone else's")
	}
	tampered := s.DeepCopy()
	tampered.Data[KeyPasscode] = []byte("mine")
	if CopyInSync(tampered, pc, c) {
		t.Fatal("an edited passcode is out of sync")
	}
	extra := s.DeepCopy()
	extra.Data["theirs"] = []byte("x")
	extra.Labels["theirs"] = "x"
	if !CopyInSync(extra, pc, c) {
		t.Fatal("keys and labels others add are theirs, not drift (else every reconcile would write)")
	}
	wiped := c
	wiped.Passcode = ""
	if CopyInSync(s, pc, wiped) {
		t.Fatal("a copy still holding the passcode after expiry is out of sync")
	}
	if !CopyInSync(copyOfActive(pc, wiped), pc, wiped) {
		t.Fatal("a wiped copy is in sync with the wiped contents")
	}
}

func TestCopyCarriesTheTemplate(t *testing.T) {
	pc := templatedPasscode(map[string]accessv1alpha1.DataTemplate{"API_KEY": "Bearer {{ .Passcode }}"})
	c := Contents{Passcode: "dpc_x", Email: "jane@example.com", ExpiresAt: t0, Revision: 1}
	ac, err := copyApplyConfig(pc, CopyTarget{"b", "jane-api"}, c)
	if err != nil {
		t.Fatal(err)
	}
	if *ac.Type != corev1.SecretTypeBasicAuth || string(ac.Data["API_KEY"]) != "Bearer dpc_x" || string(ac.Data[KeyAccount]) != "team" {
		t.Fatalf("copy %v %q", *ac.Type, ac.Data)
	}
	if len(ac.OwnerReferences) != 0 {
		t.Fatal("a copy carries no owner reference (they cannot cross namespaces)")
	}
	if ac.Labels[CopyOfNamespaceLabel] != "team" || ac.Annotations[CopyOfAnnotation] != "team/jane-api" ||
		ac.Labels[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue {
		t.Fatalf("copy metadata %v %v", ac.Labels, ac.Annotations)
	}
}
