package main

import (
	"strings"
	"testing"
	"time"
)

// The bench's figures are only as good as its parsing: these pin the audit log, pprof and
// percentile readings on real samples.

func TestParseAuditLine(t *testing.T) {
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/bench-operator/secrets?fieldSelector=metadata.name%3Duser-1-api","verb":"list",` +
		`"user":{"username":"access-operator-bench","groups":["system:masters"]},` +
		`"objectRef":{"resource":"secrets","namespace":"bench-operator","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-30T02:09:54.078414Z"}`
	c, ok, err := parseAuditLine([]byte(line))
	if err != nil || !ok {
		t.Fatalf("parseAuditLine: ok=%v err=%v", ok, err)
	}
	want := apiCall{at: time.Date(2026, 11, 30, 2, 9, 54, 78414000, time.UTC), user: managerUser, verb: "list",
		resource: "secrets", namespace: operatorNamespace, selectors: "fieldSelector metadata.name", code: 200}
	if !c.at.Equal(want.at) {
		t.Errorf("at = %s, want %s", c.at, want.at)
	}
	c.at = want.at
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if k := keyOf(c); k.resource != "secrets (fieldSelector metadata.name)" {
		t.Errorf("keyOf: %+v", k)
	}
}

func TestParseAuditLineSkipsOtherStagesAndKeepsPaths(t *testing.T) {
	if _, ok, err := parseAuditLine([]byte(`{"stage":"RequestReceived","verb":"get"}`)); ok || err != nil {
		t.Errorf("RequestReceived: ok=%v err=%v, want skipped", ok, err)
	}
	c, ok, err := parseAuditLine([]byte(`{"stage":"ResponseComplete","verb":"get","requestURI":"/apis?timeout=32s"}`))
	if !ok || err != nil || c.resource != "/apis" {
		t.Errorf("non-resource request: %+v ok=%v err=%v, want resource /apis", c, ok, err)
	}
	if _, _, err := parseAuditLine([]byte(`not json`)); err == nil {
		t.Error("a line that is not JSON must fail")
	}
}

func TestSelectorsOf(t *testing.T) {
	for uri, want := range map[string]string{
		"/api/v1/secrets": "",
		"/api/v1/secrets?labelSelector=a%3Db%2C%21c":                        "labelSelector a,c",
		"/api/v1/secrets?fieldSelector=x%21%3Dy&labelSelector=k+in+%28a%29": "fieldSelector x; labelSelector k",
	} {
		if got := selectorsOf(uri); got != want {
			t.Errorf("selectorsOf(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestParseMemStats(t *testing.T) {
	profile := "heap profile: 1: 2 [3: 4] @ heap/1048576\n\n# runtime.MemStats\n# Alloc = 5\n# HeapAlloc = 4718592\n# HeapObjects = 21877\n"
	h, err := parseMemStats(strings.NewReader(profile))
	if err != nil || h.heapAlloc != 4718592 || h.heapObjects != 21877 {
		t.Errorf("parseMemStats = %+v, %v", h, err)
	}
	if _, err := parseMemStats(strings.NewReader("heap profile\n")); err == nil {
		t.Error("a profile without MemStats must fail")
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(d, 0.5); p != 5 {
		t.Errorf("p50 = %d, want 5", p)
	}
	if p := percentile(d, 0.99); p != 10 {
		t.Errorf("p99 = %d, want 10", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of nothing = %d, want 0", p)
	}
}

func TestExpiryPasscodeOf(t *testing.T) {
	for _, c := range []struct {
		call apiCall
		want string
	}{
		{apiCall{resource: "secrets", name: "expiry-7-api"}, "expiry-7-api"},
		{apiCall{resource: "dashboardusers", subresource: "status", name: "expiry-7"}, "expiry-7-api"},
		{apiCall{resource: "events", name: "expiry-7.18ecb0a9a312a579"}, "expiry-7-api"},
		{apiCall{resource: "events", name: "expiry-7-api.18ecb0a9a312a579"}, "expiry-7-api"},
		{apiCall{resource: "secrets", name: "user-7-api"}, ""},
	} {
		if got := expiryPasscodeOf(c.call); got != c.want {
			t.Errorf("expiryPasscodeOf(%+v) = %q, want %q", c.call, got, c.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-n", "5", "-skip", "operator,expiry"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{phaseOperator, phaseExpiry}, needsOperator...) {
		if !c.skip[p] {
			t.Errorf("phase %s is not skipped", p)
		}
	}
	if _, err := parseFlags([]string{"-skip", "nope"}); err == nil {
		t.Error("an unknown phase must be refused")
	}
	if _, err := parseFlags([]string{"-n", "0"}); err == nil {
		t.Error("-n 0 must be refused")
	}
	for _, bad := range [][]string{{"-n", "5", "-namespaces", "6"}, {"-namespaces", "0"}, {"-max-heap-per-1000", "-1"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v must be refused", bad)
		}
	}
	c, err = parseFlags([]string{"-n", "100000", "-skip", "access"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.skip[phaseAccess1k] {
		t.Error("-skip access must skip access1k too (it is only the base of access's ratios)")
	}
	if c.timeout < 100000*100*time.Millisecond {
		t.Errorf("the default -timeout must grow with -n: %s at 100000 users", c.timeout)
	}
}

// TestParseAuditLinePaging pins how the start-up reads are told apart: a watch counts at its
// ResponseStarted (its ResponseComplete, when it ends, is skipped) with sendInitialEvents, a list
// with its limit, continue and resourceVersion.
func TestParseAuditLinePaging(t *testing.T) {
	watch := func(stage string) string {
		return `{"stage":"` + stage + `","verb":"watch","user":{"username":"access-operator-bench"},` +
			`"requestURI":"/apis/access.dashboardops.io/v1alpha1/namespaces/bench-operator/passcodes?allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&timeoutSeconds=540&watch=true",` +
			`"objectRef":{"resource":"passcodes","namespace":"bench-operator","apiGroup":"access.dashboardops.io"}}`
	}
	c, ok, err := parseAuditLine([]byte(watch("ResponseStarted")))
	if err != nil || !ok || !c.isWatch() || !c.page.sendInitial {
		t.Errorf("watch started: %+v ok=%v err=%v, want a watch streaming its initial state", c, ok, err)
	}
	if _, ok, err := parseAuditLine([]byte(watch("ResponseComplete"))); ok || err != nil {
		t.Errorf("watch ended: ok=%v err=%v, want skipped (counted when it started)", ok, err)
	}
	list := `{"stage":"ResponseComplete","verb":"list","user":{"username":"access-operator-bench"},` +
		`"requestURI":"/api/v1/namespaces/bench-operator/secrets?continue=abc&limit=500&resourceVersion=0",` +
		`"objectRef":{"resource":"secrets","namespace":"bench-operator"}}`
	c, ok, err = parseAuditLine([]byte(list))
	if err != nil || !ok || c.page != (pageParams{limit: 500, continued: true, resourceVersion: "0"}) {
		t.Errorf("paged list: %+v ok=%v err=%v", c.page, ok, err)
	}
	s := summarizeReads([]apiCall{c, {verb: "list"}, {verb: "watch", page: pageParams{sendInitial: true}}})
	if s.lists != 2 || s.paged != 1 || s.unpaged != 1 || s.continued != 1 || s.rv0 != 1 || s.maxLimit != 500 || s.watches != 1 || s.streamed != 1 {
		t.Errorf("summarizeReads: %+v", s)
	}
}

func TestNamespaceOf(t *testing.T) {
	got := []string{namespaceOf(0, 1), namespaceOf(5, 1), namespaceOf(0, 3), namespaceOf(1, 3), namespaceOf(5, 3)}
	want := []string{operatorNamespace, operatorNamespace, operatorNamespace, operatorNamespace + "-2", operatorNamespace + "-3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("namespaceOf: %v, want %v", got, want)
	}
}
