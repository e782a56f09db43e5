package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/util"
)

// RegoVersion is the Rego dialect a module is parsed as.
type RegoVersion int

// The Rego versions of a Module.
const (
	// RegoAuto reads the version marker of the module; without one the
	// module is v1, or v0 when it parses only as v0.
	RegoAuto RegoVersion = iota
	// RegoV1 is the dialect of OPA 1.x: "if" and "contains" in rule heads.
	RegoV1
	// RegoV0 is the dialect of OPA 0.x, for existing policies.
	RegoV0
)

// String returns "auto", "v1" or "v0".
func (v RegoVersion) String() string {
	switch v {
	case RegoAuto:
		return "auto"
	case RegoV1:
		return "v1"
	case RegoV0:
		return "v0"
	}
	return fmt.Sprintf("RegoVersion(%d)", int(v))
}

// Module is the source of one Rego file.
type Module struct {
	Source string
	// Version is RegoAuto unless the source of the module (a ConfigMap
	// annotation, a flag) says otherwise.
	Version RegoVersion
}

// Bundle is a set of Rego modules and the data document they read: cluster
// policy, or the policy of one namespace.
//
// Modules are keyed by name, the file name compile errors report
// ("policies/production.rego"). Modules whose name ends in "_test.rego" are
// compiled only by RunTests, never into an Engine.
//
// Data is the data document as JSON-compatible values (what encoding/json
// or a YAML decoder produces). For cluster policy it is data itself; for a
// namespace it is mounted at data.shipgate.namespaces.<namespace>.
type Bundle struct {
	Modules map[string]Module
	Data    map[string]any
}

// NewBundle returns an empty Bundle.
func NewBundle() *Bundle {
	return &Bundle{Modules: map[string]Module{}, Data: map[string]any{}}
}

// AddModule adds or replaces one module.
func (b *Bundle) AddModule(name, source string, v RegoVersion) {
	if b.Modules == nil {
		b.Modules = map[string]Module{}
	}
	b.Modules[name] = Module{Source: source, Version: v}
}

// AddDataFile merges one JSON or YAML document into Data at dir, a
// slash-separated path below the data root ("" or "." for the root,
// "k8s/registries" for data.k8s.registries), as OPA does for data.json
// files in bundle directories. name is reported in errors. Merging a key
// that is already set to a different value is an error.
func (b *Bundle) AddDataFile(name, dir string, content []byte) error {
	var doc any
	if err := util.Unmarshal(content, &doc); err != nil {
		return fmt.Errorf("reading data file %s: %w", name, err)
	}
	if doc == nil {
		return nil // an empty YAML file
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("reading data file %s: the document must be an object, not %T", name, doc)
	}
	for _, seg := range slices.Backward(splitPath(dir)) {
		obj = map[string]any{seg: obj}
	}
	if b.Data == nil {
		b.Data = map[string]any{}
	}
	if err := mergeData(b.Data, obj, ""); err != nil {
		return fmt.Errorf("reading data file %s: %w", name, err)
	}
	return nil
}

// splitPath splits a slash-separated data path, dropping empty and "."
// segments.
func splitPath(dir string) []string {
	var segs []string
	for _, s := range strings.Split(path.Clean("/"+dir), "/") {
		if s != "" && s != "." {
			segs = append(segs, s)
		}
	}
	return segs
}

// mergeData merges src into dst; objects merge key by key, anything else
// must not be set already.
func mergeData(dst, src map[string]any, at string) error {
	for k, v := range src {
		key := strings.TrimPrefix(at+"."+k, ".")
		old, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		o, ok1 := old.(map[string]any)
		n, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("data.%s is set twice", key)
		}
		if err := mergeData(o, n, key); err != nil {
			return err
		}
	}
	return nil
}

// Digest identifies the content of the bundle: the same modules, versions
// and data give the same digest. The Engine recompiles only bundles whose
// digest changed.
func (b *Bundle) Digest() string {
	h := sha256.New()
	if b != nil {
		for _, name := range slices.Sorted(maps.Keys(b.Modules)) {
			m := b.Modules[name]
			fmt.Fprintf(h, "module %q %d %d\n", name, m.Version, len(m.Source))
			h.Write([]byte(m.Source))
		}
		// encoding/json writes map keys sorted: the encoding is canonical.
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(b.Data); err != nil {
			fmt.Fprintf(&buf, "unencodable data: %v", err)
		}
		fmt.Fprintf(h, "data %d\n", buf.Len())
		h.Write(buf.Bytes())
	}
	return hex.EncodeToString(h.Sum(nil))
}
