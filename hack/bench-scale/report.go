package main

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// This file prints the report. Figures only: no passcode, no invite link, no Secret content.

// report gathers every phase's figures; a nil part is a phase that was skipped.
type report struct {
	cfg         config
	managerArgs []string
	machine     machine
	wall        time.Duration
	incomplete  string // why the run stopped early, when it did

	raw      *rawResult
	operator *operatorResult
	secrets  *secretsResult
	idle     *quietResult
	restart  *restartResult
	expiry   *expiryResult
	access   *accessResult
	access1k *accessResult // the access server with the 1000 warm users alone cached
}

const mib = 1 << 20

// printer writes the report and keeps the first write error, so that printing stays readable and
// a failed stdout is still reported.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	p.err = err
	return n, err
}

func (p *printer) f(format string, args ...any) { _, _ = fmt.Fprintf(p, format, args...) }

// row adds a line to a table; a write error shows when the table is flushed into the printer.
func row(tw *tabwriter.Writer, format string, args ...any) { _, _ = fmt.Fprintf(tw, format, args...) }

// write prints the whole report to w.
func (r *report) write(w io.Writer) error {
	p := &printer{w: w}
	r.print(p)
	return p.err
}

// section starts a numbered part of the report.
func section(p *printer, title string) { p.f("\n== %s ==\n", title) }

func (r *report) print(p *printer) {
	p.f("\nbench-scale: %d users in %d namespace(s), %d workers; wall time %s\n", r.cfg.n, r.cfg.namespaces, r.cfg.workers, r.wall.Round(time.Second))
	p.f("machine:     %d CPUs (nproc), %s memory, %s, kube-apiserver %s\n",
		r.machine.cpus, r.machine.memory, r.machine.goVersion, r.machine.apiServer)
	p.f("manager:     %s\n", strings.Join(r.managerArgs, " "))
	p.f("             (--invite-batch-window=%s instead of 10s: 1000 invites at 50 per 10 s would take 200 s)\n", inviteBatchWindow)
	p.f("counted by:  kube-apiserver audit log (user %s), the bench's watches, pprof and HTTP\n", managerUser)
	if r.incomplete != "" {
		p.f("INCOMPLETE:  %s\n             (the figures below are those of the phases that finished)\n", r.incomplete)
	}
	r.printThroughput(p)
	r.printOperatorCalls(p)
	r.printQuiet(p)
	r.printHeap(p)
	r.printExpiry(p)
	r.printAccess(p)
	r.printChecks(p)
}

// managerFlag is the value of one of the manager's flags, or def when the bench did not set it.
func (r *report) managerFlag(name, def string) string {
	for _, a := range r.managerArgs {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return def
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (r *report) printThroughput(p *printer) {
	if r.raw == nil && r.operator == nil {
		return
	}
	section(p, fmt.Sprintf("1. Raw client vs operator, %d users", r.cfg.n))
	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', 0)
	row(tw, "\ttime\tusers/s\tvs raw\t\n")
	if r.raw != nil {
		row(tw, "raw client: Passcode + Secret + status update (%d writes)\t%s\t%.1f\t1.00x\t\n",
			r.raw.writes, r.raw.elapsed.Round(time.Millisecond), perSecond(r.cfg.n, r.raw.elapsed))
		row(tw, "raw client: the operator path's writes, no controller (%d writes)\t%s\t%.1f\t%s\t\n",
			r.raw.sameWrites, r.raw.same.Round(time.Millisecond), perSecond(r.cfg.n, r.raw.same), r.ratio(r.raw.same))
	}
	if o := r.operator; o != nil {
		row(tw, "operator: creating DashboardUser + Passcode\t%s\t%.1f\t%s\t\n",
			o.create.Round(time.Millisecond), perSecond(r.cfg.n, o.create), r.ratio(o.create))
		row(tw, "operator: every Passcode Active, Ready, Secret filled\t%s\t%.1f\t%s\t\n",
			o.active.Round(time.Millisecond), perSecond(r.cfg.n, o.active), r.ratio(o.active))
		row(tw, "operator: every DashboardUser Invited\t%s\t%.1f\t%s\t\n",
			o.invited.Round(time.Millisecond), perSecond(r.cfg.n, o.invited), r.ratio(o.invited))
	}
	_ = tw.Flush()
	p.f("(operator times run from its first create; \"vs raw\" is operator time / raw time)\n")
	if r.raw != nil && r.raw.same > 0 && r.operator != nil {
		p.f("operator / the same writes by a plain client: %.2fx (what the controllers add beyond the API server's cost of the writes)\n",
			r.operator.active.Seconds()/r.raw.same.Seconds())
	}
	r.printCPU(p)
}

// printCPU says what the cores were busy with while each loop ran (from /proc, per process).
func (r *report) printCPU(p *printer) {
	var rows []cpuRow
	if r.raw != nil {
		rows = append(rows, cpuRow{"raw client", r.raw.cpu}, cpuRow{"the operator path's writes, no controller", r.raw.sameCPU})
	}
	if r.operator != nil {
		rows = append(rows, cpuRow{"operator", r.operator.cpu})
	}
	printCPURows(p, rows)
}

type cpuRow struct {
	name string
	use  cpuUse
}

func printCPURows(p *printer, rows []cpuRow) {
	if len(rows) == 0 {
		return
	}
	cores := runtime.NumCPU()
	p.f("\nCPU used while each ran, in CPU-seconds (from /proc; %d cores):\n", cores)
	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', tabwriter.AlignRight)
	row(tw, "\twall\tkube-apiserver\tetcd\tmanager\tbench\tcores busy\t\n")
	for _, x := range rows {
		u := x.use.used
		total := u["kube-apiserver"] + u["etcd"] + u["manager"] + u["bench"]
		busy := 0.0
		if x.use.wall > 0 {
			busy = total.Seconds() / (x.use.wall.Seconds() * float64(cores)) * 100
		}
		row(tw, "%s\t%.1fs\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f%%\t\n", x.name, x.use.wall.Seconds(), u["kube-apiserver"].Seconds(),
			u["etcd"].Seconds(), u["manager"].Seconds(), u["bench"].Seconds(), busy)
	}
	_ = tw.Flush()
}

func (r *report) ratio(d time.Duration) string {
	if r.raw == nil || r.raw.elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", d.Seconds()/r.raw.elapsed.Seconds())
}

// printCalls prints a per-(verb, resource) table, per user when per > 0.
func printCalls(p *printer, rows []callRow, per int) {
	if len(rows) == 0 {
		p.f("  (none)\n")
		return
	}
	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', tabwriter.AlignRight)
	if per > 0 {
		row(tw, "verb\tresource\tgroup\tcount\tper user\tfailed\t\n")
	} else {
		row(tw, "verb\tresource\tgroup\tcount\tfailed\t\n")
	}
	for _, c := range rows {
		group := c.group
		switch {
		case strings.HasPrefix(c.resource, "/"):
			group = "-" // a non-resource path
		case group == "":
			group = "core"
		}
		if per > 0 {
			row(tw, "%s\t%s\t%s\t%d\t%.2f\t%d\t\n", c.verb, c.resource, group, c.count, float64(c.count)/float64(per), c.failed)
		} else {
			row(tw, "%s\t%s\t%s\t%d\t%d\t\n", c.verb, c.resource, group, c.count, c.failed)
		}
	}
	_ = tw.Flush()
}

func events(rows []callRow) int {
	n := 0
	for _, r := range rows {
		if strings.HasPrefix(r.resource, "events") {
			n += r.count
		}
	}
	return n
}

func (r *report) printOperatorCalls(p *printer) {
	o := r.operator
	if o == nil {
		return
	}
	n := float64(r.cfg.n)
	p.f("\nManager writes from the first create until every Passcode was Active and every user Invited (%s), by verb and resource:\n",
		o.window.Round(time.Millisecond))
	printCalls(p, o.writes, r.cfg.n)
	p.f("total: %d writes, %.2f per user (failed %d); Events %.2f per user (about Passcodes %.2f, about DashboardUsers %.2f)\n",
		total(o.writes), float64(total(o.writes))/n, failed(o.writes), float64(events(o.writes))/n,
		float64(o.events.passcodes)/n, float64(o.events.users)/n)
	p.f("after that, until the manager had written nothing for %s: %d more writes (%.2f per user)\n",
		quietFor, total(o.trailing), float64(total(o.trailing))/n)
	if len(o.trailing) > 0 {
		printCalls(p, o.trailing, r.cfg.n)
	}
	p.f("\nManager live reads (get, list) over the same interval:\n")
	printCalls(p, o.reads, r.cfg.n)
	p.f("total: %d reads, %.2f per user\n", total(o.reads), float64(total(o.reads))/n)
	p.f("manager requests per second (reads and writes) over the interval: mean %.0f, busiest second %.0f (--kube-api-qps: %s)\n",
		o.rate.mean, o.rate.peak, r.managerFlag("kube-api-qps", "500, the default"))
}

func failed(rows []callRow) int {
	n := 0
	for _, r := range rows {
		n += r.failed
	}
	return n
}

func (r *report) printQuiet(p *printer) {
	if r.idle != nil {
		section(p, "2. Idle")
		p.f("manager writes over %s once settled: %d (reads: %d)\n", r.idle.window, total(r.idle.writes), total(r.idle.reads))
		if len(r.idle.writes) > 0 {
			printCalls(p, r.idle.writes, 0)
		}
	}
	if rs := r.restart; rs != nil {
		section(p, "3. Restart (a second replica runs; the first, the leader, gets SIGTERM and starts again)")
		p.f("second replica: ready in %s while the first led (caches synced, access server listening)\n", ms(rs.replicaReady))
		printReads(p, "its start-up reads", rs.startup)
		p.f("first replica: stopped in %s; the second held the Lease %s after the SIGTERM; then the first started again\n", ms(rs.stop), ms(rs.takeover))
		p.f("first replica: ready again in %s (/readyz: caches synced, access server listening), accepting a valid passcode %s after its start\n",
			ms(rs.ready), ms(rs.answering))
		printReads(p, "reads of both replicas until then", rs.restartReads)
		d := rs.duringRestart
		p.f("second replica's POST /v1/verify meanwhile (%d clients, valid passcodes): %d requests, %.0f req/s, p50 %s, p99 %s, failed %d\n",
			restartLoadClients, d.requests, d.rps, us(d.p50), us(d.p99), d.failures())
		p.f("manager writes over %s from its start: %d (reads: %d); besides, last-use stamps of the %d loaded passcodes and their users: %d\n",
			rs.window, total(rs.writes), total(rs.reads), accessPasscodes, total(rs.lastUse))
		if len(rs.writes) > 0 {
			printCalls(p, rs.writes, 0)
		}
		if len(rs.reads) > 0 {
			p.f("reads:\n")
			printCalls(p, rs.reads, 0)
		}
		p.f("passcodes changed (status.revision, status.hash or status.expiresAt): %d of %d; Secrets holding another passcode: %d\n",
			rs.changed, rs.compared, rs.secretsChanged)
	}
}

func (r *report) printHeap(p *printer) {
	if r.operator != nil && r.operator.heap != nil {
		h := r.operator.heap
		section(p, "4. Manager heap (HeapAlloc after a forced GC, from /debug/pprof/heap)")
		perUser := float64(h.growth()) / float64(r.cfg.n)
		p.f("before the users: %.1f MiB (%d objects); after %d users settled: %.1f MiB (%d objects)\n",
			float64(h.before.heapAlloc)/mib, h.before.heapObjects, r.cfg.n, float64(h.after.heapAlloc)/mib, h.after.heapObjects)
		p.f("per 1k users: %.2f MiB; per user: %.0f bytes\n", perUser*1000/mib, perUser)
	}
	if s := r.secrets; s != nil {
		section(p, fmt.Sprintf("5. %d unrelated Secrets (1 KiB each, no operator labels) in the watched namespace", s.count))
		p.f("heap %.1f MiB -> %.1f MiB: growth %+.2f MiB (%+.0f bytes per Secret); manager requests meanwhile: %d\n",
			float64(s.heap.before.heapAlloc)/mib, float64(s.heap.after.heapAlloc)/mib, float64(s.heap.growth())/mib,
			float64(s.heap.growth())/float64(s.count), s.requests)
	}
}

func (r *report) printExpiry(p *printer) {
	e := r.expiry
	if e == nil {
		return
	}
	section(p, fmt.Sprintf("6. Expiry lag, %d passcodes expiring in the same second", e.n))
	p.f("created in %s; all Active %s after the first create; spread of status.expiresAt as issued (max-min): %s\n",
		e.create.Round(time.Millisecond), e.active.Round(time.Millisecond), e.spread)
	p.f("then, with the manager stopped, every expiresAt set to %s; seen by the bench on %d of %d; "+
		"the restarted manager was ready %s before it\n",
		e.at.UTC().Format(time.RFC3339), e.aligned, e.n, e.headroom.Round(time.Millisecond))
	writes := 0
	for _, c := range e.writesPerUser {
		writes += c.count
	}
	if r.raw != nil && r.raw.writes > 0 && r.raw.elapsed > 0 && e.n > 0 {
		rate := float64(r.raw.writes) / r.raw.elapsed.Seconds()
		p.f("floor: the manager wrote %.2f times per expiry (table below); at the raw client's %.0f writes/s the API server needs %s for those %d writes\n",
			float64(writes)/float64(e.n), rate, ms(time.Duration(float64(writes)/rate*float64(time.Second))), writes)
	}
	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', tabwriter.AlignRight)
	row(tw, "lag after status.expiresAt\tseen\tp50\tp99\tmax\tearly (<0)\t\n")
	for _, l := range []struct {
		name string
		lags []time.Duration
	}{
		{"Secret loses its passcode (bench's watch)", e.secretLag},
		{"status.phase Expired (bench's watch)", e.statusLag},
		{"Secret wipe received by the API server (audit)", e.wipeWriteLag},
	} {
		s := sortedDurations(l.lags)
		row(tw, "%s\t%d\t%s\t%s\t%s\t%d\t\n", l.name, len(s), ms(percentile(s, 0.5)), ms(percentile(s, 0.99)), ms(maxOf(s)), negative(s))
	}
	_ = tw.Flush()
	printCPURows(p, []cpuRow{{"from expiresAt to the last wipe", e.cpu}})
	p.f("Secrets not wiped: %d; passcodes whose expiresAt moved: %d; Secrets refilled after the wipe: %d\n",
		e.notWiped, e.expiresMoved, e.refilled)
	p.f("writes to each Secret after its expiresAt: %s; more than once: %d\n", histText(e.secretWrites), moreThanOnce(e.secretWrites))
	p.f("status writes of each Passcode after its expiresAt: %s; more than once: %d\n", histText(e.statusWrites), moreThanOnce(e.statusWrites))
	p.f("every manager write on an expired user's objects (DashboardUser, Passcode, Secret, their Events) after its expiresAt:\n")
	printCalls(p, e.writesPerUser, e.n)
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func maxOf(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)-1]
}

// histText prints "N writes: M passcodes" pairs in write order.
func histText(h map[int]int) string {
	keys := make([]int, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d write(s) x %d", k, h[k]))
	}
	return strings.Join(parts, ", ")
}

func moreThanOnce(h map[int]int) int { return moreThan(h, 1) }

// moreThan counts the Passcodes written more than limit times.
func moreThan(h map[int]int, limit int) int {
	n := 0
	for k, v := range h {
		if k > limit {
			n += v
		}
	}
	return n
}

func (r *report) printAccess(p *printer) {
	for _, a := range []*accessResult{r.access1k, r.access} {
		if a != nil {
			printAccessResult(p, a)
		}
	}
	if r.access1k == nil || r.access == nil {
		return
	}
	base, all := r.access1k, r.access
	p.f("\nwith %d users cached vs %d (same run; goal: within 10%%):\n", all.cached, base.cached)
	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', tabwriter.AlignRight)
	row(tw, "endpoint\treq/s ratio\tp99 ratio\treq/s ratio / trivial's\tp99 ratio / trivial's\t\n")
	trivRPS, trivP99 := ratioOf(all.trivial.rps, base.trivial.rps), ratioOf(float64(all.trivial.p99), float64(base.trivial.p99))
	for _, x := range [][2]loadResult{{base.trivial, all.trivial}, {base.verify, all.verify}, {base.auth, all.auth}} {
		rps, p99 := ratioOf(x[1].rps, x[0].rps), ratioOf(float64(x[1].p99), float64(x[0].p99))
		row(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t\n", x[0].name, rps, p99, ratioOf(rps, trivRPS), ratioOf(p99, trivP99))
	}
	_ = tw.Flush()
	p.f("(the trivial server's ratio is the machine's own drift between the two loads; the last two columns divide it out)\n")
}

func ratioOf(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func printAccessResult(p *printer, a *accessResult) {
	section(p, fmt.Sprintf("7. Access server, %d users cached, %d keep-alive clients, %s each, %d valid passcodes round-robin",
		a.cached, a.concurrency, a.duration, a.passcodes))
	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', tabwriter.AlignRight)
	row(tw, "endpoint\trequests\treq/s\tp50\tp99\tnon-200\tthroughput vs trivial\tp99 vs trivial\t\n")
	for _, l := range []loadResult{a.trivial, a.verify, a.auth} {
		row(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%.2f\t%.2f\t\n", l.name, l.requests, l.rps, us(l.p50), us(l.p99), l.failures(),
			l.rps/a.trivial.rps, float64(l.p99)/float64(a.trivial.p99))
	}
	_ = tw.Flush()
	for _, l := range []loadResult{a.trivial, a.verify, a.auth} {
		if l.failures() > 0 {
			p.f("%s: non-200 answers %v, no answer %d\n", l.name, l.statuses, l.errors)
		}
	}
	p.f("manager writes meanwhile (last-use stamps, coalesced per object per minute): %d\n", total(a.writes))
	if len(a.writes) > 0 {
		printCalls(p, a.writes, 0)
	}
}

// printReads says how a manager's informers filled their caches, from the audit log: lists (and
// whether they asked for pages) and watches (and whether they streamed the initial state).
func printReads(p *printer, what string, s startupReads) {
	p.f("%s: %d lists (%d with limit, largest limit %d; %d continued pages; %d without limit, which return every object in scope; %d with resourceVersion=0), "+
		"%d watches (%d streaming the initial state: sendInitialEvents=true)\n",
		what, s.lists, s.paged, s.maxLimit, s.continued, s.unpaged, s.rv0, s.watches, s.streamed)
	printCalls(p, s.rows, 0)
}

func us(d time.Duration) string { return d.Round(time.Microsecond).String() }
