package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// reviewUsersManifest is a project's users as kept in Git.
const reviewUsersManifest = `
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: alice, namespace: default}
spec: {email: alice@example.com, role: Admin, displayName: Alice}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: bob, namespace: default}
spec: {email: bob@example.com, role: Member}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: carol, namespace: default}
spec: {email: carol@example.com, role: Member}
`

// TestAccessReviewThroughTheBinaries: a review applied with kubectl records the users, decisions
// are made with the built plugin, and at the (real) deadline the manager revokes bob (decided
// Revoke) and carol (undecided, default Revoke) and keeps alice; the plugin's CSV is the evidence.
func TestAccessReviewThroughTheBinaries(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	dev := startDev(t, state)
	defer dev.interrupt()

	write := func(name, body string) string { return writeFile(t, state, name, body) }
	dev.kubectl("apply", "-f", write("users.yaml", reviewUsersManifest))
	deadline := time.Now().Add(25 * time.Second).UTC().Truncate(time.Second)
	dev.kubectl("apply", "-f", write("review.yaml", fmt.Sprintf(`
apiVersion: access.dashboardops.io/v1alpha1
kind: AccessReview
metadata: {name: q4, namespace: default}
spec:
  deadline: %s
  reviewers: [lead@example.com]
`, deadline.Format(time.RFC3339))))
	jsonpath := func(obj, path string) string { return dev.kubectl("get", obj, "-n", "default", "-o", "jsonpath="+path) }
	waitFor(t, 20*time.Second, "the review's snapshot", func() bool {
		return jsonpath("accessreview/q4", "{.status.phase}/{.status.total}") == "Open/3"
	})

	out := dev.plugin("review", "decide", "q4", "alice@example.com", "--keep", "--reason", "on call", "-n", "default")
	if out != "accessreview/q4: alice@example.com decided Keep\n" {
		t.Fatalf("review decide said:\n%s", out)
	}
	dev.plugin("review", "decide", "q4", "bob@example.com", "--revoke", "-n", "default")
	waitFor(t, 10*time.Second, "the decisions counted", func() bool { return jsonpath("accessreview/q4", "{.status.undecided}") == "1" })
	if got := dev.kubectl("get", "arev", "-n", "default"); !strings.Contains(got, "Open") || !strings.Contains(got, "UNDECIDED") {
		t.Errorf("kubectl get arev:\n%s", got)
	}
	if jsonpath("dashboarduser/carol", "{.spec.access}") == "Revoked" {
		t.Fatal("carol was revoked before the deadline")
	}

	waitFor(t, time.Until(deadline)+30*time.Second, "the review to complete at its deadline", func() bool {
		return jsonpath("accessreview/q4", "{.status.phase}") == "Completed"
	})
	if done := jsonpath("accessreview/q4", "{.status.completedAt}"); done < deadline.Format(time.RFC3339) {
		t.Errorf("completed at %s, before its deadline %s", done, deadline.Format(time.RFC3339))
	}
	for user, want := range map[string]string{"alice": "Granted", "bob": "Revoked", "carol": "Revoked"} {
		got := jsonpath("dashboarduser/"+user, "{.spec.access}")
		if got == "" {
			got = "Granted" // the default, unset
		}
		if got != want {
			t.Errorf("%s: access %q, want %s", user, got, want)
		}
	}
	waitFor(t, 20*time.Second, "carol's user to be Revoked", func() bool { return jsonpath("dashboarduser/carol", "{.status.phase}") == "Revoked" })

	csv := dev.plugin("review", "export", "q4", "-o", "csv", "-n", "default")
	lines := strings.Split(csv, "\n")
	if len(lines) < 8 || lines[0] != "User,Name,Email,Role,User Status,Last Login,Last Passcode Use,Decision,Decided By,Decided At,Reason,Outcome" {
		t.Fatalf("export:\n%s", csv)
	}
	for i, want := range []string{"alice,Alice,alice@example.com,Admin,", "bob,,bob@example.com,Member,", "carol,,carol@example.com,Member,"} {
		if !strings.HasPrefix(lines[i+1], want) {
			t.Errorf("row %d: %q, want prefix %q", i+1, lines[i+1], want)
		}
	}
	if !strings.HasSuffix(lines[1], ",Keep,"+decider(lines[1])+","+field(lines[1], 9)+",on call,Kept") || decider(lines[1]) == "" {
		t.Errorf("alice's row: %q", lines[1])
	}
	if !strings.HasSuffix(lines[2], ",Revoked") || !strings.Contains(lines[2], ",Revoke,") || decider(lines[2]) == "" {
		t.Errorf("bob's row: %q", lines[2])
	}
	if !strings.HasSuffix(lines[3], ",Revoke,(default decision),,,Revoked") {
		t.Errorf("carol's row: %q", lines[3])
	}
	if lines[4] != "" || lines[5] != "Change,User,Email,Previous Role,Role" || lines[6] != "No previous completed review,,,," {
		t.Errorf("the changes part:\n%s", strings.Join(lines[4:], "\n"))
	}
}

// field is the i-th CSV field of a row without quoted commas.
func field(row string, i int) string {
	f := strings.Split(row, ",")
	if i < len(f) {
		return f[i]
	}
	return ""
}

// decider is a row's Decided By.
func decider(row string) string { return field(row, 8) }
