package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/users"
)

func sampleUsers() []client.Object {
	return []client.Object{
		&accessv1alpha1.DashboardUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a-project", Name: "abe", Labels: map[string]string{"team": "ops"}},
			Spec:       accessv1alpha1.DashboardUserSpec{Email: "abe@x.io", Role: accessv1alpha1.RoleApprover, DisplayName: "Abe"},
			Status:     accessv1alpha1.DashboardUserStatus{Phase: accessv1alpha1.UserInvited},
		},
		&accessv1alpha1.DashboardUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a-project", Name: "jane", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl-dashboard"}}},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "jane@x.io", Role: accessv1alpha1.RoleAdmin, Access: accessv1alpha1.AccessRevoked,
				DisplayName: "Doe, Jane \"JD\"\nSecond line"},
		},
	}
}

// printWith runs the printer the flags make, as a command parses them.
func printWith(t *testing.T, withNamespace bool, objs []client.Object, args ...string) (string, error) {
	t.Helper()
	pf := newPrintFlags("")
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	pf.addFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	pr, err := pf.printer(withNamespace)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	err = pr.printList(&buf, objs, userTable)
	return buf.String(), err
}

func mustPrint(t *testing.T, withNamespace bool, args ...string) string {
	t.Helper()
	out, err := printWith(t, withNamespace, sampleUsers(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUserTable(t *testing.T) {
	lines := strings.Split(strings.TrimRight(mustPrint(t, false), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("a display name with a newline must stay on one line:\n%s", strings.Join(lines, "\n"))
	}
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "USER NAME ROLE EMAIL USER STATUS LAST LOGIN PASSCODE-STATUS" {
		t.Errorf("header %q", got)
	}
	if got := strings.Join(strings.Fields(lines[1]), " "); got != "abe Abe Approver abe@x.io Invited None" {
		t.Errorf("abe's line %q", got)
	}
	if !strings.Contains(lines[2], `Doe, Jane "JD" Second line`) {
		t.Errorf("jane's line %q", lines[2])
	}

	wide := strings.Split(mustPrint(t, true, "-o", "wide", "--show-labels"), "\n")
	if got := strings.Join(strings.Fields(wide[0]), " "); got != "NAMESPACE USER NAME ROLE EMAIL USER STATUS LAST LOGIN PASSCODE-STATUS ACCESS READY AGE LABELS" {
		t.Errorf("wide header %q", got)
	}
	if !strings.HasPrefix(wide[1], "a-project ") || !strings.Contains(wide[1], "Granted") || !strings.HasSuffix(wide[1], "team=ops") {
		t.Errorf("wide line %q", wide[1])
	}
	if !strings.Contains(wide[2], "Revoked") || !strings.HasSuffix(wide[2], "<none>") {
		t.Errorf("wide line %q", wide[2])
	}

	noHeaders := mustPrint(t, false, "--no-headers")
	if strings.Contains(noHeaders, "EMAIL") || strings.Count(noHeaders, "\n") != 2 {
		t.Errorf("--no-headers:\n%s", noHeaders)
	}
}

// TestTableEscapesControlCharacters: an ANSI escape in a display name never reaches the terminal raw.
func TestTableEscapesControlCharacters(t *testing.T) {
	objs := []client.Object{&accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		Spec: accessv1alpha1.DashboardUserSpec{DisplayName: "\x1b[2J\x1b[31mRED\x07\u009b\tx", Role: "Member", Email: "a@x.io"}}}
	out, err := printWith(t, false, objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range out {
		if c != '\n' && unicode.IsControl(c) {
			t.Fatalf("a raw control character %U reached the output: %q", c, out)
		}
	}
	if !strings.Contains(out, `\u001b[2J\u001b[31mRED\u0007\u009b x`) {
		t.Fatalf("the escapes are shown escaped: %q", out)
	}
}

// TestTableEscapesFormatCharacters: a right-to-left override (and every other invisible format
// character but the joiners) in a display name is shown escaped, so the row reads as it is stored.
func TestTableEscapesFormatCharacters(t *testing.T) {
	objs := []client.Object{&accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		Spec: accessv1alpha1.DashboardUserSpec{DisplayName: "jane\u202emoc.elpmaxe \u2066x\u2069\u200e\U000e0041 👩\u200d💻", Role: "Member", Email: "a@x.io"}}}
	out, err := printWith(t, false, objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range out {
		if c != '\n' && users.Hidden(c) {
			t.Fatalf("a raw format character %U reached the output: %q", c, out)
		}
	}
	if !strings.Contains(out, `jane\u202emoc.elpmaxe \u2066x\u2069\u200e\U000e0041 👩`+"\u200d"+`💻`) {
		t.Fatalf("the format characters are not shown escaped: %q", out)
	}
}

func TestPrintObjects(t *testing.T) {
	var list struct {
		APIVersion string                         `json:"apiVersion"`
		Kind       string                         `json:"kind"`
		Items      []accessv1alpha1.DashboardUser `json:"items"`
	}
	out := mustPrint(t, false, "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 2 {
		t.Fatalf("-o json is a v1 List of the users:\n%s", out)
	}
	jane := list.Items[1]
	if jane.APIVersion != "access.dashboardops.io/v1alpha1" || jane.Kind != "DashboardUser" || jane.Spec.DisplayName != "Doe, Jane \"JD\"\nSecond line" {
		t.Errorf("jane: %+v", jane)
	}
	if strings.Contains(out, "managedFields") {
		t.Error("managedFields are left out unless --show-managed-fields, as kubectl does")
	}
	if !strings.Contains(mustPrint(t, false, "-o", "json", "--show-managed-fields"), "managedFields") {
		t.Error("--show-managed-fields keeps them")
	}

	list.Items = nil
	if err := yaml.Unmarshal([]byte(mustPrint(t, false, "-o", "yaml")), &list); err != nil || list.Kind != "List" || len(list.Items) != 2 ||
		list.Items[0].Spec.Email != "abe@x.io" {
		t.Errorf("-o yaml: %v %+v", err, list)
	}

	if got := mustPrint(t, false, "-o", "name"); got != "dashboarduser/abe\ndashboarduser/jane\n" {
		t.Errorf("-o name: %q", got)
	}
	if got := mustPrint(t, false, "-o", "jsonpath={.items[*].spec.email}"); got != "abe@x.io jane@x.io" {
		t.Errorf("-o jsonpath: %q", got)
	}
	if got := mustPrint(t, false, "-o", `go-template={{range .items}}{{.metadata.name}};{{end}}`); got != "abe;jane;" {
		t.Errorf("-o go-template: %q", got)
	}
	if got := mustPrint(t, false, "--template", `{{range .items}}{{.spec.role}};{{end}}`); got != "Approver;Admin;" {
		t.Errorf("--template without -o is a go-template, as with kubectl get: %q", got)
	}
	cc := mustPrint(t, true, "-o", "custom-columns=EMAIL:.spec.email,TEAM:{.metadata.labels.team},LOGIN:status.lastLoginAt")
	if got := strings.Fields(cc); strings.Join(got, " ") != "NAMESPACE EMAIL TEAM LOGIN a-project abe@x.io ops <none> a-project jane@x.io <none> <none>" {
		t.Errorf("-o custom-columns:\n%s", cc)
	}
	file := filepath.Join(t.TempDir(), "columns")
	if err := os.WriteFile(file, []byte("USER   ROLE\n.metadata.name  .spec.role\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(mustPrint(t, false, "-o", "custom-columns-file="+file, "--no-headers")); strings.Join(got, " ") != "abe Approver jane Admin" {
		t.Errorf("-o custom-columns-file: %v", got)
	}
}

// TestBadOutputIsAUsageError: every bad -o names the flag, and the allowed formats when the format
// is unknown, before anything is read.
func TestBadOutputIsAUsageError(t *testing.T) {
	for value, want := range map[string]string{
		"toml":                             `invalid --output "toml": allowed formats are custom-columns, custom-columns-file, go-template, go-template-file, json, jsonpath`,
		"jsonpath":                         `invalid --output "jsonpath": template format specified but no template given`,
		"jsonpath={.items[":                `invalid --output "jsonpath={.items[": error parsing jsonpath`,
		"go-template={{.x":                 `invalid --output "go-template={{.x": error parsing template`,
		"custom-columns=":                  `invalid --output "custom-columns=": custom-columns format specified but no custom columns given`,
		"custom-columns=EMAIL":             `invalid --output "custom-columns=EMAIL": unexpected custom-columns spec "EMAIL": expected <header>:<json-path-expr>`,
		"custom-columns=E:{.spec[":         `invalid --output "custom-columns=E:{.spec[": column E:`,
		"custom-columns-file=/nonexisting": `invalid --output "custom-columns-file=/nonexisting": open /nonexisting`,
	} {
		_, err := printWith(t, false, nil, "-o", value)
		var ue *UsageError
		if !errors.As(err, &ue) || ExitCode(err) != ExitUsage {
			t.Errorf("-o %s: %v is not a usage error", value, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("-o %s: %q does not contain %q", value, err, want)
		}
	}
	_, err := printWith(t, false, nil, "-o", "toml")
	if !strings.Contains(err.Error(), "kyaml, name, template, templatefile, wide") || strings.Contains(err.Error(), "csv") {
		t.Errorf("the allowed formats of users list: %v", err)
	}
}

func TestSelectorIsAUsageError(t *testing.T) {
	lf := &listFlags{selector: "team in (a"}
	if _, err := lf.options("ns"); ExitCode(err) != ExitUsage || !strings.Contains(fmtErr(err), `invalid --selector "team in (a"`) {
		t.Errorf("bad selector: %v", err)
	}
	lf = &listFlags{selector: "team=a,tier!=b", allNamespaces: true}
	opts, err := lf.options("ns")
	if err != nil || len(opts) != 1 {
		t.Errorf("-A -l: %v %v", opts, err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
