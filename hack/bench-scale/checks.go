package main

import (
	"fmt"
	"time"
)

// This file judges the figures. A "must" check is a promise of the operator (a restart changes no
// passcode, nothing expires early, valid passcodes are accepted): breaking one fails the run. An
// "expect" check is what a lean operator does (no writes when idle, one write per expiry): it is
// reported, and left to a person to judge, because a legitimate change may alter it.

type check struct {
	must bool
	name string
	ok   bool
	got  string
}

func (r *report) checks() []check {
	var out []check
	add := func(must bool, name string, got int) {
		out = append(out, check{must: must, name: name, ok: got == 0, got: fmt.Sprint(got)})
	}
	if r.idle != nil {
		add(false, "no manager write when idle", total(r.idle.writes))
	}
	if rs := r.restart; rs != nil {
		add(true, "a restart changes no passcode", rs.changed+rs.secretsChanged)
		add(false, "no manager write after a restart", total(rs.writes))
		d := rs.duringRestart
		out = append(out, check{must: true, name: "the other replica answers during a restart", ok: d.requests > 0 && d.failures() == 0,
			got: fmt.Sprintf("%d of %d failed", d.failures(), d.requests)})
	}
	if o := r.operator; o != nil && r.cfg.maxWritesPerUser > 0 {
		perUser := float64(total(o.writes)+total(o.trailing)) / float64(r.cfg.n)
		out = append(out, check{must: true, name: fmt.Sprintf("manager writes per user <= %g", r.cfg.maxWritesPerUser),
			ok: perUser <= r.cfg.maxWritesPerUser, got: fmt.Sprintf("%.2f", perUser)})
	}
	if o := r.operator; o != nil && o.heap != nil && r.cfg.maxHeapPer1000 > 0 {
		per1000 := float64(o.heap.growth()) / float64(r.cfg.n) * 1000 / mib
		out = append(out, check{must: true, name: fmt.Sprintf("manager heap per 1000 users <= %g MiB", r.cfg.maxHeapPer1000),
			ok: per1000 <= r.cfg.maxHeapPer1000, got: fmt.Sprintf("%.2f MiB", per1000)})
	}
	if s := r.secrets; s != nil {
		add(false, "no manager request for unrelated Secrets", s.requests)
	}
	if e := r.expiry; e != nil {
		add(true, "no passcode ends before its expiresAt", negative(e.secretLag)+negative(e.statusLag))
		add(true, "every expired Secret is wiped", e.notWiped+e.refilled)
		// The status is written twice: the expiry, then the delivery record of the passcode.expired
		// notification (--notify-events, on by default; docs/notifications.md).
		add(false, "each expiry written once (Secret; status with its notification record)",
			moreThanOnce(e.secretWrites)+moreThan(e.statusWrites, 2))
	}
	for _, a := range []*accessResult{r.access1k, r.access} {
		if a != nil {
			add(true, fmt.Sprintf("every access request answered 200 (%d cached)", a.cached), a.trivial.failures()+a.verify.failures()+a.auth.failures())
		}
	}
	return out
}

func negative(lags []time.Duration) int {
	n := 0
	for _, l := range lags {
		if l < 0 {
			n++
		}
	}
	return n
}

func (r *report) printChecks(p *printer) {
	cs := r.checks()
	if len(cs) == 0 {
		return
	}
	section(p, "Checks")
	for _, c := range cs {
		status := "ok  "
		switch {
		case !c.ok && c.must:
			status = "FAIL"
		case !c.ok:
			status = "NOTE"
		}
		kind := "expect"
		if c.must {
			kind = "must"
		}
		p.f("%s  %-6s  %-46s  got %s\n", status, kind, c.name, c.got)
	}
}

// failedChecks is the run's verdict: an error naming the "must" checks that failed.
func (r *report) failedChecks() error {
	var failed []string
	for _, c := range r.checks() {
		if c.must && !c.ok {
			failed = append(failed, c.name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d check(s) failed: %v", len(failed), failed)
	}
	return nil
}
