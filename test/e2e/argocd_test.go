package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dashboardops/access-operator/internal/testenv"
)

// argoObjects puts every kind in every phase it settles in (and one in progress).
const argoObjects = `
apiVersion: v1
kind: Secret
metadata: {name: taken, namespace: default}
stringData: {note: someone else's}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: invited, namespace: default}
spec: {email: invited@example.com, role: Member}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: accepted, namespace: default}
spec: {email: accepted@example.com, role: Creator}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: revoked, namespace: default}
spec: {email: revoked@example.com, role: Member, access: Revoked}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: late, namespace: default}
spec: {email: late@example.com, role: Member, invite: {ttl: 1m}}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: analyst, namespace: default}
spec: {email: analyst@example.com, role: analyst}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardRole
metadata: {name: analyst, namespace: default}
spec: {description: reads reports, permissions: [reports.read, dashboards.read]}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: roleless, namespace: default}
spec: {email: roleless@example.com, role: ghost}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: active, namespace: default}
spec: {userRef: {name: invited}, tenure: 30d}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: short, namespace: default}
spec: {userRef: {name: invited}, tenure: 1m}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: withdrawn, namespace: default}
spec: {userRef: {name: invited}, tenure: 30d, revoked: true}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: of-revoked-user, namespace: default}
spec: {userRef: {name: revoked}, tenure: 30d}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: orphan, namespace: default}
spec: {userRef: {name: nobody}, tenure: 30d}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: conflict, namespace: default}
spec: {userRef: {name: invited}, tenure: 30d, secretName: taken}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: bad-template, namespace: default}
spec: {userRef: {name: invited}, tenure: 30d, secretTemplate: {data: {k: '{{ sha256 .Passcode }}'}}}
`

var acceptedLink = regexp.MustCompile(`Invite for accepted@example\.com .*open (http://\S+/invitations/[A-Z2-7]{26})`)

// TestArgoCDHealthOnReconciledObjects runs config/argocd/health.lua on objects the built manager
// reconciled on make dev's control plane, one per phase of each kind, as Argo CD would see them.
func TestArgoCDHealthOnReconciledObjects(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", port)
	state := t.TempDir()
	dev := startDev(t, state, "--access-bind-address=127.0.0.1:"+fmt.Sprint(port), "--public-url="+public)
	defer dev.interrupt()
	manifest := filepath.Join(state, "argo.yaml")
	if err := os.WriteFile(manifest, []byte(argoObjects), 0o600); err != nil {
		t.Fatal(err)
	}
	dev.kubectl("apply", "-f", manifest)

	var link string
	waitFor(t, 30*time.Second, "the invite link of accepted@example.com", func() bool {
		m := acceptedLink.FindStringSubmatch(dev.output.String())
		if m != nil {
			link = m[1]
		}
		return m != nil
	})
	phase := func(obj string) string {
		if strings.HasPrefix(obj, "dashboardrole/") {
			// A role has no phase: it settles once its users are counted.
			return dev.kubectl("get", obj, "-n", "default", "-o", "jsonpath={.status.users}")
		}
		return dev.kubectl("get", obj, "-n", "default", "-o", "jsonpath={.status.phase}")
	}
	// The link is printed as it is sent, before the status that makes it valid is written.
	waitFor(t, 30*time.Second, "accepted@example.com to be Invited", func() bool { return phase("dashboarduser/accepted") == "Invited" })
	waitFor(t, 30*time.Second, "the invite to be accepted", func() bool {
		resp, err := http.Post(link+"/accept", "application/x-www-form-urlencoded", nil) //nolint:gosec // the test's own dev server
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	cases := []struct {
		obj, phase, health string
	}{
		{"dashboarduser/invited", "Invited", "Healthy"},
		{"dashboarduser/accepted", "Active", "Healthy"},
		{"dashboarduser/revoked", "Revoked", "Healthy"},
		{"dashboarduser/late", "InviteExpired", "Degraded"},
		{"dashboarduser/analyst", "Invited", "Healthy"},
		{"dashboarduser/roleless", "Invited", "Progressing"}, // invited, waiting for its DashboardRole
		{"dashboardrole/analyst", "1", "Healthy"},            // its users counted
		{"passcode/active", "Active", "Healthy"},
		{"passcode/short", "Expired", "Degraded"},
		{"passcode/withdrawn", "Revoked", "Healthy"},
		{"passcode/of-revoked-user", "Pending", "Progressing"}, // never issued while the user is revoked
		{"passcode/orphan", "Pending", "Progressing"},
		{"passcode/conflict", "Pending", "Degraded"},
		{"passcode/bad-template", "Pending", "Degraded"},
	}
	// The 1m passcode and the 1m invite settle last.
	deadline := time.Now().Add(150 * time.Second)
	for {
		var off []string
		for _, c := range cases {
			if got := phase(c.obj); got != c.phase {
				off = append(off, fmt.Sprintf("%s is %q, want %s", c.obj, got, c.phase))
			}
		}
		if len(off) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every object reached its phase: %v", off)
		}
		time.Sleep(time.Second)
	}
	for _, c := range cases {
		object := dev.kubectl("get", c.obj, "-n", "default", "-o", "json")
		status, message, err := testenv.ArgoHealth([]byte(object))
		if err != nil {
			t.Fatal(err)
		}
		if status != c.health {
			t.Errorf("%s (%s): Argo CD health %s (%q), want %s", c.obj, c.phase, status, message, c.health)
		} else {
			t.Logf("%s (%s): %s, %q", c.obj, c.phase, status, message)
		}
	}
}
