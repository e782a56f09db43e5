package kube

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/shipgate/shipgate/policy"
)

// resolution is one target's outcome: the bundle to put in force, and per
// part the version in it (nil: none) and, for a part that was left out or
// kept back, why.
type resolution struct {
	target string
	bundle *policy.Bundle
	cand   map[*part]*content
	blamed map[*part][]string
	err    error
}

// resolve finds the bundle of a target: every part at its latest version
// if that compiles; otherwise the parts to blame are put back to the
// version in force (or left out when that fails too, or there is none),
// and the rest is tried again. See blameFor for who is blamed. The
// directory's version in force is never left out.
func (l *loader) resolve(target string) *resolution {
	parts := l.targetParts(target)
	r := &resolution{target: target, cand: map[*part]*content{}, blamed: map[*part][]string{}}
	for _, p := range parts {
		if p.current == nil { // unreadable: the version in force stays
			r.blamed[p] = []string{p.readErr.Error()}
			if p.good != nil {
				r.cand[p] = p.good
			}
			continue
		}
		r.cand[p] = p.current
	}
	for range 2*len(parts) + 2 {
		bt := l.build(parts, r.cand)
		if bt.culprit != nil {
			r.blame(bt.culprit, []string{bt.err.Error()})
			continue
		}
		err := l.check(target, bt.b)
		if err == nil {
			r.bundle = bt.b
			return r
		}
		found := l.blameFor(r, parts, err)
		if len(found) == 0 {
			r.err = fmt.Errorf("composing policy: nothing left to leave out: %w", err)
			return r
		}
		for p, msgs := range found {
			r.blame(p, msgs)
		}
	}
	r.err = errors.New("composing policy: no version of the parts compiles")
	return r
}

// check is Engine.Check, skipped for the bundle in force: it compiled.
func (l *loader) check(target string, b *policy.Bundle) error {
	if b.Digest() == l.applied[target].Digest() {
		return nil
	}
	return l.engine.Check(target, b)
}

// blameFor decides which parts a compile error of the whole is blamed on.
// The policy in force compiled, so a new error comes from what changed:
// when the errors name a changed part, that part is blamed (not a part in
// force that an error names as the other half of a clash); when they name
// only parts in force, or none, each changed part is tried alone on top of
// the policy in force (isolate). When nothing in the bundle changed (a
// part was deleted that others needed), the parts the errors name are
// blamed, or every ConfigMap when they name none.
func (l *loader) blameFor(r *resolution, parts []*part, err error) map[*part][]string {
	found := attribute(err, parts, r.cand)
	changed := r.changedParts(parts)
	blame := map[*part][]string{}
	for _, p := range changed {
		if msgs, ok := found[p]; ok {
			blame[p] = msgs
		}
	}
	switch {
	case len(blame) > 0:
		return blame
	case len(changed) > 0:
		return l.isolate(r, parts, changed)
	}
	return inForceBlame(found, parts, r.cand, err)
}

// inForceBlame blames the parts the errors name, but never the directory's
// version in force, or, when they name none, every ConfigMap in the
// bundle.
func inForceBlame(found map[*part][]string, parts []*part, cand map[*part]*content, err error) map[*part][]string {
	delete(found, dirPart(parts))
	if len(found) > 0 {
		return found
	}
	for _, p := range parts {
		if cand[p] != nil && p.key != directoryKey {
			found[p] = describe(err, parts, cand)
		}
	}
	return found
}

// isolate finds which of the changed parts fail: it steps them all back,
// then brings each forward again in turn, keeping those that compile. It
// leaves r.cand as it found it; blame then steps back the culprits.
func (l *loader) isolate(r *resolution, parts, changed []*part) map[*part][]string {
	saved := make(map[*part]*content, len(changed))
	for _, p := range changed {
		saved[p] = r.cand[p]
		stepBack(r.cand, p)
	}
	defer func() { maps.Copy(r.cand, saved) }()

	found := map[*part][]string{}
	bt := l.build(parts, r.cand)
	if bt.culprit != nil {
		found[bt.culprit] = []string{bt.err.Error()}
		return found
	}
	if err := l.check(r.target, bt.b); err != nil {
		// What is in force fails without the changes: something it
		// needed was deleted.
		return inForceBlame(attribute(err, parts, r.cand), parts, r.cand, err)
	}
	for _, p := range changed {
		r.cand[p] = saved[p]
		bt := l.build(parts, r.cand)
		if bt.culprit != nil {
			found[bt.culprit] = []string{bt.err.Error()}
			stepBack(r.cand, bt.culprit)
			continue
		}
		if err := l.check(r.target, bt.b); err != nil {
			msgs := attribute(err, parts, r.cand)[p]
			if msgs == nil {
				msgs = describe(err, parts, r.cand)
			}
			found[p] = msgs
			stepBack(r.cand, p)
		}
	}
	return found
}

// changedParts are the parts in the bundle at a version other than the
// one in force.
func (r *resolution) changedParts(parts []*part) []*part {
	var out []*part
	for _, p := range parts {
		if c := r.cand[p]; c != nil && (p.good == nil || c.digest != p.good.digest) {
			out = append(out, p)
		}
	}
	return out
}

// dirPart is the directory among parts, or nil.
func dirPart(parts []*part) *part {
	for _, p := range parts {
		if p.key == directoryKey {
			return p
		}
	}
	return nil
}

// blame records why a part is not in force at its latest version (the
// first reason: the one about the latest version), and steps it back.
func (r *resolution) blame(p *part, msgs []string) {
	if _, ok := r.blamed[p]; !ok {
		r.blamed[p] = msgs
	}
	stepBack(r.cand, p)
}

// stepBack takes a part from its latest version to the one in force, and
// from that to none.
func stepBack(cand map[*part]*content, p *part) {
	if c := cand[p]; c != nil && p.good != nil && c.digest != p.good.digest {
		cand[p] = p.good
		return
	}
	delete(cand, p)
}

// attribute sorts compile errors by the part whose module they are in;
// errors in no part's module are dropped (see blameFor).
func attribute(err error, parts []*part, cand map[*part]*content) map[*part][]string {
	found := map[*part][]string{}
	var ce *policy.CompileError
	if !errors.As(err, &ce) {
		return found
	}
	for _, e := range ce.Errors {
		if p := ownerOf(e.File, parts, cand); p != nil && e.File != "" {
			at := e
			at.File = strings.TrimPrefix(e.File, p.prefix)
			found[p] = append(found[p], at.String())
		}
	}
	return found
}

// describe words a compile error for the status of a part it does not
// name: each error with the ConfigMap (or directory file) it is in, the
// error of the whole when it has no list.
func describe(err error, parts []*part, cand map[*part]*content) []string {
	var ce *policy.CompileError
	if !errors.As(err, &ce) {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range ce.Errors {
		owner := ownerOf(e.File, parts, cand)
		switch {
		case owner == nil || e.File == "":
			out = append(out, e.String())
		case owner.key == directoryKey:
			out = append(out, "does not compile with the policy directory: "+e.String())
		default:
			at := e
			at.File = strings.TrimPrefix(e.File, owner.prefix)
			out = append(out, "does not compile with ConfigMap "+owner.key+": "+at.String())
		}
	}
	return out
}

// ownerOf is the part whose chosen version has the module, or nil.
func ownerOf(file string, parts []*part, cand map[*part]*content) *part {
	for _, p := range parts {
		if c := cand[p]; c != nil {
			if _, ok := c.modules[file]; ok {
				return p
			}
		}
	}
	return nil
}

// built is a composed bundle, or the part whose data or module names
// clash with what came before it.
type built struct {
	b       *policy.Bundle
	culprit *part
	err     error
}

// build composes the chosen version of each part, in order.
func (l *loader) build(parts []*part, cand map[*part]*content) built {
	b := policy.NewBundle()
	for _, p := range parts {
		c := cand[p]
		if c == nil {
			continue
		}
		if c.dir != nil {
			b.Data = cloneData(c.dir).(map[string]any) // the directory comes first
		}
		for name, m := range c.modules {
			if _, dup := b.Modules[name]; dup {
				return built{culprit: p, err: fmt.Errorf("%s: a module of that name is already loaded", strings.TrimPrefix(name, p.prefix))}
			}
			b.Modules[name] = m
		}
		for _, f := range c.data {
			if err := b.AddDataFile(f.key, "", f.raw); err != nil {
				if inner := errors.Unwrap(err); inner != nil {
					err = fmt.Errorf("%s: %w (another ConfigMap of this policy, or the policy directory, sets it too)", f.key, inner)
				}
				return built{culprit: p, err: err}
			}
		}
	}
	return built{b: b}
}
