package scim

import (
	"fmt"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// caseExact are the attributes compared case-sensitively (RFC 7643: id and externalId are
// caseExact; userName, emails, displayName and the rest are not).
var caseExact = map[string]bool{attrID: true, "externalid": true}

// Filter is a parsed SCIM filter (RFC 7644 section 3.4.2.2).
type Filter struct{ expr filter.Expression }

// ParseFilter parses a filter query parameter; an empty one matches everything.
func ParseFilter(s string) (Filter, *Error) {
	if strings.TrimSpace(s) == "" {
		return Filter{}, nil
	}
	expr, err := filter.ParseFilter([]byte(s))
	if err != nil {
		return Filter{}, badRequest(TypeInvalidFilter, "filter %q: %v", s, err)
	}
	f := Filter{expr: expr}
	// Evaluate once on an empty resource, so that an unsupported operator is refused even when
	// there is nothing to filter.
	if _, e := f.Match(map[string]any{}); e != nil {
		return Filter{}, e
	}
	return f, nil
}

// Match reports whether res matches the filter.
func (f Filter) Match(res map[string]any) (bool, *Error) {
	if f.expr == nil {
		return true, nil
	}
	return match(f.expr, res)
}

func match(expr filter.Expression, res map[string]any) (bool, *Error) {
	switch e := expr.(type) {
	case *filter.LogicalExpression:
		l, err := match(e.Left, res)
		if err != nil {
			return false, err
		}
		r, err := match(e.Right, res)
		if err != nil {
			return false, err
		}
		if strings.EqualFold(string(e.Operator), string(filter.AND)) {
			return l && r, nil
		}
		return l || r, nil
	case *filter.NotExpression:
		m, err := match(e.Expression, res)
		return !m, err
	case *filter.AttributeExpression:
		return matchAttribute(e, res)
	case *filter.ValuePath:
		// emails[type eq "work" and value eq "x"]: one element of the attribute matches it all.
		list, _ := getList(res, e.AttributePath.AttributeName)
		for _, el := range list {
			o, ok := el.(map[string]any)
			if !ok {
				continue
			}
			m, err := match(e.ValueFilter, o)
			if err != nil {
				return false, err
			}
			if m {
				return true, nil
			}
		}
		if len(list) == 0 {
			_, err := match(e.ValueFilter, map[string]any{}) // still refuse unsupported operators
			return false, err
		}
		return false, nil
	default:
		return false, badRequest(TypeInvalidFilter, "unsupported filter expression %v", expr)
	}
}

// matchAttribute compares one attribute; a multi-valued one matches when any value does, and a
// complex one is compared by its "value" sub-attribute (emails eq "x" means emails.value eq "x").
func matchAttribute(e *filter.AttributeExpression, res map[string]any) (bool, *Error) {
	name := e.AttributePath.AttributeName
	sub := e.AttributePath.SubAttributeName()
	values := attributeValues(res, name, sub)
	exact := caseExact[strings.ToLower(name)]
	if e.Operator == filter.PR {
		for _, v := range values {
			if v != nil && v != "" {
				return true, nil
			}
		}
		return false, nil
	}
	for _, v := range values {
		m, err := compare(e.Operator, v, e.CompareValue, exact)
		if err != nil {
			return false, err
		}
		if m {
			return true, nil
		}
	}
	if len(values) == 0 {
		// An absent attribute matches ne only (RFC 7644: "not equal" of an unassigned attribute).
		_, err := compare(e.Operator, nil, e.CompareValue, exact)
		return e.Operator == filter.NE, err
	}
	return false, nil
}

// attributeValues are the values of name (or of name.sub) in res, flattened over multi-valued
// attributes.
func attributeValues(res map[string]any, name, sub string) []any {
	v, ok := get(res, name)
	if !ok || v == nil {
		return nil
	}
	var out []any
	for _, el := range asList(v) {
		o, isObject := el.(map[string]any)
		switch {
		case sub != "" && isObject:
			if sv, ok := get(o, sub); ok {
				out = append(out, sv)
			}
		case sub != "":
		case isObject:
			if sv, ok := get(o, attrValue); ok {
				out = append(out, sv)
			}
		default:
			out = append(out, el)
		}
	}
	return out
}

func compare(op filter.CompareOperator, have, want any, exact bool) (bool, *Error) {
	switch op {
	case filter.EQ, filter.NE:
		eq := equal(have, want, exact)
		if op == filter.NE {
			return !eq, nil
		}
		return eq, nil
	case filter.CO, filter.SW, filter.EW:
		h, ok1 := have.(string)
		w, ok2 := want.(string)
		if !ok2 {
			return false, badRequest(TypeInvalidFilter, "%s compares strings, got %v", op, want)
		}
		if !ok1 {
			return false, nil
		}
		if !exact {
			h, w = strings.ToLower(h), strings.ToLower(w)
		}
		switch op {
		case filter.CO:
			return strings.Contains(h, w), nil
		case filter.SW:
			return strings.HasPrefix(h, w), nil
		default:
			return strings.HasSuffix(h, w), nil
		}
	default:
		return false, badRequest(TypeInvalidFilter, "the %s operator is not supported (eq, ne, co, sw, ew and pr are)", op)
	}
}

func equal(have, want any, exact bool) bool {
	if hs, ok := have.(string); ok {
		if ws, ok := want.(string); ok {
			if exact {
				return hs == ws
			}
			return strings.EqualFold(hs, ws)
		}
		if wb, ok := want.(bool); ok { // Entra ID may compare a boolean with a string
			b, err := parseBool("", hs)
			return err == nil && b == wb
		}
		return false
	}
	return fmt.Sprint(have) == fmt.Sprint(want)
}
