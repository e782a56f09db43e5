package policy

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"golang.org/x/sync/errgroup"
)

// Engine evaluates compiled policy. It is safe for concurrent use: any
// number of Evaluate calls run alongside one Update at a time.
type Engine struct {
	// caps are cluster policy's built-ins, nsCaps a namespace's own
	// policy's: never the network ones.
	caps, nsCaps *ast.Capabilities
	strict       bool
	// mu serialises Update; Evaluate never takes it.
	mu  sync.Mutex
	rev atomic.Pointer[revision]
	// checked holds what Check compiled, for the next Update (check.go).
	checked checkCache
}

// revision is one complete, compiled state of all policy. It is never
// changed once stored: Update builds a new one.
type revision struct {
	cluster    *unit
	namespaces map[string]*unit
	// failed are the namespaces whose latest bundle did not compile, with
	// its digest (so the same broken bundle is not compiled again) and
	// error. A failed namespace with an entry in namespaces keeps that
	// older policy; one without fails every evaluation.
	failed map[string]failure
}

// readsOld says whether a set evaluated for namespace with the bound sets
// may read input.request.oldObject. An unknown set or a namespace whose
// policy failed counts as reading it: the evaluation fails anyway, and the
// input it fails with is whole.
func (r *revision) readsOld(namespace string, sets []string) bool {
	for _, name := range sets {
		if s, ok := r.cluster.sets[name]; !ok || s.readsOld {
			return true
		}
	}
	if namespace == "" {
		return false
	}
	if u, ok := r.namespaces[namespace]; ok {
		for _, s := range u.sets {
			if s.readsOld {
				return true
			}
		}
		return false
	}
	_, failed := r.failed[namespace]
	return failed
}

type failure struct {
	digest string
	err    error
}

// capsFor is the capabilities of namespace's own policy, or of cluster
// policy for "".
func (e *Engine) capsFor(namespace string) *ast.Capabilities {
	if namespace == "" {
		return e.caps
	}
	return e.nsCaps
}

// New compiles cluster policy and each namespace's own policy (namespaces
// maps a namespace to its Bundle; either may be nil or empty) into an
// Engine. It fails on any compile error, including a namespace's, which
// suits a command or a test. A server whose namespace policy comes from
// ConfigMaps should start with New(cluster, nil) and then call Update, so
// one broken namespace does not keep the others from being served.
func New(cluster *Bundle, namespaces map[string]*Bundle, opts ...Option) (*Engine, error) {
	o := newOptions(opts)
	e := &Engine{caps: capabilities(o.network, o.hosts), nsCaps: capabilities(false, nil), strict: o.strict}
	if err := e.Update(cluster, namespaces); err != nil {
		return nil, err
	}
	return e, nil
}

// Update compiles a new revision of all policy and swaps it in at once;
// evaluations already running finish on the revision they started with.
// Bundles whose digest did not change are not compiled again.
//
// When cluster policy fails to compile, nothing changes and the
// *CompileError (file:line) is returned. When only namespace bundles fail,
// everything else is swapped in, each failed namespace keeps its previous
// policy (a namespace that had none fails its evaluations until it
// compiles), and a NamespaceErrors holding a *CompileError per namespace is
// returned. A namespace missing from namespaces has no own policy.
func (e *Engine) Update(cluster *Bundle, namespaces map[string]*Bundle) error {
	return e.update(cluster, namespaces, false)
}

// UpdateChanged is Update for a source that knows what changed: cluster
// policy becomes cluster, each namespace in changed gets its bundle (a nil
// bundle: it has no own policy any more), and every other namespace keeps
// what it has without its bundle being read again. With a thousand
// namespaces of which one changed, Update digests a thousand bundles to
// find the one; UpdateChanged digests one. Errors are as for Update.
func (e *Engine) UpdateChanged(cluster *Bundle, changed map[string]*Bundle) error {
	return e.update(cluster, changed, true)
}

// update is Update, or UpdateChanged when keep is true.
func (e *Engine) update(cluster *Bundle, namespaces map[string]*Bundle, keep bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx := context.Background()
	old := e.rev.Load()
	if old == nil {
		old = &revision{}
	}

	checked := e.checked.take()
	next := &revision{namespaces: map[string]*unit{}, failed: map[string]failure{}}
	if keep {
		next.namespaces = maps.Clone(old.namespaces)
		next.failed = maps.Clone(old.failed)
		if next.namespaces == nil {
			next.namespaces = map[string]*unit{}
		}
		if next.failed == nil {
			next.failed = map[string]failure{}
		}
	}
	d := cluster.Digest()
	if old.cluster != nil && old.cluster.digest == d {
		next.cluster = old.cluster
	} else if u := checked[checkKey{"", d}]; u != nil {
		next.cluster = u
	} else {
		u, err := compileUnit(ctx, cluster, d, "", e.caps, e.strict)
		if err != nil {
			return err
		}
		next.cluster = u
	}

	type job struct {
		ns     string
		b      *Bundle
		digest string
	}
	var jobs []job
	for ns, b := range namespaces {
		if ns == "" {
			return fmt.Errorf("updating policy: a namespace bundle has no namespace name")
		}
		delete(next.namespaces, ns) // kept ones are put back below
		delete(next.failed, ns)
		if b == nil && keep {
			continue
		}
		d := b.Digest()
		if u := old.namespaces[ns]; u != nil && u.digest == d {
			next.namespaces[ns] = u
			continue
		}
		if f, ok := old.failed[ns]; ok && f.digest == d {
			next.failed[ns] = f
			if u := old.namespaces[ns]; u != nil {
				next.namespaces[ns] = u
			}
			continue
		}
		if u := checked[checkKey{ns, d}]; u != nil {
			next.namespaces[ns] = u
			continue
		}
		jobs = append(jobs, job{ns, b, d})
	}

	// Namespaces compile independently, in parallel: each has its own
	// compiler and store; only the capabilities, read-only, are shared.
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, j := range jobs {
		g.Go(func() error {
			u, err := compileUnit(ctx, j.b, j.digest, j.ns, e.capsFor(j.ns), e.strict)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				next.failed[j.ns] = failure{digest: j.digest, err: err}
				if prev := old.namespaces[j.ns]; prev != nil {
					next.namespaces[j.ns] = prev
				}
				return nil
			}
			next.namespaces[j.ns] = u
			return nil
		})
	}
	_ = g.Wait() // the jobs report through next.failed

	e.rev.Store(next)
	if len(next.failed) == 0 {
		return nil
	}
	errs := NamespaceErrors{}
	for ns, f := range next.failed {
		errs[ns] = f.err
	}
	return errs
}

// Revision is the digest (12 hex digits) of the cluster policy in force.
func (e *Engine) Revision() string {
	return e.rev.Load().cluster.revision()
}

// Sets lists the names a binding may use for the cluster's policy sets,
// sorted, so configuration can be checked against them.
func (e *Engine) Sets() []string {
	return slices.Sorted(maps.Keys(e.rev.Load().cluster.sets))
}

func (u *unit) revision() string { return u.digest[:12] }

// Applies tells whether Evaluate has anything to run for a namespace bound
// to sets: a set, or the namespace's own policy (compiled or failed). The
// caller skips building the input when it has not.
func (e *Engine) Applies(namespace string, sets []string) bool {
	if len(sets) > 0 {
		return true
	}
	rev := e.rev.Load()
	_, ok := rev.namespaces[namespace]
	_, failed := rev.failed[namespace]
	return ok || failed
}

// Evaluate runs the policy sets bound to a namespace, then the namespace's
// own policy if it has one, over input: an *Input, an ast.Value (for a
// value already built with Input.Value), raw JSON, or any value
// encoding/json can marshal.
//
// Any error — an unknown set, a namespace whose policy never compiled, an
// evaluation error, a deny or warn of the wrong shape, ctx's deadline —
// returns an error and no Result: the caller fails closed in enforce mode.
// Each OPA evaluation is cancelled when ctx is done.
//
// Namespace policy only tightens. Result is the concatenation of what each
// set raised: nothing is removed from Deny, Warn or RequireApproval after it
// is appended, and the engine reads no other rule ("allow", "exempt", …), so
// the only effect any policy can have is to add entries. The namespace's
// query runs against its own compiler and store, in which the cluster's
// packages do not exist, so it cannot change what a cluster set evaluates
// to; and the cluster's queries were prepared from the cluster compiler
// alone, so no namespace module is among the rules they evaluate. The
// built-in floor (signed, tested, not latest, trusted) is decided by the
// caller before policy and is not an input policy can change.
func (e *Engine) Evaluate(ctx context.Context, namespace string, sets []string, input any) (res Result, err error) {
	onWarmStack(func() { res, err = e.evaluate(ctx, namespace, sets, input, nil) })
	return res, err
}

// evaluate is Evaluate; trace, when not nil, gives the tracer each set's
// query runs with (see Explain).
func (e *Engine) evaluate(ctx context.Context, namespace string, sets []string, input any, trace func(set string) topdown.QueryTracer) (Result, error) {
	rev := e.rev.Load() // one revision for the whole evaluation
	val, err := inputValue(input, !rev.readsOld(namespace, sets))
	if err != nil {
		return Result{}, err
	}
	// One cancellation for every query of this evaluation, fired when ctx
	// is done. Without it OPA starts a goroutine per query to watch ctx.
	cancel := topdown.NewCancel()
	defer context.AfterFunc(ctx, cancel.Cancel)()
	var res Result
	res.Revision = rev.cluster.revision()
	done := make([]*set, 0, len(sets))
	for _, name := range sets {
		s, ok := rev.cluster.sets[name]
		if !ok {
			return Result{}, fmt.Errorf("evaluating policy set %q: %w", name, ErrUnknownSet)
		}
		if slices.Contains(done, s) { // "production" and "shipgate.production"
			continue
		}
		done = append(done, s)
		if err := s.eval(ctx, name, val, cancel, &res, tracerFor(trace, name)); err != nil {
			return Result{}, err
		}
	}
	if namespace == "" {
		return res, nil
	}
	if u, ok := rev.namespaces[namespace]; ok {
		for _, s := range u.sets { // exactly one: the namespace's package
			bound := "shipgate.namespaces." + namespace
			if err := s.eval(ctx, bound, val, cancel, &res, tracerFor(trace, bound)); err != nil {
				return Result{}, err
			}
		}
		res.Revision += "+" + u.revision()
		return res, nil
	}
	if f, ok := rev.failed[namespace]; ok {
		return Result{}, fmt.Errorf("evaluating policy of namespace %s: it has not compiled: %w", namespace, f.err)
	}
	return res, nil
}

// eval runs the set's query, stopped by cancel, and appends what it raised
// to res, each entry naming the set as bound. tr, when not nil, receives
// OPA's trace.
func (s *set) eval(ctx context.Context, bound string, input ast.Value, cancel topdown.Cancel, res *Result, tr topdown.QueryTracer) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("evaluating policy set %s: %w", s.name, err)
	}
	var rs rego.ResultSet
	var err error
	if tr == nil {
		rs, err = s.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalExternalCancel(cancel))
	} else {
		rs, err = s.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalExternalCancel(cancel), rego.EvalQueryTracer(tr))
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil { // OPA's cancel error does not wrap it
			return fmt.Errorf("evaluating policy set %s: %w (%v)", s.name, ctxErr, err)
		}
		return fmt.Errorf("evaluating policy set %s: %w", s.name, err)
	}
	if len(rs) != 1 {
		return fmt.Errorf("evaluating policy set %s: %d results, want 1", s.name, len(rs))
	}
	b := rs[0].Bindings
	deny, err := s.output(b, bindDeny)
	if err != nil {
		return err
	}
	if deny != nil {
		m, err := messages(bound, bindDeny, deny)
		if err != nil {
			return err
		}
		res.Deny = append(res.Deny, m...)
	}
	warn, err := s.output(b, bindWarn)
	if err != nil {
		return err
	}
	if warn != nil {
		m, err := messages(bound, bindWarn, warn)
		if err != nil {
			return err
		}
		res.Warn = append(res.Warn, m...)
	}
	appr, err := s.output(b, bindApproval)
	if err != nil {
		return err
	}
	if appr != nil {
		a, err := approvals(bound, appr)
		if err != nil {
			return err
		}
		res.RequireApproval = append(res.RequireApproval, a...)
	}
	return nil
}

// output returns the value of one rule from the query's bindings, nil when
// the package does not define it.
func (s *set) output(b rego.Vars, key string) (ast.Value, error) {
	t, ok := b[key].(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("evaluating policy set %s: no %s in the result", s.name, key)
	}
	arr, ok := t.Value.(*ast.Array)
	if !ok || arr.Len() > 1 {
		return nil, fmt.Errorf("evaluating policy set %s: %s is %v", s.name, key, t)
	}
	if arr.Len() == 0 {
		return nil, nil
	}
	return arr.Elem(0).Value, nil
}
