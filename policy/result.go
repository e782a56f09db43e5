package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Result is what the policies bound to a namespace decided about one input.
// Deny, Warn and RequireApproval are in the order the sets were bound, the
// namespace's own policy last; within a set in OPA's sorted set order.
type Result struct {
	Deny            []Message
	Warn            []Message
	RequireApproval []ApprovalRequirement
	// Revision names the compiled policy that decided: the cluster bundle's
	// digest (12 hex digits), and "+" and the namespace bundle's when the
	// namespace has its own policy. Audit records carry it.
	Revision string
}

// Message is one deny or warn reason.
type Message struct {
	// Set is the policy set that raised it, as the binding named it
	// ("production", "kubernetes.admission"), or
	// "shipgate.namespaces.<namespace>" for the namespace's own policy.
	Set  string
	Msg  string
	Code string
}

// ApprovalRequirement is one require_approval: Approvers distinct people,
// never the deployer, each a member of one of Groups (any group when
// empty), must approve this rollout.
type ApprovalRequirement struct {
	// Set is as in Message.
	Set       string
	Approvers int
	Groups    []string
	Reason    string
}

// Output keys.
var (
	msgKey       = ast.StringTerm("msg")
	codeKey      = ast.StringTerm("code")
	approversKey = ast.StringTerm("approvers")
	groupsKey    = ast.StringTerm("groups")
	reasonKey    = ast.StringTerm("reason")
)

// elems returns the members of a set or array; any other value is one
// element.
func elems(v ast.Value) []*ast.Term {
	switch v := v.(type) {
	case ast.Set:
		return v.Slice()
	case *ast.Array:
		out := make([]*ast.Term, 0, v.Len())
		v.Foreach(func(t *ast.Term) { out = append(out, t) })
		return out
	}
	return []*ast.Term{ast.NewTerm(v)}
}

// messages decodes deny or warn.
func messages(set, rule string, v ast.Value) ([]Message, error) {
	if b, ok := v.(ast.Boolean); ok {
		if b {
			return []Message{{Set: set, Msg: rule + " of policy " + set}}, nil
		}
		return nil, nil
	}
	var out []Message
	for _, t := range elems(v) {
		switch x := t.Value.(type) {
		case ast.String:
			out = append(out, Message{Set: set, Msg: string(x)})
		case ast.Object:
			msg, ok := stringAt(x, msgKey)
			if !ok {
				return nil, fmt.Errorf("%w: %s of %s has an object without a string msg: %v", ErrOutput, rule, set, x)
			}
			m := Message{Set: set, Msg: msg}
			if c := x.Get(codeKey); c != nil {
				switch c := c.Value.(type) {
				case ast.String:
					m.Code = string(c)
				case ast.Number:
					m.Code = c.String()
				default:
					return nil, fmt.Errorf("%w: %s of %s has a code that is not a string: %v", ErrOutput, rule, set, c)
				}
			}
			out = append(out, m)
		default:
			return nil, fmt.Errorf("%w: %s of %s must hold strings or {msg, code} objects, not %s", ErrOutput, rule, set, ast.ValueName(x))
		}
	}
	return out, nil
}

// approvals decodes require_approval.
func approvals(set string, v ast.Value) ([]ApprovalRequirement, error) {
	var out []ApprovalRequirement
	for _, t := range elems(v) {
		obj, ok := t.Value.(ast.Object)
		if !ok {
			return nil, fmt.Errorf("%w: require_approval of %s must be an object or a set of objects, not %s", ErrOutput, set, ast.ValueName(t.Value))
		}
		r := ApprovalRequirement{Set: set}
		n, ok := intAt(obj, approversKey)
		if !ok || n < 1 {
			return nil, fmt.Errorf("%w: require_approval of %s needs approvers, an integer of at least 1: %v", ErrOutput, set, obj)
		}
		r.Approvers = n
		if g := obj.Get(groupsKey); g != nil {
			for _, e := range elems(g.Value) {
				s, ok := e.Value.(ast.String)
				if !ok {
					return nil, fmt.Errorf("%w: require_approval of %s has groups that are not strings: %v", ErrOutput, set, g)
				}
				r.Groups = append(r.Groups, string(s))
			}
		}
		r.Reason, _ = stringAt(obj, reasonKey)
		out = append(out, r)
	}
	return out, nil
}

func stringAt(obj ast.Object, k *ast.Term) (string, bool) {
	if t := obj.Get(k); t != nil {
		if s, ok := t.Value.(ast.String); ok {
			return string(s), true
		}
	}
	return "", false
}

func intAt(obj ast.Object, k *ast.Term) (int, bool) {
	if t := obj.Get(k); t != nil {
		if n, ok := t.Value.(ast.Number); ok {
			return n.Int()
		}
	}
	return 0, false
}
