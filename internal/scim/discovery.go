package scim

import (
	"net/http"
	"strings"
)

// The discovery endpoints (RFC 7644 section 4): what this provider supports, for IdPs and admins.

func (h *Handler) serviceProviderConfig(w http.ResponseWriter, _ *http.Request, req *request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []any{SchemaSPConfig},
		"documentationUri": "https://github.com/dashboardops/access-operator/blob/main/docs/scim.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "The token key of a Secret labelled access.dashboardops.io/scim-token=true in the account's namespace",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": req.base + "/ServiceProviderConfig"},
	})
}

func resourceTypeResources(base string) []map[string]any {
	return []map[string]any{
		{
			"schemas": []any{SchemaResourceType}, "id": "User", "name": "User", "endpoint": "/Users",
			"description": "A dashboard user (DashboardUser)", "schema": SchemaUser,
			"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/User"},
		},
		{
			"schemas": []any{SchemaResourceType}, "id": "Group", "name": "Group", "endpoint": "/Groups",
			"description": "A dashboard role: its members are the users holding it", "schema": SchemaGroup,
			"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/Group"},
		},
	}
}

func (h *Handler) resourceTypes(w http.ResponseWriter, r *http.Request, req *request) {
	writeList(w, r, resourceTypeResources(req.base))
}

func (h *Handler) resourceType(w http.ResponseWriter, r *http.Request, req *request) {
	writeOne(w, r.PathValue("id"), resourceTypeResources(req.base))
}

// attr describes one attribute of a schema (RFC 7643 section 7).
func attr(name, typ, mutability, description string, multi bool, subs ...map[string]any) map[string]any {
	a := map[string]any{
		"name": name, "type": typ, "multiValued": multi, "description": description, "required": name == "userName",
		"caseExact": name == "id" || name == "externalId", "mutability": mutability, "returned": "default", "uniqueness": "none",
	}
	if name == "userName" {
		a["uniqueness"] = "server"
	}
	if len(subs) > 0 {
		a["subAttributes"] = subs
	}
	return a
}

func schemaResources(base string) []map[string]any {
	user := []any{
		attr("userName", "string", "immutable", "The user's email address (spec.email), lower-cased.", false),
		attr("displayName", "string", "readWrite", "The Name column (spec.displayName).", false),
		attr("name", "complex", "readWrite", "name.formatted is spec.displayName; givenName and familyName make it when it is not sent.", false,
			attr("formatted", "string", "readWrite", "", false), attr("givenName", "string", "writeOnly", "", false),
			attr("familyName", "string", "writeOnly", "", false)),
		attr("emails", "complex", "readWrite", "The primary (or work) address is the email when userName is not one.", true,
			attr("value", "string", "readWrite", "", false), attr("type", "string", "readWrite", "", false),
			attr("primary", "boolean", "readWrite", "", false)),
		attr("active", "boolean", "readWrite", "false revokes access (spec.access Revoked) and every passcode of the user at once.", false),
		attr("roles", "complex", "readWrite", "The user's one role (spec.role): Admin, Creator, Member, Approver or a DashboardRole.", true,
			attr("value", "string", "readWrite", "", false), attr("display", "string", "readOnly", "", false),
			attr("primary", "boolean", "readWrite", "", false)),
		attr("groups", "complex", "readOnly", "The group of the user's role.", true,
			attr("value", "string", "readOnly", "", false), attr("display", "string", "readOnly", "", false)),
	}
	group := []any{
		attr("displayName", "string", "readOnly", "The role's name.", false),
		attr("members", "complex", "readWrite", "The users holding the role; adding one sets its role.", true,
			attr("value", "string", "immutable", "", false), attr("display", "string", "readOnly", "", false)),
	}
	return []map[string]any{
		{"schemas": []any{SchemaSchema}, "id": SchemaUser, "name": "User", "description": "Dashboard user", "attributes": user,
			"meta": map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + SchemaUser}},
		{"schemas": []any{SchemaSchema}, "id": SchemaGroup, "name": "Group", "description": "Dashboard role", "attributes": group,
			"meta": map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + SchemaGroup}},
	}
}

func (h *Handler) schemas(w http.ResponseWriter, r *http.Request, req *request) {
	writeList(w, r, schemaResources(req.base))
}

func (h *Handler) schema(w http.ResponseWriter, r *http.Request, req *request) {
	writeOne(w, r.PathValue("id"), schemaResources(req.base))
}

func writeList(w http.ResponseWriter, r *http.Request, all []map[string]any) {
	resp, err := listResponse(r, all)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeOne(w http.ResponseWriter, id string, all []map[string]any) {
	for _, res := range all {
		if strings.EqualFold(res["id"].(string), id) {
			writeJSON(w, http.StatusOK, res)
			return
		}
	}
	writeError(w, errorf(http.StatusNotFound, "", "%q not found", id))
}
