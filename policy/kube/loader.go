package kube

import (
	"errors"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/shipgate/shipgate/policy"
)

// directoryKey is the key of the policy directory among the parts.
const directoryKey = ""

// part is one place policy comes from: a ConfigMap, or the policy
// directory. Each keeps the version that was last in force, so a broken
// edit leaves the previous version working.
type part struct {
	// key is "namespace/name" for a ConfigMap, directoryKey for the
	// directory.
	key string
	// target is the policy the part belongs to: "" for cluster policy, a
	// namespace for that namespace's own policy.
	target string
	// prefix starts the names of the part's modules; "" for the directory.
	prefix string
	// digest identifies the latest version, readable or not.
	digest string
	// current is the latest version; nil when it could not be read, and
	// readErr says why.
	current *content
	readErr error
	// good is the version in force, nil when none is.
	good   *content
	status Status
}

func (p *part) changed() bool {
	return p.current == nil || p.good == nil || p.current.digest != p.good.digest
}

// loader composes the parts into one bundle of cluster policy and one per
// namespace, and hands them to the Engine. A part that does not compile
// with the rest is left out, or kept at the version that last did; every
// other part keeps working. It is not safe for concurrent use: Source
// serialises its calls.
type loader struct {
	engine    *policy.Engine
	clusterNS string
	log       *slog.Logger

	parts map[string]*part
	// byTarget indexes parts by target.
	byTarget map[string]map[string]*part
	// dirty are the targets whose parts changed since the last reload.
	dirty map[string]bool
	// applied is the bundle in force per target ("" cluster policy).
	applied map[string]*policy.Bundle
	// dirErr is why the directory's latest reading is not in force.
	dirErr error
}

// newLoader starts from the directory's bundle, which engine already has
// in force as its cluster policy (nil: none).
func newLoader(engine *policy.Engine, clusterNS string, dir *policy.Bundle, log *slog.Logger) *loader {
	c := directoryContent(dir)
	l := &loader{
		engine: engine, clusterNS: clusterNS, log: log,
		parts:    map[string]*part{},
		byTarget: map[string]map[string]*part{},
		dirty:    map[string]bool{},
		applied:  map[string]*policy.Bundle{},
	}
	d := &part{key: directoryKey, digest: c.digest, current: c, good: c, status: Status{Loaded: true, Cluster: true}}
	l.add(d)
	l.applied[""] = l.build([]*part{d}, map[*part]*content{d: c}).b
	return l
}

// add indexes a new part.
func (l *loader) add(p *part) {
	l.parts[p.key] = p
	if l.byTarget[p.target] == nil {
		l.byTarget[p.target] = map[string]*part{}
	}
	l.byTarget[p.target][p.key] = p
}

// targetOf is the policy a ConfigMap in namespace belongs to.
func (l *loader) targetOf(namespace string) string {
	if namespace == l.clusterNS {
		return ""
	}
	return namespace
}

// setConfigMap takes the latest version of a policy ConfigMap; it reports
// whether its policy changed (a new status alone is no change).
func (l *loader) setConfigMap(cm *corev1.ConfigMap) bool {
	key := cm.Namespace + "/" + cm.Name
	d := digestOf(cm)
	p := l.parts[key]
	if p != nil && p.digest == d {
		return false
	}
	if p == nil {
		p = &part{key: key, target: l.targetOf(cm.Namespace), prefix: modulePrefix(cm.Namespace, cm.Name)}
		l.add(p)
	}
	p.digest = d
	p.current, p.readErr = readConfigMap(cm)
	l.dirty[p.target] = true
	return true
}

// deleteConfigMap forgets a ConfigMap that was deleted or lost its label.
func (l *loader) deleteConfigMap(key string) bool {
	p := l.parts[key]
	if p == nil || p.key == directoryKey {
		return false
	}
	delete(l.parts, key)
	delete(l.byTarget[p.target], key)
	if len(l.byTarget[p.target]) == 0 {
		delete(l.byTarget, p.target)
	}
	l.dirty[p.target] = true
	return true
}

// setDirectory takes a new reading of the policy directory.
func (l *loader) setDirectory(b *policy.Bundle) bool {
	p := l.parts[directoryKey]
	c := directoryContent(b)
	if c.digest == p.digest {
		return false
	}
	p.digest, p.current, p.readErr = c.digest, c, nil
	l.dirty[""] = true
	return true
}

// status returns a ConfigMap's status and the digest of the version it
// describes.
func (l *loader) status(key string) (Status, string, bool) {
	p := l.parts[key]
	if p == nil || p.key == directoryKey || (p.status.Revision == "" && p.status.Errors == nil) {
		return Status{}, "", false
	}
	return p.status, p.digest, true
}

// reload composes every target whose parts changed, checks each with the
// Engine, and puts them all in force with one Update. It returns the keys
// of the ConfigMaps whose status may have changed, and the directory's
// error when its latest reading was refused. An error of Update itself
// (nothing was swapped in) is logged and the targets stay dirty.
func (l *loader) reload() (keys []string, dirErr error) {
	if len(l.dirty) == 0 {
		return nil, nil
	}
	targets := slices.Sorted(maps.Keys(l.dirty))
	results := make([]*resolution, len(targets))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = l.resolve(t)
		}()
	}
	wg.Wait()

	// Only the targets that changed go to the Engine: the others keep
	// their compiled policy without their bundles being read again.
	cluster := l.applied[""]
	changed := make(map[string]*policy.Bundle, len(results))
	for _, r := range results {
		switch {
		case r.err != nil:
			l.log.Error("policy of ConfigMaps left as it was", "target", targetName(r.target), "error", r.err.Error())
		case r.target == "":
			cluster = r.bundle
		case len(r.bundle.Modules) == 0 && len(r.bundle.Data) == 0:
			changed[r.target] = nil
		default:
			changed[r.target] = r.bundle
		}
	}
	if err := l.engine.UpdateChanged(cluster, changed); err != nil {
		l.log.Error("policy update failed; nothing changed", "error", err.Error())
		return nil, nil
	}
	l.dirty = map[string]bool{}
	l.applied[""] = cluster
	for t, b := range changed {
		if b == nil {
			delete(l.applied, t)
		} else {
			l.applied[t] = b
		}
	}
	clusterRev := l.engine.Revision()
	for _, r := range results {
		if r.err != nil {
			l.dirty[r.target] = true // tried again with the next change
			continue
		}
		rev := clusterRev
		if r.target != "" {
			rev = r.bundle.Digest()[:12]
		} else {
			l.dirErr = nil
		}
		for _, p := range l.targetParts(r.target) {
			if c := r.cand[p]; c != nil {
				p.good = c
			}
			old := p.status
			if msgs, ok := r.blamed[p]; ok {
				p.status = Status{Cluster: r.target == "", Errors: msgs, InForce: r.cand[p] != nil}
			} else {
				p.status = Status{Loaded: true, Cluster: r.target == "", Revision: rev}
			}
			if p.key == directoryKey {
				if msgs, ok := r.blamed[p]; ok && p.current != nil && r.cand[p] != p.current {
					dirErr = errors.New("compiling policy: " + strings.Join(msgs, "; "))
					l.dirErr = dirErr
				}
				continue
			}
			keys = append(keys, p.key)
			if s := p.status.String(); s != old.String() {
				if p.status.Loaded {
					l.log.Info("policy ConfigMap loaded", "configmap", p.key, "status", s)
				} else {
					l.log.Warn("policy ConfigMap refused", "configmap", p.key, "status", s)
				}
			}
		}
	}
	return keys, dirErr
}

// targetName is how logs name a target.
func targetName(t string) string {
	if t == "" {
		return "cluster"
	}
	return "namespace " + t
}

// targetParts are the parts of a target in the order they are composed:
// the directory, then the parts whose latest version is the one in force,
// then the changed ones, each group by key. When two parts clash (the same
// data key, a rule defined twice), the later is blamed: the change, not
// the policy that was working.
func (l *loader) targetParts(target string) []*part {
	ps := make([]*part, 0, len(l.byTarget[target]))
	for _, p := range l.byTarget[target] {
		ps = append(ps, p)
	}
	rank := func(p *part) int {
		switch {
		case p.key == directoryKey:
			return 0
		case !p.changed():
			return 1
		}
		return 2
	}
	slices.SortFunc(ps, func(a, b *part) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a.key, b.key)
	})
	return ps
}
