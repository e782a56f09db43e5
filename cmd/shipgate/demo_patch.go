package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// applyPatch applies a /mutate patch to an object as the API server does
// before it calls the validating webhooks. The demo needs only "replace"
// (shipgate pins images by replacing them); anything else is an error.
func applyPatch(obj []byte, ops []patchOp) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(obj, &doc); err != nil {
		return nil, err
	}
	for _, op := range ops {
		if op.Op != "replace" {
			return nil, fmt.Errorf("applying the /mutate patch: op %q at %s: the demo applies only replace", op.Op, op.Path)
		}
		if err := replaceAt(doc, op.Path, op.Value); err != nil {
			return nil, fmt.Errorf("applying the /mutate patch: %w", err)
		}
	}
	return json.Marshal(doc)
}

// replaceAt sets the value an RFC 6901 JSON pointer names, which must
// exist.
func replaceAt(doc any, pointer string, value any) error {
	segs := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	for i, s := range segs {
		segs[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	cur := doc
	for i, s := range segs {
		last := i == len(segs)-1
		switch c := cur.(type) {
		case map[string]any:
			if _, ok := c[s]; !ok {
				return fmt.Errorf("%s: no %q", pointer, s)
			}
			if last {
				c[s] = value
				return nil
			}
			cur = c[s]
		case []any:
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n >= len(c) {
				return fmt.Errorf("%s: no element %q", pointer, s)
			}
			if last {
				c[n] = value
				return nil
			}
			cur = c[n]
		default:
			return fmt.Errorf("%s: %q is inside a scalar", pointer, s)
		}
	}
	return fmt.Errorf("%s: empty pointer", pointer)
}
