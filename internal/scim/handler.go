package scim

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Prefix is where the access server mounts the handler; the account (namespace) follows it.
const Prefix = "/scim/v2/"

// maxBodyBytes bounds a request body: a user or a PATCH is a few hundred bytes, a group PUT with
// every member a few hundred kilobytes.
const maxBodyBytes = 4 << 20

// MinTokenLength is the shortest token accepted: a shorter one in a Secret never matches, since the
// endpoint does not throttle failures and a short token could be guessed.
const MinTokenLength = 16

// TokenSource returns the digests (SHA-256) of the bearer tokens an account accepts, each token at
// least MinTokenLength and at most MaxTokenLength bytes long: only digests are kept in memory.
type TokenSource interface {
	Tokens(ctx context.Context, account string) ([]Digest, error)
}

// SCIM writes the users an identity provider manages, and lists roles for its groups.
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers,verbs=create;patch;delete
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardroles,verbs=get;list;watch

// Handler serves SCIM under Prefix + "<account>/".
type Handler struct {
	// Reader reads DashboardUsers and DashboardRoles, from the manager's cache: what GETs and lists
	// answer.
	Reader client.Reader
	// Live reads DashboardUsers straight from the API server, for every write: a write computed
	// from a cache a moment behind would put back what the previous request changed (a PATCH of
	// active after a PATCH of displayName), and a group edit would miss a member that just joined.
	Live client.Reader
	// Writer creates, patches and deletes DashboardUsers.
	Writer client.Client
	// Tokens authenticates requests.
	Tokens TokenSource
	mux    *http.ServeMux
}

// NewHandler builds a Handler.
func NewHandler(reader, live client.Reader, writer client.Client, tokens TokenSource) *Handler {
	h := &Handler{Reader: reader, Live: live, Writer: writer, Tokens: tokens, mux: http.NewServeMux()}
	routes := map[string]func(http.ResponseWriter, *http.Request, *request){
		"GET /ServiceProviderConfig": h.serviceProviderConfig,
		"GET /ResourceTypes":         h.resourceTypes,
		"GET /ResourceTypes/{id}":    h.resourceType,
		"GET /Schemas":               h.schemas,
		"GET /Schemas/{id}":          h.schema,
		"GET /Users":                 h.listUsers,
		"POST /Users":                h.createUser,
		"GET /Users/{id}":            h.getUser,
		"PUT /Users/{id}":            h.replaceUser,
		"PATCH /Users/{id}":          h.patchUser,
		"DELETE /Users/{id}":         h.deleteUser,
		"GET /Groups":                h.listGroups,
		"POST /Groups":               h.createGroup,
		"GET /Groups/{id}":           h.getGroup,
		"PUT /Groups/{id}":           h.replaceGroup,
		"PATCH /Groups/{id}":         h.patchGroup,
		"DELETE /Groups/{id}":        h.deleteGroup,
	}
	for pattern, fn := range routes {
		method, path, _ := strings.Cut(pattern, " ")
		h.mux.Handle(method+" "+Prefix+"{account}"+path, h.authenticated(fn))
	}
	h.mux.Handle(Prefix, h.authenticated(unrouted))
	return h
}

// unrouted answers what no route takes: a known endpoint with another method (405), an optional
// SCIM feature this provider lacks (501), or nothing (404).
func unrouted(w http.ResponseWriter, r *http.Request, req *request) {
	rest := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, Prefix+req.account), "/"), "/")
	var allow string
	switch {
	case len(rest) == 1 && (rest[0] == "Users" || rest[0] == "Groups"):
		allow = "GET, POST"
	case len(rest) == 2 && (rest[0] == "Users" || rest[0] == "Groups"):
		allow = "GET, PUT, PATCH, DELETE"
	case len(rest) <= 2 && (rest[0] == "ServiceProviderConfig" || rest[0] == "ResourceTypes" || rest[0] == "Schemas"):
		allow = "GET"
	case len(rest) == 1 && (rest[0] == "Bulk" || rest[0] == "Me" || rest[0] == ".search"):
		writeError(w, errorf(http.StatusNotImplemented, "", "%s is not supported (see ServiceProviderConfig)", rest[0]))
		return
	default:
		writeError(w, errorf(http.StatusNotFound, "", "no such SCIM endpoint: use Users, Groups, ServiceProviderConfig, ResourceTypes or Schemas"))
		return
	}
	w.Header().Set("Allow", allow)
	writeError(w, errorf(http.StatusMethodNotAllowed, "", "%s %s: use %s", r.Method, rest[0], allow))
}

// ServeHTTP serves SCIM.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// request is what every endpoint needs: the account, and its base URL for meta.location.
type request struct {
	account string
	base    string
}

// authenticated answers 401 unless the request carries a bearer token of its account. Every
// token is compared, in constant time over their hashes, so the answer takes as long whichever
// token (if any) matched. The token is never logged.
func (h *Handler) authenticated(next func(http.ResponseWriter, *http.Request, *request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account := r.PathValue("account")
		if account == "" {
			account, _, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, Prefix), "/")
		}
		if !h.authorized(r, account) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
			writeError(w, errorf(http.StatusUnauthorized, "",
				"a bearer token of this account is required: the token key of a Secret labelled access.dashboardops.io/scim-token=true "+
					"in the account's namespace, which must be annotated access.dashboardops.io/scim-enabled=true"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next(w, r, &request{account: account, base: baseURL(r, account)})
	})
}

func (h *Handler) authorized(r *http.Request, account string) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(token) < MinTokenLength || len(token) > MaxTokenLength ||
		len(validation.IsDNS1123Label(account)) > 0 {
		return false
	}
	tokens, err := h.Tokens.Tokens(r.Context(), account)
	if err != nil {
		// At V(1): any caller can name an account outside --watch-namespaces, and must not be able
		// to fill the log with errors.
		log.FromContext(r.Context()).V(1).Info("Cannot read the SCIM tokens", "account", account, "error", err.Error())
		return false
	}
	presented := sha256.Sum256([]byte(token))
	match := 0
	for _, want := range tokens {
		match |= subtle.ConstantTimeCompare(presented[:], want[:])
	}
	return match == 1
}

// baseURL is the account's SCIM URL as the client reached it.
func baseURL(r *http.Request, account string) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Prefix + account
}

// decodeBody reads a JSON object.
func decodeBody(r *http.Request) (map[string]any, *Error) {
	var body map[string]any
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, TypeTooMany, "the request body is larger than %d bytes", maxBodyBytes)
		}
		return nil, badRequest(TypeInvalidSyntax, "the body must be a JSON object: %v", err)
	}
	if body == nil {
		return nil, badRequest(TypeInvalidSyntax, "the body must be a JSON object")
	}
	return body, nil
}

// checkIfMatch answers 412 when If-Match names another version than resourceVersion. It reports
// whether the client asked for one, so that the write is made conditional on it too.
func checkIfMatch(r *http.Request, resourceVersion string) (bool, *Error) {
	im := strings.TrimSpace(r.Header.Get("If-Match"))
	if im == "" || im == "*" {
		return false, nil
	}
	for _, tag := range strings.Split(im, ",") {
		tag = strings.TrimSpace(tag)
		if tag == Version(resourceVersion) || tag == `"`+resourceVersion+`"` {
			return true, nil
		}
	}
	return true, errorf(http.StatusPreconditionFailed, "", "If-Match: the resource is at version %s; read it again", Version(resourceVersion))
}

// writeResource answers a resource with its ETag.
func writeResource(w http.ResponseWriter, status int, res map[string]any) {
	if m, ok := res[attrMeta].(map[string]any); ok {
		if v, ok := m["version"].(string); ok {
			w.Header().Set("ETag", v)
		}
		if status == http.StatusCreated {
			if l, ok := m[attrLocation].(string); ok {
				w.Header().Set("Location", l)
			}
		}
	}
	writeJSON(w, status, res)
}

// apiError turns an API error into a SCIM one without losing its reason.
func apiError(err error, what string) *Error {
	switch {
	case apierrors.IsNotFound(err):
		return errorf(http.StatusNotFound, "", "%s not found", what)
	case apierrors.IsAlreadyExists(err):
		return errorf(http.StatusConflict, TypeUniqueness, "%s already exists", what)
	case apierrors.IsConflict(err):
		return errorf(http.StatusPreconditionFailed, "", "%s changed since the version in If-Match; read it again", what)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return badRequest(TypeInvalidValue, "%s: %v", what, apierrors.ReasonForError(err))
	case apierrors.IsForbidden(err):
		return errorf(http.StatusForbidden, "", "the operator may not write %s: %v", what, err)
	}
	return errorf(http.StatusInternalServerError, "", "%s: the Kubernetes API failed: %v", what, err)
}

// page reads startIndex (1-based) and count (RFC 7644 section 3.4.2.4).
func page(r *http.Request, total int) (start, count int) {
	start, count = 1, maxResults
	if v, err := strconv.Atoi(r.URL.Query().Get("startIndex")); err == nil && v > 1 {
		start = v
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("count")); err == nil && v < maxResults {
		count = max(v, 0) // a negative count is 0 (RFC 7644 section 3.4.2.4)
	}
	if start > total+1 {
		start = total + 1
	}
	if rest := total - (start - 1); count > rest {
		count = rest
	}
	return start, count
}

// maxResults is the most resources one list answer holds (ServiceProviderConfig filter.maxResults).
const maxResults = 1000

// listResponse filters, pages and projects resources into a ListResponse.
func listResponse(r *http.Request, all []map[string]any) (map[string]any, *Error) {
	f, err := ParseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		return nil, err
	}
	matched := make([]map[string]any, 0, len(all))
	for _, res := range all {
		ok, err := f.Match(res)
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, res)
		}
	}
	start, count := page(r, len(matched))
	resources := make([]any, 0, count)
	for _, res := range matched[start-1 : start-1+count] {
		resources = append(resources, project(r, res))
	}
	return map[string]any{
		attrSchemas:    []any{SchemaListResponse},
		"totalResults": len(matched),
		"startIndex":   start,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}, nil
}

// project applies attributes and excludedAttributes (top-level names; id, schemas and meta always
// stay): Entra ID asks for groups without their members so.
func project(r *http.Request, res map[string]any) map[string]any {
	q := r.URL.Query()
	only, except := splitNames(q.Get("attributes")), splitNames(q.Get("excludedAttributes"))
	if len(only) == 0 && len(except) == 0 {
		return res
	}
	out := make(map[string]any, len(res))
	for k, v := range res {
		lk := strings.ToLower(k)
		always := lk == attrID || lk == attrSchemas || lk == attrMeta
		if !always && ((len(only) > 0 && !only[lk]) || except[lk]) {
			continue
		}
		out[k] = v
	}
	return out
}

func splitNames(s string) map[string]bool {
	out := map[string]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		if i := strings.LastIndex(n, ":"); i >= 0 { // a URN-qualified name
			n = n[i+1:]
		}
		if n, _, _ = strings.Cut(n, "."); n != "" {
			out[n] = true
		}
	}
	return out
}
