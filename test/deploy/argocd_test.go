package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/dashboardops/access-operator/internal/testenv"
)

// argoHealth runs config/argocd/health.lua on an object the way Argo CD does: the object as the
// global `obj`, the script returning a table with status and message.
func argoHealth(t *testing.T, object string) (string, string) {
	t.Helper()
	root, _ := testenv.RepoRoot()
	script, err := os.ReadFile(filepath.Join(root, "config/argocd/health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	var obj any
	if err := json.Unmarshal([]byte(object), &obj); err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(script)); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatal("health.lua returned no table")
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case bool:
		return lua.LBool(x)
	}
	return lua.LNil
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
		{"invited user", `{"metadata":{"generation":3},"status":{"observedGeneration":3,"conditions":[
			{"type":"Ready","status":"True","reason":"Invited","message":"Invite sent"}]}}`, "Healthy", "Invite sent"},
	}
	for _, c := range cases {
		status, message := argoHealth(t, c.object)
		if status != c.status || message != c.message {
			t.Errorf("%s: got %s %q, want %s %q", c.name, status, message, c.status, c.message)
		}
	}
}
