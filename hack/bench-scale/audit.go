package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file reads the kube-apiserver's audit log: the only source of the manager's request counts,
// so that they do not depend on what the manager says it did.

// auditPolicy logs, at Metadata level (who, verb, object; never a body, so never a passcode), every
// read and write of the manager's user, its watches (their start: ResponseStarted, to see how its
// informers fill their caches), and every write of everyone else (the bench's own writes, for
// cross-checks). Leader election (Lease renewals every 2 s) is not logged: it is no work per user.
// RequestReceived is omitted so that each request is one event (ResponseComplete, or Panic; a
// watch's ResponseStarted, its ResponseComplete when it ends being skipped).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
- level: Metadata
  users: ["` + managerUser + `"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

// Verbs the report counts as writes and as reads.
var (
	writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}
	readVerbs  = map[string]bool{"get": true, verbList: true}
)

const (
	verbList  = "list"
	verbWatch = "watch"
)

// apiCall is one audited request, reduced to what the report needs.
type apiCall struct {
	at          time.Time // when the API server received it
	user        string
	verb        string
	group       string
	resource    string
	subresource string
	namespace   string
	name        string
	selectors   string // "fieldSelector metadata.name": which selectors a list used, without values
	code        int
	page        pageParams // a list's or watch's paging and resourceVersion parameters
}

// pageParams are what a list or watch asked for: how an informer fills its cache shows here.
type pageParams struct {
	limit           int64  // limit=; 0 when absent
	continued       bool   // continue= (a page after the first)
	resourceVersion string // resourceVersion= ("0": from the watch cache, which ignores limit)
	sendInitial     bool   // sendInitialEvents=true: a watch streaming the initial state (WatchList)
}

func (c apiCall) isWrite() bool { return writeVerbs[c.verb] }
func (c apiCall) isRead() bool  { return readVerbs[c.verb] }
func (c apiCall) isEvent() bool { return c.resource == "events" }
func (c apiCall) isWatch() bool { return c.verb == verbWatch }

// auditEvent is the part of an audit.k8s.io/v1 Event the bench reads.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	RequestURI     string `json:"requestURI"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp metav1.MicroTime `json:"requestReceivedTimestamp"`
}

// auditLog follows the audit log file, parsing each complete line once.
type auditLog struct {
	path string

	mu     sync.Mutex
	offset int64
	calls  []apiCall
	// strings holds one copy of each repeated string (user, verb, resource, namespace, ...): the
	// log holds millions of calls at N=100k, and each parsed line would otherwise keep its own.
	strings map[string]string
}

func newAuditLog(path string) *auditLog { return &auditLog{path: path} }

// auditSettle is how long a window's end waits for the API server to write the last events:
// it writes an event when the handler returns, a moment after the client may have seen the effect.
const auditSettle = time.Second

// sync reads the lines appended since the last call; a last line without its newline is left for
// the next call.
func (a *auditLog) sync() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.Open(a.path) //nolint:gosec // the audit log this run's API server writes
	if err != nil {
		return fmt.Errorf("opening the audit log: %w", err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // an incomplete line (or none) is read again next time
		}
		if err != nil {
			return fmt.Errorf("reading the audit log: %w", err)
		}
		a.offset += int64(len(line))
		if call, ok, err := parseAuditLine(line); err != nil {
			return err
		} else if ok {
			a.calls = append(a.calls, a.interned(call))
		}
	}
}

func (a *auditLog) interned(c apiCall) apiCall {
	if a.strings == nil {
		a.strings = map[string]string{}
	}
	for _, s := range []*string{&c.user, &c.verb, &c.group, &c.resource, &c.subresource, &c.namespace, &c.selectors, &c.page.resourceVersion} {
		if v, ok := a.strings[*s]; ok {
			*s = v
		} else if len(a.strings) < 1<<16 {
			a.strings[*s] = *s
		}
	}
	return c
}

func parseAuditLine(line []byte) (apiCall, bool, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return apiCall{}, false, nil
	}
	var ev auditEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return apiCall{}, false, fmt.Errorf("an audit log line is not an audit event: %w", err)
	}
	// A watch is counted when it starts; any other request when it completes.
	switch {
	case ev.Verb == verbWatch && ev.Stage == "ResponseStarted":
	case ev.Verb != verbWatch && (ev.Stage == "ResponseComplete" || ev.Stage == "Panic"):
	default:
		return apiCall{}, false, nil
	}
	c := apiCall{at: ev.RequestReceivedTimestamp.Time, user: ev.User.Username, verb: ev.Verb}
	if ev.ObjectRef != nil {
		c.group, c.resource, c.subresource = ev.ObjectRef.APIGroup, ev.ObjectRef.Resource, ev.ObjectRef.Subresource
		c.namespace, c.name = ev.ObjectRef.Namespace, ev.ObjectRef.Name
		c.selectors = selectorsOf(ev.RequestURI)
		if c.verb == verbList || c.isWatch() {
			c.page = pageParamsOf(ev.RequestURI)
		}
	} else {
		// A non-resource request (discovery: /api, /apis, /version): its path is what it is.
		c.resource, _, _ = strings.Cut(ev.RequestURI, "?")
	}
	if ev.ResponseStatus != nil {
		c.code = ev.ResponseStatus.Code
	}
	return c, true, nil
}

// between returns the requests received in [from, to) that match keep, once the log caught up
// with to.
func (a *auditLog) between(from, to time.Time, keep func(apiCall) bool) ([]apiCall, error) {
	if wait := time.Until(to.Add(auditSettle)); wait > 0 {
		time.Sleep(wait)
	}
	if err := a.sync(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []apiCall
	for _, c := range a.calls {
		if !c.at.Before(from) && c.at.Before(to) && keep(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// forget drops the calls received before t, once the log is read up to now: every phase counts
// only its own window, so the bench's memory holds one phase's calls, not the whole run's (millions
// at N=100k).
func (a *auditLog) forget(t time.Time) error {
	if err := a.sync(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Lines come about in the order requests finish, not strictly by receipt: look at each.
	n := 0
	for _, c := range a.calls {
		if !c.at.Before(t) {
			n++
		}
	}
	kept := make([]apiCall, 0, n) // a new array: the old one is freed
	for _, c := range a.calls {
		if !c.at.Before(t) {
			kept = append(kept, c)
		}
	}
	a.calls = kept
	return nil
}

// manager returns the manager's requests received in [from, to), watches left out.
func (a *auditLog) manager(from, to time.Time) ([]apiCall, error) {
	return a.between(from, to, func(c apiCall) bool { return c.user == managerUser && !c.isWatch() })
}

// managerReads returns the manager's lists and watches received in [from, to).
func (a *auditLog) managerReads(from, to time.Time) ([]apiCall, error) {
	return a.between(from, to, func(c apiCall) bool { return c.user == managerUser && (c.verb == verbList || c.isWatch()) })
}

func pageParamsOf(requestURI string) pageParams {
	u, err := url.Parse(requestURI)
	if err != nil {
		return pageParams{}
	}
	q := u.Query()
	p := pageParams{continued: q.Get("continue") != "", resourceVersion: q.Get("resourceVersion"), sendInitial: q.Get("sendInitialEvents") == "true"}
	p.limit, _ = strconv.ParseInt(q.Get("limit"), 10, 64)
	return p
}

// selectorsOf names the field and label selectors of a request and the keys they select on
// (never their values, which may name objects), e.g. "fieldSelector metadata.name".
func selectorsOf(requestURI string) string {
	u, err := url.Parse(requestURI)
	if err != nil {
		return ""
	}
	var parts []string
	for _, p := range []string{"fieldSelector", "labelSelector"} {
		sel := u.Query().Get(p)
		if sel == "" {
			continue
		}
		var keys []string
		for _, term := range strings.Split(sel, ",") {
			if k := selectorKey(term); k != "" {
				keys = append(keys, k)
			}
		}
		parts = append(parts, p+" "+strings.Join(keys, ","))
	}
	return strings.Join(parts, "; ")
}

// selectorKey is the key of one selector term: "a=b", "a!=b", "!a", "a in (b)" all give "a".
func selectorKey(term string) string {
	key := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(term), "!"))
	if i := strings.IndexAny(key, "=! "); i >= 0 {
		key = key[:i]
	}
	return key
}

// callKey groups requests for the tables: verb and resource[/subresource] in its API group, and
// for lists the selectors used.
type callKey struct {
	verb, group, resource string
}

func keyOf(c apiCall) callKey {
	r := c.resource
	if c.subresource != "" {
		r += "/" + c.subresource
	}
	if c.selectors != "" {
		r += " (" + c.selectors + ")"
	}
	return callKey{verb: c.verb, group: c.group, resource: r}
}

// callRow is one line of a per-(verb, resource) table.
type callRow struct {
	callKey
	count  int
	failed int // answered with a status code of 400 or more (conflicts, not found, ...)
}

// tally groups calls that match keep, most frequent first.
func tally(calls []apiCall, keep func(apiCall) bool) []callRow {
	rows := map[callKey]*callRow{}
	for _, c := range calls {
		if !keep(c) {
			continue
		}
		k := keyOf(c)
		r := rows[k]
		if r == nil {
			r = &callRow{callKey: k}
			rows[k] = r
		}
		r.count++
		if c.code >= 400 {
			r.failed++
		}
	}
	out := make([]callRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].count != out[j].count {
			return out[i].count > out[j].count
		}
		if out[i].resource != out[j].resource {
			return out[i].resource < out[j].resource
		}
		return out[i].verb < out[j].verb
	})
	return out
}

func total(rows []callRow) int {
	n := 0
	for _, r := range rows {
		n += r.count
	}
	return n
}

// callsOn counts, per object name, the calls that match keep.
func callsOn(calls []apiCall, keep func(apiCall) bool) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		if keep(c) {
			out[c.name]++
		}
	}
	return out
}

// lastManagerWrite is when the newest write of the manager among the latest lines was received
// (zero: none among them). Lines are appended about in the order requests finish, so the newest
// write is near the end and a bounded look back is enough to tell whether the manager is quiet.
func (a *auditLog) lastManagerWrite() time.Time {
	const lookBack = 5000
	a.mu.Lock()
	defer a.mu.Unlock()
	var last time.Time
	for i := len(a.calls) - 1; i >= 0 && len(a.calls)-i <= lookBack; i-- {
		if c := a.calls[i]; c.user == managerUser && c.isWrite() && c.at.After(last) {
			last = c.at
		}
	}
	return last
}
