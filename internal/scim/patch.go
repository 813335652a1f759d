package scim

import (
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// Operation is one PATCH operation (RFC 7644 section 3.5.2). Op is lower-cased: Entra ID sends
// "Replace", Okta "replace".
type Operation struct {
	Op    string
	Path  string
	Value any
	// path is Path parsed; nil when Path is empty.
	path *filter.Path
}

// The PATCH operations.
const (
	OpAdd     = "add"
	OpRemove  = "remove"
	OpReplace = "replace"
)

// ParsePatch reads a PatchOp request body.
func ParsePatch(body map[string]any) ([]Operation, *Error) {
	raw, ok := getList(body, "Operations")
	if !ok || len(raw) == 0 {
		return nil, badRequest(TypeInvalidSyntax, "a PATCH request holds Operations, a non-empty list of {op, path, value}")
	}
	out := make([]Operation, 0, len(raw))
	for i, r := range raw {
		o, ok := r.(map[string]any)
		if !ok {
			return nil, badRequest(TypeInvalidSyntax, "Operations[%d]: must be an object {op, path, value}", i)
		}
		op := Operation{Op: strings.ToLower(getString(o, "op")), Path: strings.TrimSpace(getString(o, "path"))}
		op.Value, _ = get(o, attrValue)
		switch op.Op {
		case OpAdd, OpRemove, OpReplace:
		default:
			return nil, badRequest(TypeInvalidSyntax, "Operations[%d]: op must be add, remove or replace, got %q", i, getString(o, "op"))
		}
		if op.Path != "" {
			p, err := filter.ParsePath([]byte(op.Path))
			if err != nil {
				return nil, badRequest(TypeInvalidPath, "Operations[%d]: path %q: %v", i, op.Path, err)
			}
			op.path = &p
		} else {
			if op.Op == OpRemove {
				return nil, badRequest(TypeNoTarget, "Operations[%d]: remove needs a path", i)
			}
			if _, ok := op.Value.(map[string]any); !ok {
				return nil, badRequest(TypeInvalidSyntax, "Operations[%d]: without a path, value must be an object of attributes", i)
			}
		}
		out = append(out, op)
	}
	return out, nil
}

// Patcher applies operations to a resource. Single names the multi-valued attributes the
// resource holds one value of, where add replaces (a user's roles: one role).
type Patcher struct {
	// Schema is the resource's core schema URN, which may prefix a path.
	Schema string
	Single map[string]bool
}

// Apply applies ops to res in place. Attributes of other schemas (extensions such as Entra ID's
// enterprise User attributes) are ignored: this resource keeps none.
func (p Patcher) Apply(res map[string]any, ops []Operation) *Error {
	for _, op := range ops {
		if op.path == nil {
			for k, v := range op.Value.(map[string]any) {
				if err := p.applyKey(res, op.Op, k, v); err != nil {
					return err
				}
			}
			continue
		}
		if err := p.applyPath(res, op.Op, *op.path, op.Value); err != nil {
			return err
		}
	}
	return nil
}

// applyKey applies one attribute of a path-less operation's value; the key may be a path itself
// ("name.givenName", as Entra ID sends).
func (p Patcher) applyKey(res map[string]any, op, k string, v any) *Error {
	if strings.HasPrefix(strings.ToLower(k), "urn:") {
		prefix := strings.ToLower(p.Schema) + ":"
		if !strings.HasPrefix(strings.ToLower(k), prefix) {
			return nil // another schema's attributes: not kept
		}
		k = k[len(prefix):]
	}
	if !strings.ContainsAny(k, ".[") {
		return p.set(res, op, k, v)
	}
	path, err := filter.ParsePath([]byte(k))
	if err != nil {
		return badRequest(TypeInvalidPath, "attribute %q: %v", k, err)
	}
	return p.applyPath(res, op, path, v)
}

func (p Patcher) applyPath(res map[string]any, op string, path filter.Path, v any) *Error {
	ap := path.AttributePath
	if uri := ap.URI(); uri != "" && !strings.EqualFold(uri, p.Schema) {
		return nil // another schema's attribute: not kept
	}
	sub := ap.SubAttributeName()
	if path.SubAttribute != nil {
		sub = *path.SubAttribute
	}
	if path.ValueExpression != nil {
		return p.applyFiltered(res, op, ap.AttributeName, path.ValueExpression, sub, v)
	}
	if sub == "" {
		return p.set(res, op, ap.AttributeName, v)
	}
	cur, _ := get(res, ap.AttributeName)
	if list, ok := cur.([]any); ok { // a sub-attribute of every value
		for _, el := range list {
			if o, ok := el.(map[string]any); ok {
				setSub(o, op, sub, v)
			}
		}
		return nil
	}
	o, _ := cur.(map[string]any)
	if o == nil {
		if op == OpRemove {
			return nil
		}
		o = map[string]any{}
		set(res, ap.AttributeName, o)
	}
	setSub(o, op, sub, v)
	return nil
}

func setSub(o map[string]any, op, sub string, v any) {
	if op == OpRemove {
		del(o, sub)
		return
	}
	set(o, sub, v)
}

// set applies op to a whole attribute.
func (p Patcher) set(res map[string]any, op, attr string, v any) *Error {
	cur, present := get(res, attr)
	switch {
	case op == OpRemove && v != nil && present:
		// remove with a value: the listed values leave a multi-valued attribute.
		set(res, attr, without(asList(cur), asList(v)))
	case op == OpRemove:
		del(res, attr)
	case op == OpReplace || p.Single[strings.ToLower(attr)] || !present || cur == nil:
		set(res, attr, v)
	default: // add
		switch c := cur.(type) {
		case []any:
			set(res, attr, append(c, asList(v)...))
		case map[string]any:
			if add, ok := v.(map[string]any); ok {
				for k, e := range add {
					set(c, k, e)
				}
				return nil
			}
			set(res, attr, v)
		default:
			set(res, attr, v)
		}
	}
	return nil
}

// without is list minus the values (compared by their "value" sub-attribute) of gone.
func without(list, gone []any) []any {
	out := make([]any, 0, len(list))
	for _, el := range list {
		drop := false
		for _, g := range gone {
			if strings.EqualFold(valueOf(el), valueOf(g)) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, el)
		}
	}
	return out
}

// valueOf is a multi-valued attribute's element's value: the element or its "value".
func valueOf(el any) string {
	switch t := el.(type) {
	case string:
		return t
	case map[string]any:
		return getString(t, attrValue)
	}
	return ""
}

// applyFiltered applies op to the elements of a multi-valued attribute that match expr
// (emails[type eq "work"].value). Add or replace on no element adds one made from the filter's eq
// terms, as IdPs expect of a resource that has no work email yet.
func (p Patcher) applyFiltered(res map[string]any, op, attr string, expr filter.Expression, sub string, v any) *Error {
	list, _ := getList(res, attr)
	var kept []any
	matched := 0
	for _, el := range list {
		o, ok := el.(map[string]any)
		m := false
		if ok {
			var err *Error
			if m, err = match(expr, o); err != nil {
				return err
			}
		}
		if !m {
			kept = append(kept, el)
			continue
		}
		matched++
		switch {
		case op == OpRemove && sub == "":
			continue
		case sub != "":
			setSub(o, op, sub, v)
		case op == OpReplace:
			if nv, ok := v.(map[string]any); ok {
				o = nv
			}
		default:
			if nv, ok := v.(map[string]any); ok {
				for k, e := range nv {
					set(o, k, e)
				}
			}
		}
		kept = append(kept, o)
	}
	if matched == 0 && op != OpRemove {
		el := eqTerms(expr)
		if sub != "" {
			set(el, sub, v)
		} else if nv, ok := v.(map[string]any); ok {
			for k, e := range nv {
				set(el, k, e)
			}
		}
		kept = append(kept, el)
	}
	if kept == nil {
		kept = []any{}
	}
	set(res, attr, kept)
	return nil
}

// eqTerms are the `attr eq value` terms of an and-filter, as an element that matches it.
func eqTerms(expr filter.Expression) map[string]any {
	out := map[string]any{}
	switch e := expr.(type) {
	case *filter.AttributeExpression:
		if e.Operator == filter.EQ {
			out[e.AttributePath.AttributeName] = e.CompareValue
		}
	case *filter.LogicalExpression:
		if strings.EqualFold(string(e.Operator), string(filter.AND)) {
			for k, v := range eqTerms(e.Left) {
				out[k] = v
			}
			for k, v := range eqTerms(e.Right) {
				out[k] = v
			}
		}
	}
	return out
}
