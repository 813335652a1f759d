package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
)

// ArgoHealth runs config/argocd/health.lua on an object (JSON, as `kubectl get -o json` prints it)
// the way Argo CD runs a health customization: the object as the global `obj`, the script
// returning a table with status and message.
func ArgoHealth(object []byte) (status, message string, err error) {
	root, err := RepoRoot()
	if err != nil {
		return "", "", err
	}
	script, err := os.ReadFile(filepath.Join(root, "config/argocd/health.lua")) //nolint:gosec // the repository's own file
	if err != nil {
		return "", "", err
	}
	var obj any
	if err := json.Unmarshal(object, &obj); err != nil {
		return "", "", fmt.Errorf("the object is not JSON: %w", err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(script)); err != nil {
		return "", "", fmt.Errorf("health.lua: %w", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", errors.New("health.lua returned no table")
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String(), nil
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
