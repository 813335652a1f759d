package scim

import (
	"net/http"
	"strings"
)

// The discovery endpoints (RFC 7644 section 4): what this provider supports, for IdPs and admins.

func (h *Handler) serviceProviderConfig(w http.ResponseWriter, _ *http.Request, req *request) {
	writeJSON(w, http.StatusOK, map[string]any{
		attrSchemas:        []any{SchemaSPConfig},
		"documentationUri": "https://github.com/dashboardops/access-operator/blob/main/docs/scim.md",
		"patch":            map[string]any{attrSupported: true},
		"bulk":             map[string]any{attrSupported: false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{attrSupported: true, "maxResults": maxResults},
		"changePassword":   map[string]any{attrSupported: false},
		"sort":             map[string]any{attrSupported: false},
		"etag":             map[string]any{attrSupported: true},
		"authenticationSchemes": []any{map[string]any{
			attrType:        "oauthbearertoken",
			attrName:        "Bearer token",
			attrDescription: "The token key of a Secret labelled access.dashboardops.io/scim-token=true in the account's namespace",
			attrPrimary:     true,
		}},
		attrMeta: map[string]any{attrResourceType: "ServiceProviderConfig", attrLocation: req.base + "/ServiceProviderConfig"},
	})
}

func resourceTypeResources(base string) []map[string]any {
	return []map[string]any{
		{
			attrSchemas: []any{SchemaResourceType}, attrID: resourceUser, attrName: resourceUser, "endpoint": "/Users",
			attrDescription: "A dashboard user (DashboardUser)", "schema": SchemaUser,
			attrMeta: map[string]any{attrResourceType: "ResourceType", attrLocation: base + "/ResourceTypes/User"},
		},
		{
			attrSchemas: []any{SchemaResourceType}, attrID: resourceGroup, attrName: resourceGroup, "endpoint": "/Groups",
			attrDescription: "A dashboard role: its members are the users holding it", "schema": SchemaGroup,
			attrMeta: map[string]any{attrResourceType: "ResourceType", attrLocation: base + "/ResourceTypes/Group"},
		},
	}
}

func (h *Handler) resourceTypes(w http.ResponseWriter, r *http.Request, req *request) {
	writeList(w, r, resourceTypeResources(req.base))
}

func (h *Handler) resourceType(w http.ResponseWriter, r *http.Request, req *request) {
	writeOne(w, r.PathValue(attrID), resourceTypeResources(req.base))
}

// attr describes one attribute of a schema (RFC 7643 section 7).
func attr(name, typ, mutability, description string, multi bool, subs ...map[string]any) map[string]any {
	a := map[string]any{
		attrName: name, attrType: typ, "multiValued": multi, attrDescription: description, "required": name == attrUserName,
		"caseExact": name == attrID || name == attrExternalID, "mutability": mutability, "returned": "default", "uniqueness": "none",
	}
	if name == attrUserName {
		a["uniqueness"] = "server"
	}
	if len(subs) > 0 {
		a["subAttributes"] = subs
	}
	return a
}

func schemaResources(base string) []map[string]any {
	user := []any{
		attr(attrUserName, "string", "immutable", "The user's email address (spec.email), lower-cased.", false),
		attr(attrDisplayName, "string", "readWrite", "The Name column (spec.displayName).", false),
		attr(attrName, "complex", "readWrite", "name.formatted is spec.displayName; givenName and familyName make it when it is not sent.", false,
			attr("formatted", "string", "readWrite", "", false), attr("givenName", "string", "writeOnly", "", false),
			attr("familyName", "string", "writeOnly", "", false)),
		attr(attrEmails, "complex", "readWrite", "The primary (or work) address is the email when userName is not one.", true,
			attr(attrValue, "string", "readWrite", "", false), attr(attrType, "string", "readWrite", "", false),
			attr(attrPrimary, "boolean", "readWrite", "", false)),
		attr(attrActive, "boolean", "readWrite", "false revokes access (spec.access Revoked) and every passcode of the user at once.", false),
		attr(attrRoles, "complex", "readWrite", "The user's one role (spec.role): Admin, Creator, Member, Approver or a DashboardRole.", true,
			attr(attrValue, "string", "readWrite", "", false), attr(attrDisplay, "string", "readOnly", "", false),
			attr(attrPrimary, "boolean", "readWrite", "", false)),
		attr("groups", "complex", "readOnly", "The group of the user's role.", true,
			attr(attrValue, "string", "readOnly", "", false), attr(attrDisplay, "string", "readOnly", "", false)),
	}
	group := []any{
		attr(attrDisplayName, "string", "readOnly", "The role's name.", false),
		attr(attrMembers, "complex", "readWrite", "The users holding the role; adding one sets its role.", true,
			attr(attrValue, "string", "immutable", "", false), attr(attrDisplay, "string", "readOnly", "", false)),
	}
	return []map[string]any{
		{attrSchemas: []any{SchemaSchema}, attrID: SchemaUser, attrName: resourceUser, attrDescription: "Dashboard user", "attributes": user,
			attrMeta: map[string]any{attrResourceType: "Schema", attrLocation: base + "/Schemas/" + SchemaUser}},
		{attrSchemas: []any{SchemaSchema}, attrID: SchemaGroup, attrName: resourceGroup, attrDescription: "Dashboard role", "attributes": group,
			attrMeta: map[string]any{attrResourceType: "Schema", attrLocation: base + "/Schemas/" + SchemaGroup}},
	}
}

func (h *Handler) schemas(w http.ResponseWriter, r *http.Request, req *request) {
	writeList(w, r, schemaResources(req.base))
}

func (h *Handler) schema(w http.ResponseWriter, r *http.Request, req *request) {
	writeOne(w, r.PathValue(attrID), schemaResources(req.base))
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
		if strings.EqualFold(res[attrID].(string), id) {
			writeJSON(w, http.StatusOK, res)
			return
		}
	}
	writeError(w, errorf(http.StatusNotFound, "", "%q not found", id))
}
