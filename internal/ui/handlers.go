package ui

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
	"github.com/dashboardops/access-operator/internal/passcodestatus"
)

// The users table shows a page of defaultLimit rows (?limit=, 1 to maxLimit): a project of
// 10,000 users is not one page of 10,000 rows and their forms.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// inviteRows is how many rows the "+ User" form shows unless asked for more (at most MaxInvites).
const inviteRows = 5

// page is what every template gets.
type page struct {
	Title      string
	NS         string
	Namespaces []string
	CSRF       string
	Roles      []accessv1alpha1.Role
	// Lines are what the operation reported (as the CLI prints them); Warnings likewise.
	Lines    []string
	Warnings []string
	// Error is the error as the CLI prints it ("error: ..."); Forbidden marks an RBAC refusal.
	Error     string
	Forbidden bool

	// Users are the rows of this page of the table: Offset, Offset+1, ... of the Total users that
	// match Query (of All in the project), in the order Sort and Desc ask.
	Users  []ops.UserRow
	Query  string
	Sort   string
	Desc   bool
	Offset int
	Limit  int
	Total  int
	All    int

	User      *ops.UserRow
	Passcodes []accessv1alpha1.Passcode
	Access    accessv1alpha1.Access

	InviteRows []inviteRow
	MaxInvites int
	Grant      ops.PasscodeRequest

	// Reviews are the project's access reviews; Review one of them, with its rows, and whether
	// decisions can still be made on it.
	Reviews    []accessv1alpha1.AccessReview
	Review     *accessv1alpha1.AccessReview
	ReviewRows []ops.ReviewRow
	ReviewOpen bool
}

type inviteRow struct {
	N     int
	Email string
	Role  string
}

// column is a sortable column of the users table.
type column struct{ Key, Title string }

// columns are the table's sortable columns, in order; their keys are those of sortKeys.
var columns = []column{
	{"name", ops.ColumnName}, {"role", ops.ColumnRole}, {"email", ops.ColumnEmail},
	{"status", ops.ColumnUserStatus}, {"login", ops.ColumnLastLogin}, {"passcode", ops.ColumnPasscodeStatus},
}

// Columns are the table's sortable columns.
func (p *page) Columns() []column { return columns }

// sortKeys are the columns the table sorts on, by the ?sort= name.
var sortKeys = map[string]func(ops.UserRow) string{
	"name":     func(r ops.UserRow) string { return strings.ToLower(r.Name) },
	"role":     func(r ops.UserRow) string { return r.Role },
	"email":    func(r ops.UserRow) string { return r.Email },
	"status":   func(r ops.UserRow) string { return r.UserStatus },
	"login":    func(r ops.UserRow) string { return r.LastLogin },
	"passcode": func(r ops.UserRow) string { return r.PasscodeStatus },
}

func (s *Server) ns(r *http.Request) string {
	if ns := r.FormValue("ns"); ns != "" {
		return ns
	}
	return s.namespace
}

func (s *Server) newPage(ctx context.Context, r *http.Request, title string) *page {
	p := &page{Title: title, NS: s.ns(r), CSRF: s.csrfToken(), MaxInvites: ops.MaxInvites}
	p.Roles = ops.RoleChoices(ctx, s.c, p.NS)
	p.Namespaces = s.namespaces(ctx, p.NS)
	return p
}

// namespaces are the projects the caller may list; without that right, the current one alone.
func (s *Server) namespaces(ctx context.Context, current string) []string {
	var list corev1.NamespaceList
	names := []string{current}
	if err := s.c.List(ctx, &list); err != nil {
		return names
	}
	for _, n := range list.Items {
		if n.Name != current {
			names = append(names, n.Name)
		}
	}
	sort.Strings(names[1:])
	return names
}

// fail records err as the CLI prints it.
func (p *page) fail(err error) {
	p.Error = "error: " + err.Error()
	p.Forbidden = apierrors.IsForbidden(err)
}

func (p *page) report(r ops.Result) {
	p.Lines = append(p.Lines, r.Lines...)
	p.Warnings = append(p.Warnings, r.Warnings...)
}

func (s *Server) render(w http.ResponseWriter, name string, status int, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.tmpl.ExecuteTemplate(w, name, data); err != nil {
		_, _ = fmt.Fprintf(w, "<p>template error: %s</p>", html.EscapeString(err.Error()))
	}
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := s.newPage(ctx, r, "Users")
	status := http.StatusOK
	if err := s.fillUsers(ctx, r, p); err != nil {
		status = http.StatusBadRequest
	}
	if r.FormValue("partial") == "rows" {
		// The script updates the count line from this header (the rows alone do not carry it).
		w.Header().Set("X-Users-Shown", p.Shown())
		if p.ServerSide() {
			w.Header().Set("X-Users-Paged", "1")
		}
		s.render(w, "rows", status, p)
		return
	}
	s.render(w, "index", status, p)
}

// pageWindow reads ?limit= (1 to maxLimit, default defaultLimit) and ?offset= (0 or more); a bad
// value is a UsageError naming the parameter and what it takes.
func pageWindow(r *http.Request) (offset, limit int, err error) {
	limit, offset = defaultLimit, 0
	if v := r.FormValue("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return 0, defaultLimit, &ops.UsageError{Err: fmt.Errorf("invalid limit %q: must be a whole number of rows from 1 to %d", v, maxLimit)}
		}
		limit = n
	}
	if v := r.FormValue("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, limit, &ops.UsageError{Err: fmt.Errorf("invalid offset %q: must be a whole number, 0 or more (the first row shown, counted from 0)", v)}
		}
		offset = n
	}
	return offset, limit, nil
}

// fillUsers fills one page of the table: the users of the page's project that match ?q=, sorted
// (?order=KEY or ?order=-KEY from a sort header or the search form's submit, else ?sort=KEY and
// ?desc=1), rows ?offset= to ?offset=+?limit=. The users and Passcodes are read live, page by page
// from the API server, and kept as rows only (a few hundred bytes each), so that search and sort
// cover the whole project and the counts are exact; the rows' forms are rendered for one page. It
// returns the error of a bad parameter, which the page shows.
func (s *Server) fillUsers(ctx context.Context, r *http.Request, p *page) error {
	p.Query = strings.TrimSpace(r.FormValue("q"))
	p.Sort, p.Desc = r.FormValue("sort"), r.FormValue("desc") == "1"
	if order := r.FormValue("order"); order != "" {
		p.Sort, p.Desc = strings.TrimPrefix(order, "-"), strings.HasPrefix(order, "-")
	}
	offset, limit, err := pageWindow(r)
	p.Limit = limit
	if err != nil {
		if p.Error == "" {
			p.fail(err)
		}
		return err
	}
	// Passcode-Status from the Passcodes themselves when they may be read, so that a change of
	// a passcode shows at once; otherwise as the operator last wrote it on the user.
	summaries, err := ops.PasscodeSummaries(ctx, s.c, ops.ChunkSize, time.Now(), client.InNamespace(p.NS))
	if err != nil {
		summaries = nil
	}
	q := strings.ToLower(p.Query)
	var rows []ops.UserRow
	err = ops.EachUserPage(ctx, s.c, ops.ChunkSize, func(users []accessv1alpha1.DashboardUser) error {
		for i := range users {
			row := ops.RowForUser(&users[i])
			if summaries != nil {
				row = ops.RowWithSummary(&users[i], summaries)
			}
			p.All++
			if q == "" || strings.Contains(SearchText(row), q) {
				rows = append(rows, row)
			}
		}
		return nil
	}, client.InNamespace(p.NS))
	if err != nil {
		if p.Error == "" {
			p.fail(err)
		}
		return nil
	}
	ops.SortRows(rows) // by email first, as the page always showed them
	if key, ok := sortKeys[p.Sort]; ok {
		sort.SliceStable(rows, func(i, j int) bool {
			if p.Desc {
				return key(rows[i]) > key(rows[j])
			}
			return key(rows[i]) < key(rows[j])
		})
	}
	p.Total = len(rows)
	p.Offset = min(offset, lastPageStart(p.Total, limit)) // a link that outlived deletions shows the last page
	p.Users = rows[p.Offset:min(p.Offset+limit, p.Total)]
	return nil
}

// lastPageStart is the offset of the last page of total rows, limit a page.
func lastPageStart(total, limit int) int {
	if total == 0 {
		return 0
	}
	return (total - 1) / limit * limit
}

// Paged says whether the rows shown are not all that match: the page then has its pager.
func (p *page) Paged() bool { return p.Total > len(p.Users) }

// ServerSide says whether the project has more users than a page holds: the script then leaves
// search and sort to the server, since the rows in the browser are not all the users.
func (p *page) ServerSide() bool { return p.All > p.Limit }

// CustomLimit says whether the page size is not the default, so that forms carry it on.
func (p *page) CustomLimit() bool { return p.Limit != defaultLimit }

// Shown is the count line: "1–100 of 10,000 users", "3 users", with the search when there is one.
func (p *page) Shown() string {
	var b strings.Builder
	if p.Paged() {
		fmt.Fprintf(&b, "%s–%s of %s users", thousands(p.Offset+1), thousands(p.Offset+len(p.Users)), thousands(p.Total))
	} else {
		b.WriteString(userCount(p.Total))
	}
	if p.Query != "" {
		fmt.Fprintf(&b, " matching “%s” (of %s in the project)", p.Query, thousands(p.All))
	}
	return b.String()
}

// userCount is "1 user", "2 users", "10,000 users".
func userCount(n int) string {
	if n == 1 {
		return "1 user"
	}
	return thousands(n) + " users"
}

// thousands is n with commas: 10,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// PrevURL and NextURL are the addresses of the pages before and after this one ("" when none),
// with the same project, search, order and page size.
func (p *page) PrevURL() string {
	if p.Offset == 0 {
		return ""
	}
	return p.pageURL(max(p.Offset-p.Limit, 0))
}

func (p *page) NextURL() string {
	if p.Offset+len(p.Users) >= p.Total {
		return ""
	}
	return p.pageURL(p.Offset + p.Limit)
}

func (p *page) pageURL(offset int) string {
	v := url.Values{"ns": {p.NS}}
	if p.Query != "" {
		v.Set("q", p.Query)
	}
	if p.Sort != "" {
		v.Set("sort", p.Sort)
		if p.Desc {
			v.Set("desc", "1")
		}
	}
	if p.CustomLimit() {
		v.Set("limit", strconv.Itoa(p.Limit))
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	return "/?" + v.Encode()
}

// export streams the CSV: each page of users is written and flushed as it is read. An error
// before the first row is an HTTP error; one later aborts the response, so that the browser
// reports a failed download instead of keeping a file that ends early.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	ns := s.ns(r)
	var cw *ops.CSVWriter
	flusher, _ := w.(http.Flusher)
	err := ops.EachUserPage(r.Context(), s.c, ops.ChunkSize, func(users []accessv1alpha1.DashboardUser) error {
		if cw == nil {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "users-"+ns+".csv"))
			var err error
			if cw, err = ops.NewCSVWriter(w, false); err != nil {
				return err
			}
		}
		rows := make([]ops.UserRow, len(users))
		for i := range users {
			rows[i] = ops.RowForUser(&users[i])
		}
		if err := cw.Write(rows); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}, client.InNamespace(ns))
	switch {
	case err == nil:
	case cw != nil:
		panic(http.ErrAbortHandler)
	default:
		status := http.StatusBadGateway
		if apierrors.IsForbidden(err) {
			status = http.StatusForbidden
		}
		http.Error(w, "error: "+err.Error(), status)
	}
}

// events streams a message each time a user or a Passcode of the project changes (watches, not
// a refresh loop); the page's script then fetches the table's rows again.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	users, err := s.c.Watch(ctx, &accessv1alpha1.DashboardUserList{}, client.InNamespace(s.ns(r)))
	if err != nil {
		http.Error(w, "error: "+err.Error(), http.StatusForbidden)
		return
	}
	defer users.Stop()
	// Without the right to watch Passcodes the column follows the users' status alone: a nil
	// channel is never ready.
	var passcodeEvents <-chan watch.Event
	if passcodes, err := s.c.Watch(ctx, &accessv1alpha1.PasscodeList{}, client.InNamespace(s.ns(r))); err == nil {
		defer passcodes.Stop()
		passcodeEvents = passcodes.ResultChan()
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()
	heartbeat := time.NewTicker(25 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			_, _ = fmt.Fprint(w, ": keep-alive\n\n")
		case ev, open := <-users.ResultChan():
			if !open {
				return // the browser reconnects
			}
			_, _ = fmt.Fprintf(w, "data: %s\n\n", ev.Type)
		case ev, open := <-passcodeEvents:
			if !open {
				return
			}
			_, _ = fmt.Fprintf(w, "event: passcode\ndata: %s\n\n", ev.Type)
		}
		flusher.Flush()
	}
}

func (s *Server) inviteForm(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r.Context(), r, "+ User")
	n, _ := strconv.Atoi(r.FormValue("rows"))
	if n <= 0 {
		n = inviteRows
	}
	n = min(n, ops.MaxInvites)
	for i := range n {
		p.InviteRows = append(p.InviteRows, inviteRow{N: i + 1, Role: string(accessv1alpha1.RoleMember)})
	}
	s.render(w, "invite", http.StatusOK, p)
}

// invite is "+ User": every filled row (email + role), at most MaxInvites, through ops as the
// invite command does.
func (s *Server) invite(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := s.newPage(ctx, r, "+ User")
	emails, roles := r.PostForm["email"], r.PostForm["role"]
	var entries []ops.InviteEntry
	for i, e := range emails {
		role := ""
		if i < len(roles) {
			role = roles[i]
		}
		p.InviteRows = append(p.InviteRows, inviteRow{N: i + 1, Email: e, Role: role})
		if strings.TrimSpace(e) == "" {
			continue
		}
		entries = append(entries, ops.NewInviteEntry(e, role, fmt.Sprintf("row %d (%q)", i+1, strings.TrimSpace(e))))
	}
	status := http.StatusOK
	invitees, err := ops.ValidateInvitees(entries, "")
	if err == nil {
		err = ops.CheckInviteeRoles(ctx, s.c, p.NS, invitees)
	}
	if err == nil {
		var res ops.InviteResult
		res, err = ops.Invite(ctx, s.c, p.NS, invitees, ops.DryRunNone)
		p.report(res.Result)
		if err == nil {
			p.InviteRows = nil
		}
	}
	if err != nil {
		p.fail(err)
		status = http.StatusUnprocessableEntity
		if p.Forbidden {
			status = http.StatusForbidden
		}
	}
	s.render(w, "invite", status, p)
}

// userPage shows one user and the forms of its actions.
func (s *Server) userPage(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r.Context(), r, "User")
	s.fillUser(r.Context(), r.FormValue("user"), p)
	s.render(w, "user", http.StatusOK, p)
}

func (s *Server) fillUser(ctx context.Context, ref string, p *page) {
	u, err := ops.GetUser(ctx, s.c, p.NS, ref)
	if err != nil {
		if p.Error == "" {
			p.fail(err)
		}
		return
	}
	row := ops.RowForUser(u)
	p.User = &row
	p.Title = row.Email
	p.Access = u.Spec.Access
	if p.Access == "" {
		p.Access = accessv1alpha1.AccessGranted
	}
	// Passcode-Status from the Passcodes, as in the table.
	if passcodes, err := ops.UserPasscodes(ctx, s.c, p.NS, u.Name); err == nil {
		p.Passcodes = passcodes
		summary, _ := passcodestatus.Summarize(time.Now(), passcodes)
		p.User.PasscodeStatus = string(summary)
	}
	if p.Grant.Tenure == "" {
		p.Grant = ops.PasscodeRequest{Tenure: "30d", Rotation: string(accessv1alpha1.RotationManual)}
	}
}

// afterAction shows what the action reported, or its error: on the users table when the form was
// one of the table's rows (from=table), else on the user's page.
func (s *Server) afterAction(w http.ResponseWriter, r *http.Request, p *page, res ops.Result, err error) {
	status := http.StatusOK
	if err != nil {
		p.fail(err)
		status = http.StatusUnprocessableEntity
		if p.Forbidden {
			status = http.StatusForbidden
		}
	} else {
		p.report(res)
	}
	if r.PostFormValue("from") == "table" {
		p.Title = "Users"
		_ = s.fillUsers(r.Context(), r, p)
		s.render(w, "index", status, p)
		return
	}
	s.fillUser(r.Context(), r.FormValue("user"), p)
	s.render(w, "user", status, p)
}

// checked is the value of a ticked checkbox of the forms.
const checked = "yes"

// forced is the "even below the policy's minimum of Admins" box: --force of the plugin.
func forced(r *http.Request) bool { return r.PostFormValue("force") == checked }

// confirmed is the check of the confirmation box of a destructive action.
func confirmed(r *http.Request) error {
	if r.PostFormValue("confirm") != checked {
		return &ops.UsageError{Err: errors.New("not done: tick the confirmation box first")}
	}
	return nil
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r.Context(), r, "User")
	role, err := ops.ParseRole(r.PostFormValue("role"))
	if err == nil {
		err = ops.CheckRoleExists(r.Context(), s.c, p.NS, role)
	}
	var res ops.Result
	if err == nil {
		res, err = ops.SetRole(r.Context(), s.c, p.NS, r.PostFormValue("user"), role, forced(r), ops.DryRunNone)
	}
	s.afterAction(w, r, p, res, err)
}

func (s *Server) access(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r.Context(), r, "User")
	access := accessv1alpha1.Access(r.PostFormValue("access"))
	var res ops.Result
	var err error
	switch access {
	case accessv1alpha1.AccessRevoked:
		if err = confirmed(r); err == nil {
			res, err = ops.SetAccess(r.Context(), s.c, p.NS, r.PostFormValue("user"), access, forced(r), ops.DryRunNone)
		}
	case accessv1alpha1.AccessGranted:
		res, err = ops.SetAccess(r.Context(), s.c, p.NS, r.PostFormValue("user"), access, false, ops.DryRunNone)
	default:
		err = &ops.UsageError{Err: fmt.Errorf("invalid access %q: must be Granted or Revoked", access)}
	}
	s.afterAction(w, r, p, res, err)
}

func (s *Server) resetPasscode(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r.Context(), r, "User")
	var res ops.Result
	err := confirmed(r)
	if err == nil {
		res, err = ops.ResetPasscode(r.Context(), s.c, p.NS, r.PostFormValue("passcode"), r.PostFormValue("immediate") == checked, ops.DryRunNone)
	}
	s.afterAction(w, r, p, res, err)
}

// resendInvite sends the user a fresh invite; the previous link stops working, so it needs its
// confirmation box ticked like the other actions that end something.
func (s *Server) resendInvite(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r.Context(), r, "User")
	var res ops.Result
	err := confirmed(r)
	if err == nil {
		res, err = ops.ResendInvite(r.Context(), s.c, p.NS, r.PostFormValue("user"), ops.DryRunNone)
	}
	s.afterAction(w, r, p, res, err)
}

func (s *Server) grantPasscode(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r.Context(), r, "User")
	p.Grant = ops.PasscodeRequest{
		Tenure: strings.TrimSpace(r.PostFormValue("tenure")), Rotation: r.PostFormValue("rotation"),
		RenewBefore: strings.TrimSpace(r.PostFormValue("renew-before")), Grace: strings.TrimSpace(r.PostFormValue("grace")),
	}
	spec, err := p.Grant.Spec()
	var res ops.Result
	if err == nil {
		res, err = ops.GrantPasscode(r.Context(), s.c, p.NS, r.PostFormValue("user"), &p.Grant, spec, ops.DryRunNone)
	}
	s.afterAction(w, r, p, res, err)
}

// userURL is the address of a user's page.
func userURL(ns, user string) string {
	return "/user?" + url.Values{"ns": {ns}, "user": {user}}.Encode()
}

// SortOrder is the ?order= of the sort header of column key: ascending, or descending when the
// table already is ascending on key.
func (p *page) SortOrder(key string) string {
	if p.Sort == key && !p.Desc {
		return "-" + key
	}
	return key
}

// SearchText is what the search box matches a row against, lower case: the server's filter and
// the page's script (data-search) use the same text, the name as shown (ops.Visible).
func SearchText(row ops.UserRow) string {
	return strings.ToLower(strings.Join([]string{row.Object, ops.Visible(row.Name), row.Role, row.Email, row.UserStatus, row.PasscodeStatus}, " "))
}

// AriaSort is the aria-sort of the column key.
func (p *page) AriaSort(key string) string {
	switch {
	case p.Sort != key:
		return "none"
	case p.Desc:
		return "descending"
	}
	return "ascending"
}
