package passcodesecret

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Templates are a tenant's input run by the manager, so what one may cost is decided before it
// runs, from its syntax tree alone (bound), and a template over budget never runs at all.
//
// Why a static bound and not a deadline or a metered run: a context deadline stops a loop but not
// one allocation (printf "%s%s" $x $x builds its gigabyte inside one call), and a meter inside the
// functions would have to guess each call's size before making it anyway. So the language is
// restricted until every template is a straight line: no range (the only loop), no define,
// template or block (the only recursion), no variable declared or assigned ($x := ..., $ = ...,
// the only way but `with` to use a value twice), no call, printf formats constant and without
// width or precision (%0999999999d). What is left evaluates each node of the tree at most once, so
// the steps are the nodes, and each node's value has an upper bound in bytes computed from its
// arguments' bounds and the longest value each field can hold (fieldMax, enforced again at render
// time). `with` binds dot to a value that may be used many times in its body: the body is bounded
// with dot at that value's bound, so a chain of `{{with printf "%s%s" . .}}` doubles the bound at
// each level and is refused after a few. The template then runs on text/template itself, so what
// passes renders exactly as before.
const (
	// maxTemplateChars is the CRD's MaxLength on a template, checked again here.
	maxTemplateChars = 4096
	// maxRenderedKey bounds one rendered key (the API server refuses a Secret over 1 MiB).
	maxRenderedKey = 64 << 10
	// maxKeyCost bounds the bytes of every value one key's render may build: function results,
	// printed values and the output buffer's growth.
	maxKeyCost = 256 << 10
	// maxSecretCost bounds the same summed over a Secret's keys (at most 16).
	maxSecretCost = 1 << 20
	// maxSteps bounds the nodes of one template, each evaluated at most once. A template of
	// maxTemplateChars characters has fewer; the bound is kept as a second line of defence.
	maxSteps = 8192
	// scalarMax bounds a number, a bool or nil printed by any allowed verb (a float64 printed
	// with %v is at most 24 bytes, a complex128 at most 50).
	scalarMax = 64
	// growth bounds the expansion of any allowed escaping: html, js and toJson write at most 6
	// bytes per byte (\u003c), urlquery 3, printf's %q (\u2028), %x and % #x (0x61 ) at most 6.
	growth = 6
)

// fieldMax is the longest value, in bytes, each field can hold: an imported passcode is at most
// 256 ASCII characters, an email at most 254 characters (1016 bytes), a namespace 63, and an RFC
// 3339 time in UTC 20. render refuses fields longer than this, so the bounds hold for any value.
var fieldMax = map[string]int{"Passcode": 256, "Email": 1016, "Account": 63, "ExpiresAt": 20}

// rootMax bounds the root struct printed or marshalled whole ({{ . }}, {{ toJson $ }}).
var rootMax = 256 + 1016 + 63 + 20 + 64

// allowedLanguage is what every refusal names.
const allowedLanguage = "templates may use only the fields .Passcode, .Email, .Account and .ExpiresAt, " +
	"the actions if, with, else and end, and the functions b64enc, toJson, print, printf, println, len, index, slice, " +
	"eq, ne, lt, le, gt, ge, and, or, not, html, js and urlquery"

// funcGrowth is how each allowed function's result is bounded by the sum of its arguments'
// bounds (plus one byte per argument for the spaces print puts between them): mul×sum + add.
// b64enc writes 4 bytes per 3; printf is bounded by its format (printf); the comparisons and
// len/index give scalars; and/or give one of their arguments; slice a part of its first.
var funcGrowth = map[string]struct{ mul, add int }{
	"toJson": {growth, 2}, "html": {growth, 0}, "js": {growth, 0}, "urlquery": {3, 0},
	"print": {1, 0}, "println": {1, 1},
}

var scalarFuncs = map[string]bool{"len": true, "index": true, "not": true, "eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true}

// The CEL rules on spec.secretTemplate.data (api/v1alpha1/passcode_types.go), checked again here
// with the same regular expressions (RE2 in both): the controller refuses every template the CRD
// refuses, also one that bypassed it, and api/v1alpha1/template_agreement_test.go checks the two
// against the real API server.
var celRules = []struct {
	re  *regexp.Regexp
	msg string
}{
	{regexp.MustCompile(`[{][{]([^}]*[ ({|,$])?[.][A-Za-z_]`),
		"templates may use only the fields .Passcode, .Email, .Account and .ExpiresAt"},
	{regexp.MustCompile(`[{][{]-?[[:space:]]*(else[[:space:]]+)?(range|define|template|block|break|continue)([^A-Za-z0-9_]|$)`),
		"templates may not use range, define, template, block, break or continue: " + allowedLanguage},
	{regexp.MustCompile(`[{][{][^}]*[$]([A-Za-z0-9_]|[[:space:]]*:?=)`),
		"templates may not declare or assign variables ($x := ..., $ = ...): use with to reuse a value, and $ or $.Passcode for the fields"},
	{regexp.MustCompile(`[{][{][^}]*%[-+# 0]*[1-9*.[]`),
		"printf formats may not have a width, a precision or an argument index (%5d, %.3s, %[1]s): use %s, %v, %q, %d, %x, %X, %t or %c"},
}

// celRefusal is the message of the first CEL rule text breaks, or "".
func celRefusal(text string) string {
	for _, r := range celRules {
		probe := text
		if r.re == celRules[0].re { // the field rule looks past the fields that exist
			probe = removeAll(text, ".Passcode", ".Email", ".Account", ".ExpiresAt")
		}
		if r.re.MatchString(probe) {
			return r.msg
		}
	}
	return ""
}

// removeAll removes each of olds from s in turn, as the CEL rule's chain of replace() does.
func removeAll(s string, olds ...string) string {
	for _, o := range olds {
		s = strings.ReplaceAll(s, o, "")
	}
	return s
}

// withLongest says how a budget is counted.
const withLongest = " with the longest values the fields can hold"

// budgetError is a template refused before it runs.
type budgetError struct{ msg string }

func (e *budgetError) Error() string { return e.msg }

// compile parses text and bounds it. It returns the template to run and what running it may
// cost in bytes; a template outside the language or over budget is refused with why.
func compile(key, text string) (*template.Template, int, error) {
	if n := utf8.RuneCountInString(text); n > maxTemplateChars {
		return nil, 0, &budgetError{fmt.Sprintf("has %d characters, more than the %d allowed", n, maxTemplateChars)}
	}
	if msg := celRefusal(text); msg != "" {
		return nil, 0, &budgetError{msg}
	}
	tmpl, err := template.New(key).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, 0, err
	}
	if len(tmpl.Templates()) > 1 {
		return nil, 0, &budgetError{"templates may not define templates: " + allowedLanguage}
	}
	if tmpl.Tree == nil || tmpl.Root == nil {
		return tmpl, 0, nil
	}
	b := &bound{tree: tmpl.Tree}
	out := b.list(tmpl.Root, rootMax)
	cost := b.alloc + 2*out // the output buffer grows by doubling
	switch {
	case b.err != nil:
		return nil, 0, b.err
	case out > maxRenderedKey:
		return nil, 0, &budgetError{fmt.Sprintf("may render up to %s%s, more than the %d KiB a key may have", size(out), withLongest, maxRenderedKey>>10)}
	case cost > maxKeyCost:
		return nil, 0, &budgetError{fmt.Sprintf("may build up to %s of values%s, more than the %d KiB a key may use", size(cost), withLongest, maxKeyCost>>10)}
	}
	return tmpl, cost, nil
}

// bound walks a template's tree once, counting its steps and bounding the bytes of every value.
// The first node outside the language sets err; the walk then only unwinds.
type bound struct {
	tree  *parse.Tree
	steps int
	alloc int
	err   error
}

func (b *bound) refuse(n parse.Node, what string) {
	if b.err == nil {
		loc, _ := b.tree.ErrorContext(n)
		b.err = &budgetError{fmt.Sprintf("%s at %s is not allowed: %s", what, loc, allowedLanguage)}
	}
}

// step counts one node; past maxSteps the template is refused.
func (b *bound) step() bool {
	b.steps++
	if b.steps > maxSteps && b.err == nil {
		b.err = &budgetError{fmt.Sprintf("has more than %d steps", maxSteps)}
	}
	return b.err == nil
}

// list bounds what l writes with dot bounded by dot.
func (b *bound) list(l *parse.ListNode, dot int) int {
	if l == nil {
		return 0
	}
	out := 0
	for _, n := range l.Nodes {
		out = sat(out + b.node(n, dot))
	}
	return out
}

func (b *bound) node(n parse.Node, dot int) int {
	if !b.step() {
		return 0
	}
	switch n := n.(type) {
	case *parse.TextNode:
		return len(n.Text)
	case *parse.CommentNode:
		return 0
	case *parse.ActionNode:
		v := b.pipe(n.Pipe, dot)
		b.alloc = sat(b.alloc + v) // a value that is not a string is formatted to be printed
		return v
	case *parse.IfNode:
		b.pipe(n.Pipe, dot)
		return max(b.list(n.List, dot), b.list(n.ElseList, dot))
	case *parse.WithNode:
		v := b.pipe(n.Pipe, dot)
		return max(b.list(n.List, v), b.list(n.ElseList, dot)) // else keeps the outer dot
	case *parse.RangeNode:
		b.refuse(n, "{{range}}")
	case *parse.TemplateNode:
		b.refuse(n, "{{template}}")
	case *parse.BreakNode, *parse.ContinueNode:
		b.refuse(n, "{{break}} and {{continue}}")
	default:
		b.refuse(n, fmt.Sprintf("%q", n))
	}
	return 0
}

// pipe bounds the value of p.
func (b *bound) pipe(p *parse.PipeNode, dot int) int {
	if p == nil || !b.step() {
		return 0
	}
	if len(p.Decl) > 0 || p.IsAssign {
		b.refuse(p, "declaring or assigning a variable")
		return 0
	}
	v, piped := 0, false
	for _, c := range p.Cmds {
		v, piped = b.command(c, dot, v, piped), true
	}
	return v
}

// command bounds the value of c; prev is the bound of the value piped into it, if piped.
func (b *bound) command(c *parse.CommandNode, dot, prev int, piped bool) int {
	if !b.step() || len(c.Args) == 0 {
		return 0
	}
	id, ok := c.Args[0].(*parse.IdentifierNode)
	if !ok { // a value; more arguments are an error when it runs
		v := b.arg(c.Args[0], dot)
		for _, a := range c.Args[1:] {
			b.arg(a, dot)
		}
		return v
	}
	args := make([]int, 0, len(c.Args))
	for _, a := range c.Args[1:] {
		args = append(args, b.arg(a, dot))
	}
	if piped {
		args = append(args, prev)
	}
	v := b.call(id, c, args)
	b.alloc = sat(b.alloc + v)
	return v
}

// call bounds the result of the function id given its arguments' bounds.
func (b *bound) call(id *parse.IdentifierNode, c *parse.CommandNode, args []int) int {
	sum := len(args)
	for _, a := range args {
		sum = sat(sum + a)
	}
	switch name := id.Ident; {
	case name == "printf":
		return b.printf(id, c, args)
	case scalarFuncs[name]:
		return scalarMax
	case name == "and" || name == "or":
		return max(0, slicesMax(args))
	case name == "slice":
		return sum
	case name == "b64enc":
		return (sum + 2) / 3 * 4
	default:
		g, ok := funcGrowth[name]
		if !ok {
			b.refuse(id, fmt.Sprintf("the function %q", name))
			return 0
		}
		return sat(sat(g.mul*sum) + g.add)
	}
}

// printf's format must be a quoted string whose verbs have no width, precision or argument
// index; then the i-th verb formats the i-th argument: %q, %x and %X write at most growth bytes
// per byte, the others their argument as it prints, and each may add the %!verb(type=...) or
// %!(EXTRA ...) a wrong type or count writes.
func (b *bound) printf(id *parse.IdentifierNode, c *parse.CommandNode, args []int) int {
	format, ok := parse.Node(nil), false
	if len(c.Args) > 1 {
		format = c.Args[1]
		_, ok = format.(*parse.StringNode)
	}
	if !ok {
		b.refuse(id, "printf with a format that is not a quoted string")
		return 0
	}
	f := format.(*parse.StringNode).Text
	verbs, err := printfVerbs(f)
	if err != "" {
		b.refuse(format, "the printf format "+err)
		return 0
	}
	v := len(f) + scalarMax*len(verbs) // a missing argument writes %!s(MISSING)
	for i, a := range args[1:] {
		mul := 1
		if i < len(verbs) && strings.IndexByte("qxX", verbs[i]) >= 0 {
			mul = growth
		}
		v = sat(v + sat(mul*a) + scalarMax)
	}
	return v
}

// printfVerbs lists the verbs of format, or says what is wrong with it.
func printfVerbs(format string) ([]byte, string) {
	var verbs []byte
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		switch {
		case i == len(format):
			return nil, "ends with %"
		case format[i] == '%':
		case strings.IndexByte("vsqdxXtc", format[i]) >= 0:
			verbs = append(verbs, format[i])
		case strings.IndexByte("123456789*.[", format[i]) >= 0:
			return nil, "has a width, a precision or an argument index (%5d, %.3s, %[1]s): use %s, %v, %q, %d, %x, %X, %t or %c"
		default:
			r, _ := utf8.DecodeRuneInString(format[i:])
			return nil, fmt.Sprintf("uses the verb %%%c: use %%s, %%v, %%q, %%d, %%x, %%X, %%t or %%c", r)
		}
	}
	return verbs, ""
}

// arg bounds one argument of a command.
func (b *bound) arg(n parse.Node, dot int) int {
	if !b.step() {
		return 0
	}
	switch n := n.(type) {
	case *parse.FieldNode:
		return b.fields(n, n.Ident)
	case *parse.ChainNode:
		b.arg(n.Node, dot)
		return b.fields(n, n.Field)
	case *parse.VariableNode: // only $: nothing can declare another
		if len(n.Ident) == 1 {
			return rootMax
		}
		return b.fields(n, n.Ident[1:])
	case *parse.DotNode:
		return dot
	case *parse.StringNode:
		return len(n.Text)
	case *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
		return scalarMax
	case *parse.PipeNode:
		return b.pipe(n, dot)
	case *parse.IdentifierNode: // a function called with no arguments
		v := b.call(n, &parse.CommandNode{Args: []parse.Node{n}}, nil)
		b.alloc = sat(b.alloc + v)
		return v
	}
	b.refuse(n, fmt.Sprintf("%q", n))
	return 0
}

// fields bounds .A.B...: only the four fields exist (a chain past them fails when it runs).
func (b *bound) fields(n parse.Node, names []string) int {
	v := 0
	for _, name := range names {
		m, ok := fieldMax[name]
		if !ok {
			b.refuse(n, fmt.Sprintf("the field .%s", name))
			return 0
		}
		v = max(v, m)
	}
	return v
}

func slicesMax(xs []int) int {
	m := -1
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// size says a bound in bytes.
func size(n int) string {
	if n >= sat(n+1) {
		return "more than 1 TiB"
	}
	return fmt.Sprintf("%d bytes", n)
}

// sat caps a bound far above every budget, so that sums of bounds never overflow.
func sat(n int) int { return min(n, 1<<40) }
