package scim

import (
	"encoding/json"
	"strings"
)

// SCIM attribute names are case-insensitive (RFC 7643 section 2.1): these helpers look them up so
// in the JSON objects clients send.

// get returns m's attribute name, whatever its case.
func get(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// key returns the key m holds name under, or name when m does not hold it.
func key(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// set sets m's attribute name, replacing it in whatever case it was held.
func set(m map[string]any, name string, v any) {
	m[key(m, name)] = v
}

// del removes m's attribute name, whatever its case.
func del(m map[string]any, name string) {
	delete(m, key(m, name))
}

func getString(m map[string]any, name string) string {
	v, _ := get(m, name)
	s, _ := v.(string)
	return s
}

func getObject(m map[string]any, name string) map[string]any {
	v, _ := get(m, name)
	o, _ := v.(map[string]any)
	return o
}

// getList returns a multi-valued attribute. A single value stands for a list of one, and a string
// holding JSON is decoded: Entra ID sends some complex values so.
func getList(m map[string]any, name string) ([]any, bool) {
	v, ok := get(m, name)
	if !ok || v == nil {
		return nil, ok
	}
	return asList(v), true
}

func asList(v any) []any {
	switch t := v.(type) {
	case []any:
		return t
	case string:
		if s := strings.TrimSpace(t); strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{") {
			var decoded any
			if json.Unmarshal([]byte(s), &decoded) == nil {
				return asList(decoded)
			}
		}
		return []any{t}
	default:
		return []any{t}
	}
}

// clone deep-copies a JSON value, so that a PATCH never edits the resource it started from.
func clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = clone(e)
		}
		return out
	default:
		return v
	}
}

// Attribute names of SCIM's core schemas, as this package writes them.
const (
	attrSchemas      = "schemas"
	attrID           = "id"
	attrMeta         = "meta"
	attrUserName     = "userName"
	attrDisplayName  = "displayName"
	attrName         = "name"
	attrPrimary      = "primary"
	attrDisplay      = "display"
	attrValue        = "value"
	attrType         = "type"
	attrLocation     = "location"
	attrDescription  = "description"
	attrSupported    = "supported"
	attrMembers      = "members"
	attrRoles        = "roles"
	attrActive       = "active"
	attrExternalID   = "externalId"
	attrEmails       = "emails"
	attrResourceType = "resourceType"

	resourceUser  = "User"
	resourceGroup = "Group"

	// trueString is "true" as labels, annotations and lenient booleans spell it.
	trueString = "true"
)
