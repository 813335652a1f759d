// Package scim is a SCIM 2.0 service provider (RFC 7643, RFC 7644) for DashboardUsers: identity
// providers such as Okta and Entra ID create, update, deactivate and delete users, and push groups
// that are the dashboard's roles. The access server serves it under /scim/v2/<account>/.
//
// The mapping between SCIM resources and DashboardUsers, filters and PATCH operations are pure
// functions over SCIM's JSON (map[string]any), so that both IdPs' dialects are table-tested
// without an API server; Handler glues them to a cache (reads) and a client (writes).
package scim
