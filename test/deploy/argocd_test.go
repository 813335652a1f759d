package deploy

import (
	"testing"

	"github.com/dashboardops/access-operator/internal/testenv"
)

func argoHealth(t *testing.T, object string) (string, string) {
	t.Helper()
	status, message, err := testenv.ArgoHealth([]byte(object))
	if err != nil {
		t.Fatal(err)
	}
	return status, message
}

func TestArgoCDHealthCheck(t *testing.T) {
	cases := []struct {
		name, object, status, message string
	}{
		{"no status yet", `{"metadata":{"generation":1}}`, "Progressing", "Waiting for the operator"},
		{"old generation", `{"metadata":{"generation":2},"status":{"observedGeneration":1,"conditions":[
			{"type":"Ready","status":"True","reason":"Issued","message":"ok"}]}}`, "Progressing", "Waiting for the operator to see the latest spec"},
		{"issued passcode", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[
			{"type":"Ready","status":"True","reason":"Issued","message":"Revision 1 is valid until 2026-02-01T00:00:00Z"}]}}`,
			"Healthy", "Revision 1 is valid until 2026-02-01T00:00:00Z"},
		{"waiting for its user", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[
			{"type":"Ready","status":"False","reason":"UserNotFound","message":"Waiting for DashboardUser \"jane\" to exist"},
			{"type":"Reconciling","status":"True","reason":"UserNotFound","message":"Waiting for DashboardUser \"jane\" to exist"}]}}`,
			"Progressing", "Waiting for DashboardUser \"jane\" to exist"},
		{"secret conflict", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[
			{"type":"Ready","status":"False","reason":"SecretConflict","message":"taken"},
			{"type":"Stalled","status":"True","reason":"SecretConflict","message":"taken"}]}}`, "Degraded", "taken"},
		{"expired passcode", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[
			{"type":"Ready","status":"False","reason":"Expired","message":"Revision 1 expired"}]}}`, "Degraded", "Expired: Revision 1 expired"},
		{"revoked passcode", `{"metadata":{"generation":2},"spec":{"revoked":true},"status":{"observedGeneration":2,"conditions":[
			{"type":"Ready","status":"False","reason":"Revoked","message":"spec.revoked is true; the passcode no longer works"}]}}`,
			"Healthy", "Revoked: spec.revoked is true; the passcode no longer works"},
		{"expired invite", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[
			{"type":"Ready","status":"False","reason":"InviteExpired","message":"The invite link expired"}]}}`, "Degraded", "InviteExpired: The invite link expired"},
		{"invited user", `{"metadata":{"generation":3},"status":{"observedGeneration":3,"conditions":[
			{"type":"Ready","status":"True","reason":"Invited","message":"Invite sent"}]}}`, "Healthy", "Invite sent"},
		{"user waiting for its role", `{"kind":"DashboardUser","metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[
			{"type":"Ready","status":"False","reason":"RoleNotFound","message":"role \"analyst\" does not exist"},
			{"type":"Reconciling","status":"True","reason":"RoleNotFound","message":"role \"analyst\" does not exist"}]}}`,
			"Progressing", "role \"analyst\" does not exist"},
		{"counted role", `{"kind":"DashboardRole","metadata":{"generation":2},"status":{"observedGeneration":2,"users":3,"conditions":[
			{"type":"Ready","status":"True","reason":"Available","message":"used by 3 users"}]}}`, "Healthy", "used by 3 users"},
		{"role edited, not counted again yet", `{"kind":"DashboardRole","metadata":{"generation":3},"status":{"observedGeneration":2,"conditions":[
			{"type":"Ready","status":"True","reason":"Available","message":"used by 3 users"}]}}`,
			"Progressing", "Waiting for the operator to see the latest spec"},
		{"new role", `{"kind":"DashboardRole","metadata":{"generation":1}}`, "Progressing", "Waiting for the operator"},
		{"role not Ready", `{"kind":"DashboardRole","metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[
			{"type":"Ready","status":"False","reason":"Something","message":"not yet"}]}}`, "Progressing", "Waiting for the operator"},
	}
	for _, c := range cases {
		status, message := argoHealth(t, c.object)
		if status != c.status || message != c.message {
			t.Errorf("%s: got %s %q, want %s %q", c.name, status, message, c.status, c.message)
		}
	}
}
